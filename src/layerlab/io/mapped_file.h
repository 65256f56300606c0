// A read-only memory mapping of a whole file. Weights are used in place from it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace layerlab {

class MappedFile {
 public:
  // Throws layerlab::Error naming the path if the file cannot be opened or mapped.
  explicit MappedFile(std::string path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::byte* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace layerlab
