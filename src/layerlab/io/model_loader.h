// Opening and saving models in any supported format, chosen from the path.
//
// load_model:
//   *.gguf (or any file starting with the GGUF magic; a split part reads the whole set) -> GGUF
//   a directory holding config.json, a *.safetensors file next to a config.json,
//   config.json itself, or model.safetensors.index.json                          -> safetensors
//   a legacy (headerless v0) llama2.c checkpoint whose header matches its size   -> llama2.c
// save_model:
//   a path ending in .gguf -> GGUF file; anything else -> a safetensors checkpoint directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layerlab/io/gguf_writer.h"
#include "layerlab/io/model_file.h"

namespace layerlab {

ModelFile load_model(const std::string& path);

// The safetensors part of load_model: `path` is a checkpoint directory, one of its
// .safetensors files, its config.json or its index. With a gguf_metadata.json sidecar (written
// by save_model) the metadata is the sidecar's, with values edited in config.json applied.
ModelFile read_safetensors_model(const std::string& path);

struct SaveOptions {
  bool dequantize = false;        // safetensors: write quantized tensors as F32 instead of refusing
  uint64_t max_shard_bytes = 0;   // safetensors: tensor bytes per shard (0 = one file)
  GgufWriteOptions gguf;          // GGUF: alignment and splitting
};

// Returns the files written.
std::vector<std::string> save_model(const ModelFile& model, const std::string& out_path,
                                    const SaveOptions& options = {});

}  // namespace layerlab
