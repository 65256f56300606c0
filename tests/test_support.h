// Helpers shared by the tests: where the project fixtures are, scratch directories,
// and running the command-line tool.
#pragma once

#include <string>
#include <vector>

namespace layerlab::testing {

// ../shared as configured at build time (LAYERLAB_SHARED_DIR), overridable by the
// LAYERLAB_SHARED_DIR environment variable.
std::string shared_dir();
std::string fixture_model(const std::string& file_name);  // shared/fixtures/models/<file>
std::string fixture_path(const std::string& relative);     // shared/fixtures/<relative>
std::vector<std::string> fixture_model_files();            // every *.gguf in fixtures/models

// A fresh empty directory under the system temp dir, removed when the process exits.
std::string scratch_dir();

struct CliResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs the layerlab executable with the given arguments (no shell involved).
CliResult run_cli(const std::vector<std::string>& args);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);

}  // namespace layerlab::testing
