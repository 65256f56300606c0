#include "layerlab/io/model_file.h"

#include <fmt/format.h>

namespace layerlab {

uint64_t TensorInfo::row_bytes() const {
  auto info = ggml_type_info(static_cast<uint32_t>(type));
  if (!info) return 0;
  return static_cast<uint64_t>(ne[0]) / info->block_size * info->type_size;
}

uint64_t TensorInfo::n_bytes() const {
  return row_bytes() * static_cast<uint64_t>(ne[1]) * static_cast<uint64_t>(ne[2]) *
         static_cast<uint64_t>(ne[3]);
}

std::string TensorInfo::shape_string() const {
  std::string s = "{";
  for (uint32_t d = 0; d < n_dims; ++d) s += fmt::format("{}{}", d ? ", " : "", ne[d]);
  return s + "}";
}

const TensorInfo* ModelFile::find_tensor(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

std::string ModelFile::architecture() const {
  return metadata.get_string("general.architecture").value_or("");
}

uint64_t ModelFile::file_bytes() const {
  uint64_t total = 0;
  for (const auto& m : mappings) total += m->size();
  return total;
}

std::span<const std::byte> ModelFile::own(std::vector<std::byte> buffer) {
  auto shared = std::make_shared<const std::vector<std::byte>>(std::move(buffer));
  owned_buffers.push_back(shared);
  return {shared->data(), shared->size()};
}

}  // namespace layerlab
