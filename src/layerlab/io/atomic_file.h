// Output files appear whole or not at all: data goes to a temporary file in the target's
// directory, which is renamed over the target only by commit(). If the writer is destroyed
// without commit() (an error, an exception, Ctrl-C unwinding) the temporary is removed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

namespace layerlab {

class AtomicFile {
 public:
  explicit AtomicFile(std::string target_path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(std::span<const std::byte> bytes) { write(bytes.data(), bytes.size()); }
  void write_zeros(size_t count);
  uint64_t position() const { return written_; }
  // Flushes, fsyncs and renames into place. Throws layerlab::Error on failure.
  void commit();
  const std::string& temp_path() const { return temp_path_; }

 private:
  std::string target_path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// Removes `path` if it exists; for directories written as a unit (safetensors output).
void remove_tree_quietly(const std::string& path);

}  // namespace layerlab
