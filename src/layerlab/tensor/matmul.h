// Matrix products of a ggml weight matrix with float32 activations.
//
// A weight with ggml shape {n_in, n_out} is n_out rows of n_in values, used in place from
// the file mapping. y = W x for each of n_tokens activation rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "layerlab/io/ggml_type.h"

namespace layerlab {

class ThreadPool;

struct WeightView {
  GgmlType type = GgmlType::F32;
  int64_t n_in = 0;        // ne[0]
  int64_t n_out = 0;       // ne[1]
  const std::byte* data = nullptr;
  size_t row_bytes = 0;    // bytes between consecutive rows
};

enum class ActivationMode {
  // Activations stay float32; weights are dequantized exactly. Reproduces llama.cpp run on an
  // F32 file holding the dequantized weights (the `*-dequant-f32` goldens).
  kExact,
  // Activations are converted as llama.cpp's CPU backend does before each product (F16/BF16
  // rounding, Q8_0 / Q8_1 / Q8_K quantization), so results follow the file's own golden.
  kGgml,
};

// y[t * n_out + r] = sum_i W[r, i] * x[t * n_in + i], for t < n_tokens, r < n_out.
// Rows are split across the pool's threads. x and y must not overlap.
void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, ActivationMode mode,
            ThreadPool& pool);

// One product of matmul_multi: y = W x, y laid out as in matmul (n_tokens rows of w.n_out).
struct MatmulJob {
  WeightView w;
  float* y = nullptr;
};

// Several products of the same input x (e.g. q/k/v, or gate/up) in one parallel_for: the
// row tiles of all weights are split across the threads together, so the threads meet once
// instead of once per weight. x is converted once per distinct activation type. Every y is
// bit-identical to a separate matmul call. All weights must have the same n_in; no y may
// overlap x or another y.
void matmul_multi(std::span<const MatmulJob> jobs, const float* x, int64_t n_tokens, ActivationMode mode,
                  ThreadPool& pool);

}  // namespace layerlab
