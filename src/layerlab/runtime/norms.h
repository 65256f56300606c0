// Row-wise normalisation and element-wise activations, with ggml's CPU numerics.
#pragma once

#include <cstdint>

namespace layerlab {

// y[r] = (x[r] * 1/sqrt(mean(x[r]^2) + eps)) * w for n_rows rows of n values.
// The sum of squares is accumulated in double, as ggml does. y may equal x.
void rms_norm_rows(const float* x, int64_t n_rows, int64_t n, const float* w, float eps, float* y);

// x[r] += b for every row (bias after a matmul).
void add_bias_rows(float* x, int64_t n_rows, int64_t n, const float* b);

// out[i] = silu(gate[i]) * up[i], silu(v) = v / (1 + e^-v). out may equal gate or up.
void swiglu(const float* gate, const float* up, int64_t n, float* out);

// x[i] += y[i]
void add_in_place(float* x, const float* y, int64_t n);
// x += scale * y (scale 1 gives exactly add_in_place's result).
void add_scaled_in_place(float* x, const float* y, float scale, int64_t n);

}  // namespace layerlab
