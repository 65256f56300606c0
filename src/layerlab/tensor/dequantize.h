// Exact conversion of ggml weight rows to float32 (llama.cpp's dequantize_row_*).
#pragma once

#include <cstddef>
#include <cstdint>

#include "layerlab/io/ggml_type.h"

namespace layerlab {

// True for the types layerlab can dequantize (and so compute with).
bool can_dequantize(GgmlType type);
// Converts n elements (a multiple of the type's block size) starting at a block boundary.
// Throws layerlab::Error for a type that cannot be dequantized.
void dequantize_row(GgmlType type, const std::byte* src, float* dst, int64_t n);

}  // namespace layerlab
