// Conversion of float32 activation rows into the format ggml's CPU backend multiplies a
// weight type with (its vec_dot_type): F16/BF16 rounding, Q8_0, Q8_1 and Q8_K blocks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "layerlab/io/ggml_type.h"
#include "layerlab/tensor/quant_blocks.h"

namespace layerlab {

// The activation format ggml uses for a weight type (F32 for F32, F16 for F16, Q8_0 for
// Q4_0 ...). Throws layerlab::Error for a type layerlab cannot compute with.
GgmlType vec_dot_type(GgmlType weight_type);

// Bytes of one activation row of n values in a block-quantized vec_dot_type.
size_t activation_row_bytes(GgmlType vec_dot_type, int64_t n);

// Q8_0 as on x86: d = amax/127 stored as f16, q = round-half-even(x * (127/amax)).
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);
// Q8_1: as Q8_0, plus s = f16(d * sum(q)) with the unrounded f32 d.
void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n);
// Q8_K (quantize_row_q8_K_ref): iscale = -127/max (max = signed value of largest magnitude),
// q = min(127, round-half-even(iscale * x)), d = 1/iscale, bsums of 16.
void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n);

// Converts a row to a block-quantized vec_dot_type (Q8_0, Q8_1 or Q8_K).
void quantize_activation_row(GgmlType vec_dot_type, const float* x, std::byte* dst, int64_t n);

// Rounds each value to the nearest f16 / bf16 (ties to even), keeping it as float32.
void round_row_fp16(const float* x, float* y, int64_t n);
void round_row_bf16(const float* x, float* y, int64_t n);

}  // namespace layerlab
