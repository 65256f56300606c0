#include "layerlab/io/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "layerlab/io/error.h"

namespace layerlab {

AtomicFile::AtomicFile(std::string target_path) : target_path_(std::move(target_path)) {
  std::filesystem::path target(target_path_);
  std::string name = target.filename().string();
  std::filesystem::path dir = target.parent_path();
  std::string pattern = (dir.empty() ? std::string(".") : dir.string()) + "/." + name + ".tmp-XXXXXX";
  int fd = ::mkstemp(pattern.data());
  if (fd < 0) throw Error(target_path_ + ": cannot create temporary file: " + std::strerror(errno));
  temp_path_ = pattern;
  file_ = ::fdopen(fd, "wb");
  if (!file_) {
    ::close(fd);
    std::remove(temp_path_.c_str());
    throw Error(target_path_ + ": cannot open temporary file");
  }
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_) std::remove(temp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  if (size == 0) return;
  if (std::fwrite(data, 1, size, file_) != size)
    throw Error(target_path_ + ": write failed: " + std::strerror(errno));
  written_ += size;
}

void AtomicFile::write_zeros(size_t count) {
  static const char zeros[64] = {};
  while (count > 0) {
    size_t n = count < sizeof(zeros) ? count : sizeof(zeros);
    write(zeros, n);
    count -= n;
  }
}

void AtomicFile::commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
    throw Error(target_path_ + ": flush failed: " + std::strerror(errno));
  std::fclose(file_);
  file_ = nullptr;
  if (std::rename(temp_path_.c_str(), target_path_.c_str()) != 0)
    throw Error(target_path_ + ": cannot rename into place: " + std::strerror(errno));
  committed_ = true;
}

void remove_tree_quietly(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace layerlab
