// Reading safetensors files: one file, an explicit list of files, or a sharded set
// described by model.safetensors.index.json. Tensors keep the names stored in the files
// (Hugging Face names); hf_mapping turns them into the canonical GGUF form.
//
// Layout: u64 little-endian N, N bytes of JSON header, then the data buffer. The header maps
// each tensor name to {"dtype", "shape" (outermost first), "data_offsets": [begin, end)}
// relative to the data buffer; "__metadata__" is an optional string->string object.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "layerlab/io/ggml_type.h"
#include "layerlab/io/model_file.h"

namespace layerlab {

// Headers larger than this are refused before they are parsed.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull * 1024 * 1024;

struct SafetensorsEntry {
  std::string name;
  std::string dtype;            // as stored, e.g. "BF16"
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> shape;   // outermost first, as stored
  uint64_t begin = 0, end = 0;  // byte range relative to the data buffer
};

struct SafetensorsHeader {
  uint64_t data_offset = 0;                  // absolute offset of the data buffer (8 + N)
  std::vector<SafetensorsEntry> entries;     // sorted by begin offset (file order)
  std::vector<std::pair<std::string, std::string>> metadata;  // "__metadata__"
};

// Parses and fully validates a safetensors file image. `path` only names the source in
// errors. Throws FormatError(path, offset, problem) for anything malformed.
SafetensorsHeader parse_safetensors(std::span<const std::byte> bytes, const std::string& path);

// The ggml type a safetensors dtype is stored as; nullopt for dtypes ggml has no type for.
std::optional<GgmlType> safetensors_dtype_to_ggml(std::string_view dtype);
// The safetensors dtype for a ggml type; nullopt for block-quantized types.
std::optional<std::string_view> ggml_to_safetensors_dtype(GgmlType type);
// Bytes per element of a safetensors dtype (any dtype of the format); 0 if unknown.
uint32_t safetensors_dtype_size(std::string_view dtype);

// Tensors of one or more safetensors files, under their stored names, with ggml shapes
// (the stored shape reversed) and bytes viewed in place in the memory mappings.
struct SafetensorsSet {
  ModelFile model;  // format SAFETENSORS; tensors only (no metadata), in file order
  std::vector<std::pair<std::string, std::string>> header_metadata;  // first file's __metadata__
};

// Reads the given files in order; a tensor name present in two files is an error.
SafetensorsSet read_safetensors_files(const std::vector<std::string>& paths);
// Reads a sharded set from its index: every shard named in weight_map is read, and every
// tensor the index lists must be in the shard it names (and no shard may hold unlisted ones).
SafetensorsSet read_safetensors_index(const std::string& index_path);

}  // namespace layerlab
