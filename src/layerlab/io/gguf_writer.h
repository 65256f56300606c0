// Writing a ModelFile as GGUF v3.
//
// Metadata keys keep their order and value types; tensors are written in the ModelFile's
// order, packed, each padded to the alignment (the layout llama.cpp requires). Tensor bytes
// are streamed from their source spans, so a model is never assembled in memory. Output goes
// through AtomicFile: a file appears whole or not at all.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layerlab/io/model_file.h"

namespace layerlab {

struct GgufWriteOptions {
  uint32_t alignment = 0;          // 0: the model's alignment (a power of two)
  // Split writing (like llama.cpp's gguf-split): a new part starts when the current one would
  // exceed either limit; 0 means no limit. With more than one part, `path` names the set:
  // "out.gguf" becomes out-00001-of-0000N.gguf, ... Part 1 carries all metadata.
  uint64_t split_max_tensors = 0;
  uint64_t split_max_bytes = 0;    // tensor data bytes per part, padding included
};

// Returns the files written (one, or the parts of a split set in order). Throws
// layerlab::Error for a model that cannot be written (bad names, shapes, spans of the wrong
// size, nested arrays) before creating any file, and for I/O failures (nothing is left behind).
std::vector<std::string> write_gguf(const ModelFile& model, const std::string& path,
                                    const GgufWriteOptions& options = {});

}  // namespace layerlab
