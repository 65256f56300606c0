// Internal kernel entry points shared by matmul, the tests and the benchmark.
// *_scalar functions are the plain reference versions ("twins") of the SIMD kernels;
// the unsuffixed ones dispatch at run time to the best SIMD target of the CPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "layerlab/io/ggml_type.h"

namespace layerlab {

// Scalar dequantization, bit-exact with ggml (see dequantize.h for the contract).
void dequantize_row_scalar(GgmlType type, const std::byte* src, float* dst, int64_t n);

// Dot product of one weight row of `type` (n elements) with one activation row already in
// the type's vec_dot_type (see quantize_activations.h). Block-quantized types only.
float vec_dot_scalar(GgmlType type, int64_t n, const std::byte* w, const std::byte* a);
float vec_dot(GgmlType type, int64_t n, const std::byte* w, const std::byte* a);

// Scalar twin of quantize_row_q8_0 (quantize_activations.h); y holds n / 32 blocks.
struct BlockQ8_0;
void quantize_row_q8_0_scalar(const float* x, BlockQ8_0* y, int64_t n);

float dot_f32_scalar(const float* a, const float* b, int64_t n);

// Float matrix block: y[t * y_stride + r] = dot(w + r * w_stride, x + t * x_stride, n)
// for r < n_rows, t < n_tokens (with accumulate, the dot is added to y instead).
// Summation order is the kernel's own.
void gemm_f32_scalar(const float* w, size_t w_stride, int64_t n_rows, const float* x,
                     size_t x_stride, int64_t n_tokens, int64_t n, float* y, size_t y_stride);
void gemm_f32(const float* w, size_t w_stride, int64_t n_rows, const float* x, size_t x_stride,
              int64_t n_tokens, int64_t n, float* y, size_t y_stride, bool accumulate = false);

// Matrix-vector product with f16 weights (w_stride in elements): y[r] = dot(w + r * w_stride, x, n).
void gemv_f16(const uint16_t* w, size_t w_stride, int64_t n_rows, const float* x, int64_t n, float* y);

// Quantized block: y[t * y_stride + r] = vec_dot(row r, activation row t).
void gemm_quant(GgmlType type, const std::byte* w, size_t w_stride, int64_t n_rows,
                const std::byte* a, size_t a_stride, int64_t n_tokens, int64_t n, float* y,
                size_t y_stride);

// Runs a loop of independent vector FMAs (for measuring peak float throughput); returns the
// number of floating-point operations done and writes a result to *sink.
double fma_peak_flops(int64_t iterations, float* sink);

// Name of the SIMD target chosen at run time (for the benchmark and docs).
const char* simd_target_name();

}  // namespace layerlab
