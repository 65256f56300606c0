#include "layerlab/tensor/quantize_activations.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "layerlab/io/error.h"
#include "layerlab/tensor/f16.h"
#include "layerlab/tensor/kernels.h"

namespace layerlab {
namespace {

// Round half to even, as _mm256_round_ps(_MM_ROUND_NEAREST) and ggml's nearest_int do
// (the default floating-point environment rounds to nearest even).
inline int round_even(float v) { return static_cast<int>(std::nearbyint(v)); }

// Shared by Q8_0 and Q8_1: returns the f32 scale d and fills q.
float quantize_block_q8(const float* x, int8_t* q) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  for (int j = 0; j < kQK; ++j) q[j] = static_cast<int8_t>(round_even(x[j] * id));
  return d;
}

}  // namespace

GgmlType vec_dot_type(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16:
      return weight_type;
    case GgmlType::Q4_0: case GgmlType::Q5_0: case GgmlType::Q8_0: case GgmlType::IQ4_NL:
      return GgmlType::Q8_0;
    case GgmlType::Q4_1: case GgmlType::Q5_1:
      return GgmlType::Q8_1;
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K:
    case GgmlType::Q6_K: case GgmlType::IQ4_XS:
      return GgmlType::Q8_K;
    default:
      throw Error("no matrix product for weight type " + std::string(ggml_type_name(weight_type)));
  }
}

size_t activation_row_bytes(GgmlType vdt, int64_t n) {
  switch (vdt) {
    case GgmlType::Q8_0: return static_cast<size_t>(n / kQK) * sizeof(BlockQ8_0);
    case GgmlType::Q8_1: return static_cast<size_t>(n / kQK) * sizeof(BlockQ8_1);
    case GgmlType::Q8_K: return static_cast<size_t>(n / kQKK) * sizeof(BlockQ8_K);
    default: return static_cast<size_t>(n) * sizeof(float);
  }
}

// The SIMD quantize_row_q8_0 (kernels_simd.cpp) is tested against this twin.
void quantize_row_q8_0_scalar(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const float d = quantize_block_q8(x, y[i].qs);
    y[i].d = fp32_to_fp16(d);
  }
}

void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const float d = quantize_block_q8(x, y[i].qs);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) sum += y[i].qs[j];
    y[i].d = fp32_to_fp16(d);
    y[i].s = fp32_to_fp16(d * static_cast<float>(sum));
  }
}

void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n) {
  for (int64_t i = 0; i < n / kQKK; ++i, x += kQKK) {
    float max = 0.0f, amax = 0.0f;
    for (int j = 0; j < kQKK; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      y[i].d = 0.0f;
      std::fill(std::begin(y[i].qs), std::end(y[i].qs), int8_t{0});
      std::fill(std::begin(y[i].bsums), std::end(y[i].bsums), int16_t{0});
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQKK; ++j) y[i].qs[j] = static_cast<int8_t>(std::min(127, round_even(iscale * x[j])));
    for (int k = 0; k < 16; ++k) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += y[i].qs[16 * k + j];
      y[i].bsums[k] = static_cast<int16_t>(sum);
    }
    y[i].d = 1.0f / iscale;
  }
}

void quantize_activation_row(GgmlType vdt, const float* x, std::byte* dst, int64_t n) {
  switch (vdt) {
    case GgmlType::Q8_0: return quantize_row_q8_0(x, reinterpret_cast<BlockQ8_0*>(dst), n);
    case GgmlType::Q8_1: return quantize_row_q8_1(x, reinterpret_cast<BlockQ8_1*>(dst), n);
    case GgmlType::Q8_K: return quantize_row_q8_K(x, reinterpret_cast<BlockQ8_K*>(dst), n);
    default:
      throw Error("not a block activation type: " + std::string(ggml_type_name(vdt)));
  }
}

void round_row_fp16(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = round_to_fp16(x[i]);
}

void round_row_bf16(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = round_to_bf16(x[i]);
}

}  // namespace layerlab
