// The in-memory description of a model file, independent of its on-disk format.
//
// Canonical form: GGUF tensor names (`blk.N.attn_q.weight`), GGUF metadata keys
// (`llama.block_count`), ggml shapes (`ne[0]` contiguous) and ggml types, with the value
// conventions of llama.cpp's converter (Q/K rows permuted for llama, `w+1` norms and
// `-exp(A_log)` for the qwen35 family). Readers of other formats convert into this form;
// writers convert out of it.
//
// Tensor bytes are views: into a memory mapping of the source file (the usual case, so a
// model is never copied into RAM), or into a buffer owned here when a reader had to
// transform values. A ModelFile keeps every mapping and buffer it points into alive.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "layerlab/io/ggml_type.h"
#include "layerlab/io/mapped_file.h"
#include "layerlab/io/metadata.h"

namespace layerlab {

struct TensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  uint32_t n_dims = 0;
  std::array<int64_t, 4> ne = {1, 1, 1, 1};  // ggml order: ne[0] is contiguous
  std::span<const std::byte> data;           // exactly n_bytes() bytes
  uint32_t source_index = 0;                 // which file of a split set / shard it came from

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  uint64_t n_bytes() const;                  // from type traits; rows of whole blocks
  uint64_t row_bytes() const;                // bytes of one ne[0] row
  std::string shape_string() const;          // "{256, 512}"
};

enum class FileFormat { GGUF, SAFETENSORS, LLAMA2C };

struct ModelFile {
  FileFormat format = FileFormat::GGUF;
  std::vector<std::string> paths;  // every file read (split parts, shards, config.json)
  uint32_t gguf_version = 3;
  uint32_t alignment = 32;
  Metadata metadata;
  std::vector<TensorInfo> tensors;

  std::vector<std::shared_ptr<const MappedFile>> mappings;
  std::vector<std::shared_ptr<const std::vector<std::byte>>> owned_buffers;

  const TensorInfo* find_tensor(std::string_view name) const;
  std::string architecture() const;  // general.architecture, "" if absent
  uint64_t file_bytes() const;       // total size of the mapped source files
  // Adds a buffer whose lifetime this ModelFile owns; returns a view of it.
  std::span<const std::byte> own(std::vector<std::byte> buffer);
};

}  // namespace layerlab
