// Random weight rows of every computable ggml type for the kernel tests: random bytes with
// the f16 scale fields replaced by finite values of a realistic size (random bytes there
// would give inf/NaN scales).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "layerlab/io/ggml_type.h"
#include "layerlab/tensor/f16.h"

namespace layerlab::testing {

inline const std::vector<GgmlType>& computable_types() {
  static const std::vector<GgmlType> types = {
      GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0,
      GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q2_K, GgmlType::Q3_K,
      GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS};
  return types;
}

// Byte offsets of the f16 scale fields inside one block (from the block layout table).
inline std::vector<size_t> f16_field_offsets(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_1: case GgmlType::Q5_1: case GgmlType::Q4_K: case GgmlType::Q5_K: return {0, 2};
    case GgmlType::Q4_0: case GgmlType::Q5_0: case GgmlType::Q8_0: case GgmlType::IQ4_NL:
    case GgmlType::IQ4_XS: return {0};
    case GgmlType::Q2_K: return {80, 82};
    case GgmlType::Q3_K: return {108};
    case GgmlType::Q6_K: return {208};
    default: return {};
  }
}

inline void put_f16(std::byte* p, float v) {
  const uint16_t h = fp32_to_fp16(v);
  std::memcpy(p, &h, 2);
}

// n_rows rows of n values of type t, as contiguous bytes; returns the bytes and row size.
inline std::pair<std::vector<std::byte>, size_t> random_rows(GgmlType t, int64_t n_rows, int64_t n,
                                                            std::mt19937& rng) {
  const auto info = *ggml_type_info(static_cast<uint32_t>(t));
  const size_t row_bytes = static_cast<size_t>(n / info.block_size) * info.type_size;
  std::vector<std::byte> data(row_bytes * static_cast<size_t>(n_rows));
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> scale(0.0005f, 0.02f);
  if (t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16) {
    for (size_t i = 0; i < data.size() / info.type_size; ++i) {
      const float v = 0.1f * normal(rng);
      if (t == GgmlType::F32) std::memcpy(&data[i * 4], &v, 4);
      else if (t == GgmlType::F16) put_f16(&data[i * 2], v);
      else {
        const uint16_t h = fp32_to_bf16(v);
        std::memcpy(&data[i * 2], &h, 2);
      }
    }
    return {std::move(data), row_bytes};
  }
  for (auto& b : data) b = static_cast<std::byte>(byte(rng));
  const auto offsets = f16_field_offsets(t);
  for (size_t blk = 0; blk < data.size() / info.type_size; ++blk) {
    for (size_t k = 0; k < offsets.size(); ++k) {
      // Second fields (mins) may be negative for the legacy types; k-quant dmin is positive.
      float v = scale(rng);
      if (k == 1 && (t == GgmlType::Q4_1 || t == GgmlType::Q5_1)) v *= (byte(rng) & 1) ? -8.0f : 8.0f;
      put_f16(&data[blk * info.type_size + offsets[k]], v);
    }
  }
  return {std::move(data), row_bytes};
}

inline std::vector<float> random_floats(size_t n, std::mt19937& rng, float sigma = 1.0f) {
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

}  // namespace layerlab::testing
