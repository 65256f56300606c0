// Writing a canonical ModelFile as a Hugging Face checkpoint directory:
//   config.json                      HF config from the canonical metadata (hf_config.h)
//   gguf_metadata.json               the complete GGUF metadata, lossless (metadata_json.h)
//   model.safetensors                tensors under HF names with HF value conventions, or
//   model-0000k-of-0000n.safetensors + model.safetensors.index.json   when sharded
// The directory appears whole or not at all: it is written as a temporary directory next to
// the target and renamed into place; any failure removes the temporary directory.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "layerlab/io/hf_mapping.h"
#include "layerlab/io/model_file.h"

namespace layerlab {

struct SafetensorsWriteOptions {
  bool dequantize = false;       // write block-quantized tensors as F32 instead of refusing
  uint64_t max_shard_bytes = 0;  // tensor bytes per shard; 0 = one file
};

// Returns the files written (inside `dir`). An existing `dir` is replaced only if it is empty
// or holds a config.json (a previous checkpoint); anything else is refused.
std::vector<std::string> write_safetensors(const ModelFile& model, const std::string& dir,
                                           const SafetensorsWriteOptions& options = {});

// Writes one .safetensors file (not atomically; the caller's directory is). Tensors go in the
// given order, contiguous; the header is padded so the data buffer starts 32-byte aligned.
void write_safetensors_file(const std::string& path, const std::vector<HfTensor>& tensors,
                            const std::map<std::string, std::string>& header_metadata);

}  // namespace layerlab
