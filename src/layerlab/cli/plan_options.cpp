#include "layerlab/cli/plan_options.h"

#include "layerlab/io/model_loader.h"
#include "layerlab/plan/plan_source.h"

namespace layerlab::cli {

void PlanOptions::add_to(CLI::App* cmd) {
  cmd->add_option("--plan", plan, "Layer plan: dup:I,J[,xK], del:I-J, 0-3,2-5, donor:A-B, or a mergekit YAML file (docs/plans.md)");
  cmd->add_option("--donor", donors, "Donor model for donorK: slots (repeat for donor2, ...)");
  cmd->add_option("--repeat-scale", repeat_scale, "Scale of a repeated layer's residual update on its second and later passes (1 = plain repeat)")
      ->check(CLI::Range(-16.0f, 16.0f));
}

void PlanOptions::resolve(const ModelConfig& host, std::vector<std::unique_ptr<ModelFile>>& donor_files,
                          EngineOptions& engine) const {
  PlanLimits limits{host.n_layer, {}};
  for (const auto& path : donors) {
    donor_files.push_back(std::make_unique<ModelFile>(load_model(path)));
    limits.donor_layers.push_back(read_model_config(*donor_files.back()).n_layer);
    engine.donors.push_back(donor_files.back().get());
  }
  engine.plan = plan.empty() ? Plan::identity(host.n_layer) : load_plan_spec(plan, limits);
  engine.plan.repeat_scale = repeat_scale;
}

}  // namespace layerlab::cli
