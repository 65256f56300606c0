// The plan options shared by every command that runs a model: --plan, --donor, --repeat-scale.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "layerlab/io/model_file.h"
#include "layerlab/model/config.h"
#include "layerlab/runtime/engine.h"

namespace layerlab::cli {

struct PlanOptions {
  std::string plan;                 // plan text or mergekit YAML path; empty: the model as trained
  std::vector<std::string> donors;  // donor model paths, donor1, donor2, ...
  float repeat_scale = 1.0f;

  void add_to(CLI::App* cmd);
  // Loads the donors into `donor_files` (kept alive by the caller) and fills the engine's
  // plan and donors. Throws PlanError / Error with one line naming the problem.
  void resolve(const ModelConfig& host, std::vector<std::unique_ptr<ModelFile>>& donor_files,
               EngineOptions& engine) const;
};

}  // namespace layerlab::cli
