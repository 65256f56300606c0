// The ggml tensor element types: ids as stored in GGUF, block sizes and byte sizes.
// The table covers every type a GGUF file may carry, including ones layerlab cannot
// compute with, so that `inspect` can describe any file.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace layerlab {

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21,
  IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28,
  IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39, NVFP4 = 40,
  Q1_0 = 41, Q2_0 = 42,
};

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;   // as llama.cpp prints it, e.g. "Q4_K"
  uint32_t block_size;     // elements per block
  uint32_t type_size;      // bytes per block
};

// Returns the traits of a raw type id, or nullopt for an id no ggml version defines.
std::optional<GgmlTypeInfo> ggml_type_info(uint32_t id);
// Same, by name ("q4_k" or "Q4_K"); nullopt if unknown.
std::optional<GgmlTypeInfo> ggml_type_by_name(std::string_view name);
std::string_view ggml_type_name(GgmlType type);

}  // namespace layerlab
