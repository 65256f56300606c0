// Reading GGUF files (versions 2 and 3) into the canonical ModelFile.
//
// The whole header (key/values and tensor infos) is validated before any tensor byte is
// looked at; every problem is a FormatError naming the file, the byte offset and what is
// wrong. Tensor data are spans into a read-only memory mapping, never copied.
//
// Split sets (`NAME-00001-of-00003.gguf`, keys split.no / split.count / split.tensors.count)
// are read whole from any of their parts: tensors of all parts are merged in part order
// (TensorInfo::source_index = 0-based part), metadata comes from the first part, and the three
// split.* keys are dropped from the merged metadata because they describe the files, not the
// model (the writer adds them back when it writes a split set). They are dropped from a
// single file's metadata as well, so reading never shows them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "layerlab/io/model_file.h"

namespace layerlab {

ModelFile read_gguf(const std::string& path);

// Parses a GGUF image held in memory (the fuzzer's entry; the same parser as read_gguf).
// `name` stands for the path in error messages. Tensor spans point into `bytes`, which must
// outlive the result. A part of a split set (split.count > 1) is validated and then refused,
// since its sibling files cannot be found from memory.
ModelFile read_gguf_from_memory(std::span<const std::byte> bytes, const std::string& name);

// "out-00002-of-00005.gguf" from prefix "out", 1-based index 2 and count 5 (llama.cpp's naming).
std::string gguf_split_path(const std::string& prefix, uint32_t index, uint32_t count);

struct GgufSplitName {
  std::string prefix;  // everything before "-NNNNN-of-NNNNN.gguf"
  uint32_t index = 0;  // 1-based, as in the name
  uint32_t count = 0;
};
// Recognises a split part's file name; nullopt if `path` does not follow the pattern.
std::optional<GgufSplitName> parse_gguf_split_name(const std::string& path);

// The metadata keys that describe a split set.
inline constexpr const char* kSplitNoKey = "split.no";
inline constexpr const char* kSplitCountKey = "split.count";
inline constexpr const char* kSplitTensorsCountKey = "split.tensors.count";

}  // namespace layerlab
