// The parser of one GGUF image (one file of a split set), shared by the mapped-file and the
// in-memory readers. Internal to the GGUF reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "layerlab/io/metadata.h"
#include "layerlab/io/model_file.h"

namespace layerlab::gguf {

inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr size_t kMaxNameBytes = 63;  // ggml's GGML_MAX_NAME (64) includes the NUL
inline constexpr uint32_t kMaxDims = 4;

struct Image {
  uint32_t version = 3;
  uint32_t alignment = kDefaultAlignment;
  Metadata metadata;                  // every key, split.* included
  std::vector<uint64_t> key_offsets;  // file offset of each metadata item, same order
  std::vector<TensorInfo> tensors;    // data spans point into the parsed bytes
  std::vector<uint64_t> info_offsets; // file offset of each tensor info, same order
  uint64_t data_start = 0;

  // Offset of the key's entry, or 0 if absent (for error messages).
  uint64_t key_offset(std::string_view key) const;
};

// Validates everything (header, key/values, tensor infos, data bounds, overlap) and returns
// the parsed image. Throws FormatError(name, offset, problem) on the first problem.
Image parse_image(std::span<const std::byte> bytes, const std::string& name);

// A name or key from a file, made safe for a one-line message (no control bytes, bounded).
std::string printable(std::string_view text);

}  // namespace layerlab::gguf
