#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace layerlab::testing {

std::string shared_dir() {
  if (const char* env = std::getenv("LAYERLAB_SHARED_DIR")) return env;
  return LAYERLAB_SHARED_DIR;
}

std::string fixture_path(const std::string& relative) { return shared_dir() + "/fixtures/" + relative; }
std::string fixture_model(const std::string& file_name) { return fixture_path("models/" + file_name); }

std::vector<std::string> fixture_model_files() {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(fixture_path("models")))
    if (e.path().extension() == ".gguf") files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

namespace {
struct ScratchRoot {
  fs::path root;
  ScratchRoot() {
    std::string pattern = (fs::temp_directory_path() / "layerlab-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    root = pattern;
  }
  ~ScratchRoot() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};
}  // namespace

std::string scratch_dir() {
  static ScratchRoot root;
  static int counter = 0;
  fs::path dir = root.root / std::to_string(counter++);
  fs::create_directories(dir);
  return dir.string();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

CliResult run_cli(const std::vector<std::string>& args) {
  std::string dir = scratch_dir();
  std::string out_path = dir + "/stdout", err_path = dir + "/stderr";
  pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* o = std::freopen(out_path.c_str(), "w", stdout);
    std::FILE* e = std::freopen(err_path.c_str(), "w", stderr);
    (void)o;
    (void)e;
    std::vector<char*> argv;
    std::string exe = LAYERLAB_CLI_PATH;
    argv.push_back(exe.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    std::_Exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  return r;
}

}  // namespace layerlab::testing
