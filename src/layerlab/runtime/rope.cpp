#include "layerlab/runtime/rope.h"

#include <cmath>

#include "layerlab/io/error.h"

namespace layerlab {

void RopeTable::compute(const RopeParams& params, const int32_t* positions, int64_t n_tokens) {
  if (params.type != RopeType::kNorm && params.type != RopeType::kNeox)
    throw Error("RoPE type is not supported by the dense engine (only NORM and NEOX)");
  params_ = params;
  n_tokens_ = n_tokens;
  const int half = params.n_rot / 2;
  cos_.resize(static_cast<size_t>(n_tokens * half));
  sin_.resize(static_cast<size_t>(n_tokens * half));
  // ggml advances theta by repeated multiplication in float; doing the same keeps the angles
  // bit-identical to llama.cpp's.
  const float theta_scale = std::pow(params.freq_base, -2.0f / static_cast<float>(params.n_rot));
  for (int64_t t = 0; t < n_tokens; ++t) {
    float theta_base = static_cast<float>(positions[t]);
    for (int i = 0; i < half; ++i) {
      const float factor = params.freq_factors ? params.freq_factors[i] : 1.0f;
      const float theta = params.freq_scale * (theta_base / factor);
      cos_[t * half + i] = std::cos(theta);
      sin_[t * half + i] = std::sin(theta);
      theta_base *= theta_scale;
    }
  }
}

void RopeTable::apply(float* x, int64_t n_tokens, int n_heads, int head_dim) const {
  const int half = params_.n_rot / 2;
  // For NORM the pair (x0, x1) is adjacent; for NEOX it is half the rotated width apart.
  const int stride = params_.type == RopeType::kNorm ? 1 : half;
  const int step = params_.type == RopeType::kNorm ? 2 : 1;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* c = &cos_[t * half];
    const float* s = &sin_[t * half];
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        float* p0 = v + i * step;
        float* p1 = p0 + stride;
        const float x0 = *p0, x1 = *p1;
        *p0 = x0 * c[i] - x1 * s[i];
        *p1 = x0 * s[i] + x1 * c[i];
      }
    }
  }
}

}  // namespace layerlab
