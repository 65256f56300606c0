// Reading a small input file (probes, texts, results) whole.
#pragma once

#include <string>
#include <string_view>

namespace layerlab {

// The file's bytes; throws Error "PATH: cannot open the WHAT" when it cannot be read.
std::string read_whole_file(const std::string& path, std::string_view what);

}  // namespace layerlab
