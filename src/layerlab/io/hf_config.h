// Hugging Face config.json <-> canonical GGUF metadata, for the architectures layerlab can
// convert: llama, qwen2, qwen3, qwen3moe, qwen3next, qwen35, qwen35moe. Keys and value types
// follow what llama.cpp's converter writes (u32 counts, f32 floats, `<arch>.` prefixes).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "layerlab/io/metadata.h"
#include "layerlab/io/model_file.h"

namespace layerlab {

struct HfArch {
  std::string_view gguf;        // general.architecture
  std::string_view hf_class;    // architectures[0] written to config.json
  std::string_view model_type;  // model_type written to config.json
  bool hybrid;                  // Gated DeltaNet + gated attention (zero-centred norms)
  bool moe;
  bool v_tiled;                 // V heads stored tiled in GGUF (qwen35 family)
};

// nullptr if layerlab cannot map the architecture.
const HfArch* hf_arch_for_gguf(std::string_view gguf_arch);
// From `architectures` / `model_type` (the nested text_config's too). Throws Error naming
// `path` for an architecture that is not supported.
const HfArch& detect_hf_arch(const nlohmann::json& config, const std::string& path);

// config.json with a nested text_config merged into the top level (its keys win).
nlohmann::json merge_text_config(const nlohmann::json& config);

// Canonical metadata (general.architecture and `<arch>.*`) from a merged config.
Metadata config_to_metadata(const nlohmann::json& config, const HfArch& arch, const std::string& path);

// config.json for a canonical model (inverse of config_to_metadata, plus the keys that
// HF loaders need: architectures, model_type, torch_dtype, tie_word_embeddings, layer_types).
nlohmann::json metadata_to_config(const ModelFile& model, const HfArch& arch);

// A float as a JSON number that reads back as the same float: the shortest decimal form
// where that round-trips exactly, else the exact double.
nlohmann::json float_to_json(float value);

}  // namespace layerlab
