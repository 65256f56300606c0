// Each subcommand registers itself on the application; main() only wires them up.
#pragma once

#include <CLI/CLI.hpp>

namespace layerlab::cli {

void add_inspect_command(CLI::App& app);

}  // namespace layerlab::cli
