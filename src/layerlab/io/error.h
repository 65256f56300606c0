// Errors that reach the user. Every failure caused by input (a model file, a plan,
// a probe file) is reported as one line naming what and where; nothing aborts.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace layerlab {

// A problem with user input. what() is the full one-line message.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A malformed or hostile file: the message names the file, the byte offset and the problem.
class FormatError : public Error {
 public:
  FormatError(const std::string& path, uint64_t offset, const std::string& problem)
      : Error(path + ": at byte " + std::to_string(offset) + ": " + problem),
        path_(path), offset_(offset) {}
  const std::string& path() const { return path_; }
  uint64_t offset() const { return offset_; }

 private:
  std::string path_;
  uint64_t offset_;
};

}  // namespace layerlab
