// `layerlab apply`: write a model whose decoder layers follow a plan (GGUF or safetensors).
#include <fmt/format.h>

#include <cstdio>
#include <fstream>

#include "layerlab/cli/commands.h"
#include "layerlab/io/model_loader.h"
#include "layerlab/model/config.h"
#include "layerlab/plan/materialize.h"
#include "layerlab/plan/mergekit.h"
#include "layerlab/plan/plan_source.h"
#include "layerlab/plan/transplant_check.h"

namespace layerlab::cli {
namespace {

struct ApplyArgs {
  std::string model;
  std::string plan;
  std::vector<std::string> donors;
  std::string out;
  bool dequantize = false;
  std::string export_mergekit;
};

void run_apply(const ApplyArgs& args) {
  ModelFile host = load_model(args.model);
  ModelConfig host_cfg = read_model_config(host);
  std::vector<ModelFile> donors;
  std::vector<ModelConfig> donor_cfgs;
  PlanLimits limits{host_cfg.n_layer, {}};
  for (const auto& path : args.donors) {
    donors.push_back(load_model(path));
    donor_cfgs.push_back(read_model_config(donors.back()));
    limits.donor_layers.push_back(donor_cfgs.back().n_layer);
  }
  Plan plan = load_plan_spec(args.plan, limits);
  check_transplants(plan, host_cfg, donor_cfgs);

  MaterializeInput input{&host, {}, args.model};
  for (const auto& d : donors) input.donors.push_back(&d);
  ModelFile out = materialize_plan(input, plan);
  SaveOptions options;
  options.dequantize = args.dequantize;
  auto written = save_model(out, args.out, options);

  if (!args.export_mergekit.empty()) {
    std::vector<std::string> names = {args.model};
    names.insert(names.end(), args.donors.begin(), args.donors.end());
    std::string tmp = args.export_mergekit + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary);
      f << plan_to_mergekit_yaml(plan, names);
      if (!f) throw Error(args.export_mergekit + ": cannot write");
    }
    if (std::rename(tmp.c_str(), args.export_mergekit.c_str()) != 0) throw Error(args.export_mergekit + ": cannot rename into place");
  }
  std::printf("%s: %zu slots (%s) from %d layers -> %s\n", args.model.c_str(), plan.slots.size(),
              plan.to_string().c_str(), host_cfg.n_layer, args.out.c_str());
}

CommandRegistrar registrar(50, [](CLI::App& app) {
  auto args = std::make_shared<ApplyArgs>();
  CLI::App* cmd = app.add_subcommand("apply", "Write a model whose decoder layers follow a plan (GGUF file or safetensors directory)");
  cmd->add_option("model", args->model, "Source model (GGUF, safetensors directory, llama2.c checkpoint)")->required();
  cmd->add_option("--plan,-p", args->plan, "Plan text (e.g. dup:2,4 or 0-3,2-5) or a mergekit YAML file")->required();
  cmd->add_option("--donor", args->donors, "Donor model for donorK: slots (repeat for donor2, ...)");
  cmd->add_option("-o,--output", args->out, "Output: NAME.gguf, or a directory for safetensors")->required();
  cmd->add_flag("--dequantize", args->dequantize, "Safetensors output: write quantized tensors as F32");
  cmd->add_option("--export-mergekit", args->export_mergekit, "Also write the plan as mergekit passthrough YAML");
  cmd->callback([args] { run_apply(*args); });
});

}  // namespace
}  // namespace layerlab::cli
