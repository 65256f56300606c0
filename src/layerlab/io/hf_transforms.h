// The value transforms between Hugging Face weights and llama.cpp's GGUF conventions
// (applied by llama.cpp's converter on the way in, undone here on the way out):
//   llama      Q/K rows: HF rotate-half layout <-> interleaved pairs (weights and biases)
//   hybrids    every *norm.weight except ssm_norm: HF w <-> GGUF w + 1 (stored F32)
//   hybrids    A_log <-> ssm_a = -exp(A_log) (stored F32)
//   qwen35*    V heads: HF grouped order (h = g*R + r) <-> GGUF tiled order (h = r*Hk + g)
// Each function takes one tensor under its canonical name and shape, and replaces its data
// (and type) with a transformed copy made through `own` when the tensor needs it.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <vector>

#include "layerlab/io/hf_config.h"
#include "layerlab/io/model_file.h"

namespace layerlab {

using OwnBuffer = std::function<std::span<const std::byte>(std::vector<std::byte>)>;

// HF values -> GGUF values.
void import_tensor_values(TensorInfo& t, const HfArch& arch, const Metadata& md, const OwnBuffer& own);
// GGUF values -> HF values. The tensor must already be F32/F16/BF16 (or another plain type).
void export_tensor_values(TensorInfo& t, const HfArch& arch, const Metadata& md, const OwnBuffer& own);

// Exposed for tests: permutes the rows of one Q or K tensor (n_rows rows of row_bytes each,
// n_head heads) between HF and GGUF order.
void permute_qk_rows(std::span<std::byte> data, int64_t n_rows, size_t row_bytes, int64_t n_head, bool to_gguf);

}  // namespace layerlab
