// Lossless JSON form of GGUF metadata, stored as `gguf_metadata.json` next to a safetensors
// checkpoint so that GGUF -> safetensors -> GGUF gives back identical metadata (tokenizer
// arrays, value types, key order and everything config.json cannot express).
//
//   {"format": "layerlab-gguf-metadata", "version": 1, "gguf_version": 3, "alignment": 32,
//    "metadata": [[key, type, value], ...]}
//
// type is the GGUF value type name (u8 .. f64, bool, string, array). Values: integers and
// bools as JSON numbers/booleans; floats as numbers (exact), or "nan" / "inf" / "-inf";
// strings as JSON strings, or {"hex": "..."} when they are not valid UTF-8; arrays as
// {"elem": type, "items": [value, ...]}.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "layerlab/io/metadata.h"
#include "layerlab/io/model_file.h"

namespace layerlab {

inline constexpr const char* kGgufMetadataFile = "gguf_metadata.json";

nlohmann::json metadata_to_json(const ModelFile& model);

struct MetadataJson {
  uint32_t gguf_version = 3;
  uint32_t alignment = 32;
  Metadata metadata;
};
// Throws Error naming `path` for anything malformed.
MetadataJson metadata_from_json(const nlohmann::json& doc, const std::string& path);

// Metadata for a safetensors checkpoint that has both a config.json and a sidecar: the
// sidecar decides which keys exist, their types and order; a value that config.json gives
// differently (edited after export) replaces the sidecar's, converted to the sidecar's type.
Metadata merge_sidecar_metadata(const Metadata& sidecar, const Metadata& from_config);

}  // namespace layerlab
