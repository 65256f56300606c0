// Each subcommand lives in its own cmd_*.cpp and registers itself on the application:
//
//   static layerlab::cli::CommandRegistrar reg(1, [](CLI::App& app) { ... app.add_subcommand(...) });
//
// The number orders the subcommands in --help. main() only wires them up.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace layerlab::cli {

using AddCommand = std::function<void(CLI::App&)>;

struct CommandRegistrar {
  CommandRegistrar(int order, AddCommand add);
};

// Calls every registered command's add function, in order.
void add_registered_commands(CLI::App& app);

void add_inspect_command(CLI::App& app);

// Thrown by a command that has printed its own message and wants this exit status
// (e.g. 130 after an interrupted scan).
struct ExitStatus {
  int code = 1;
};

}  // namespace layerlab::cli
