// layerlab: layer surgery on language models. One executable, one subcommand per job.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "layerlab/cli/commands.h"
#include "layerlab/io/error.h"

int main(int argc, char** argv) {
  CLI::App app{"layerlab: run, measure and export layer-surgery plans on GGUF and safetensors models"};
  app.set_version_flag("--version", "layerlab 0.1.0");
  app.require_subcommand(1);
  layerlab::cli::add_inspect_command(app);
  layerlab::cli::add_registered_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const layerlab::cli::ExitStatus& e) {
    return e.code;  // the command has already said why
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const layerlab::Error& e) {
    std::fprintf(stderr, "layerlab: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "layerlab: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
