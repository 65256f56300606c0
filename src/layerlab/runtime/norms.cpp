#include "layerlab/runtime/norms.h"

#include <cmath>

namespace layerlab {

void rms_norm_rows(const float* x, int64_t n_rows, int64_t n, const float* w, float eps, float* y) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xr[i]) * xr[i];
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    // Two roundings (normalise, then weight), like ggml's rms_norm followed by mul.
    for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] * scale) * w[i];
  }
}

void add_bias_rows(float* x, int64_t n_rows, int64_t n, const float* b) {
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t i = 0; i < n; ++i) x[r * n + i] += b[i];
}

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void add_in_place(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void add_scaled_in_place(float* x, const float* y, float scale, int64_t n) {
  if (scale == 1.0f) return add_in_place(x, y, n);
  for (int64_t i = 0; i < n; ++i) x[i] += scale * y[i];
}

}  // namespace layerlab
