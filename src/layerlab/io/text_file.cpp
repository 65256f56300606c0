#include "layerlab/io/text_file.h"

#include <fstream>
#include <sstream>

#include "layerlab/io/error.h"

namespace layerlab {

std::string read_whole_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the " + std::string(what));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": cannot read the " + std::string(what));
  return ss.str();
}

}  // namespace layerlab
