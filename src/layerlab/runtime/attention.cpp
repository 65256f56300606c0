#include "layerlab/runtime/attention.h"

#include <cmath>
#include <limits>

namespace layerlab {

void attend_head(const HeadAttentionArgs& a) {
  for (int64_t t = 0; t < a.n_new; ++t) {
    const float* q = a.q + t * a.q_stride;
    const int64_t n_visible = a.start + t + 1;  // causal mask: positions 0 .. start+t
    float max_score = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < n_visible; ++j) {
      const float* k = a.k + j * a.k_stride;
      float dot = 0.0f;
      for (int d = 0; d < a.head_dim_k; ++d) dot += q[d] * k[d];
      const float s = dot * a.scale;
      a.scores[j] = s;
      if (s > max_score) max_score = s;
    }
    // Softmax as ggml does it: exponentials in float, their sum in double.
    double sum = 0.0;
    for (int64_t j = 0; j < n_visible; ++j) {
      const float e = std::exp(a.scores[j] - max_score);
      a.scores[j] = e;
      sum += e;
    }
    const float inv_sum = static_cast<float>(1.0 / sum);
    float* out = a.out + t * a.out_stride;
    for (int d = 0; d < a.head_dim_v; ++d) out[d] = 0.0f;
    for (int64_t j = 0; j < n_visible; ++j) {
      const float p = a.scores[j] * inv_sum;
      const float* v = a.v + j * a.v_stride;
      for (int d = 0; d < a.head_dim_v; ++d) out[d] += p * v[d];
    }
  }
}

}  // namespace layerlab
