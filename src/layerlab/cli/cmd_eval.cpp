// `layerlab eval --model M --probes P.jsonl [--text T.txt] [--plan PLAN]`: scores the model as
// trained and, when a plan or an experts count is given, the changed model on the same items,
// and prints both with 95% intervals and the paired change. -o keeps every item's score in a
// scan-format results file (readable by `layerlab report`).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "layerlab/cli/commands.h"
#include "layerlab/cli/eval_options.h"
#include "layerlab/cli/plan_options.h"
#include "layerlab/io/atomic_file.h"
#include "layerlab/io/error.h"
#include "layerlab/io/model_loader.h"
#include "layerlab/scan/scan_log.h"
#include "layerlab/text/tokenizer.h"
#include "layerlab/util/progress.h"

namespace layerlab::cli {
namespace {

struct EvalCliOptions {
  std::string model;
  WorkloadOptions work;
  PlanOptions plan;
  int experts_per_token = 0;
  bool no_baseline = false;
  bool exact = false;
  bool quiet = false;
  int threads = 0;
  std::string out;
};

void run_eval(const EvalCliOptions& opt) {
  opt.work.require_some();
  const ModelFile file = load_model(opt.model);
  const ModelConfig config = read_model_config(file);
  const Tokenizer tokenizer = Tokenizer::from_model(file);
  const Evaluator evaluator = opt.work.build(tokenizer, config);

  EngineOptions eo;
  eo.threads = opt.threads;
  eo.mode = opt.exact ? ActivationMode::kExact : ActivationMode::kGgml;
  std::vector<std::unique_ptr<ModelFile>> donors;
  opt.plan.resolve(config, donors, eo);
  if (opt.experts_per_token > 0 && config.n_expert == 0)
    throw Error(fmt::format("--experts-per-token: {} has no mixture-of-experts layers", config.arch_name));

  std::vector<ScanConfig> configs;
  ScanConfig base;
  base.key = "baseline";
  base.baseline = true;
  base.plan = Plan::identity(config.n_layer);
  const bool changed = !eo.plan.is_identity(config.n_layer) || eo.plan.repeat_scale != 1.0f || opt.experts_per_token > 0;
  if (!changed || !opt.no_baseline) configs.push_back(base);
  if (changed) {
    ScanConfig c;
    c.key = eo.plan.is_identity(config.n_layer) ? "model" : eo.plan.to_string();
    if (opt.experts_per_token > 0) c.key += fmt::format(" experts:{}", opt.experts_per_token);
    c.plan = eo.plan;
    c.experts_per_token = opt.experts_per_token;
    configs.push_back(c);
  }

  const nlohmann::json header = scan_header(opt.model, file.file_bytes(), opt.exact ? "exact" : "ggml",
                                            evaluator.metrics(), {{"kind", "eval"}, {"n_layer", config.n_layer}});
  const std::atomic<bool>* stop = install_interrupt_flag();
  std::vector<ScanRecord> records;
  ProgressBar bar("eval", static_cast<double>(configs.size() * evaluator.n_items()), !opt.quiet);
  double done = 0;
  for (const ScanConfig& c : configs) {
    EngineOptions ceo = eo;
    ceo.plan = c.plan;
    ceo.experts_per_token = c.experts_per_token;
    ceo.n_ctx = evaluator.positions_needed();
    Engine engine(file, config, ceo);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<MetricScores> scores;
    try {
      scores = evaluator.score(engine, [&](int64_t k) { bar.update(done += static_cast<double>(k), c.key); }, stop);
    } catch (const EvalInterrupted&) {
      bar.finish("interrupted");
      throw Error("eval: interrupted; nothing written");
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ScanRecord r;
    r.key = c.key;
    r.line = scan_record_line(c, evaluator.metrics(), scores, seconds);
    for (size_t m = 0; m < scores.size(); ++m) r.scores[evaluator.metrics()[m].name] = scores[m].items;
    records.push_back(std::move(r));
  }
  bar.finish();
  if (!opt.out.empty()) {
    AtomicFile out(opt.out);
    std::string text = header.dump() + "\n";
    for (const auto& r : records) text += r.line.dump() + "\n";
    out.write(text.data(), text.size());
    out.commit();
  }
  if (records.front().key == "baseline") {
    print_comparison(header, records);
  } else {
    // No baseline: values only.
    ScanRecord as_base = records.front();
    as_base.key = "baseline";
    std::vector<ScanRecord> only = {as_base};
    print_comparison(header, only);
  }
}

CommandRegistrar registrar(60, [](CLI::App& app) {
  auto opt = std::make_shared<EvalCliOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "Score a model (optionally under a layer plan) on probes and texts, with confidence intervals");
  cmd->add_option("--model,-m", opt->model, "Model file (GGUF, safetensors directory or llama2.c checkpoint)")->required();
  opt->work.add_to(cmd);
  opt->plan.add_to(cmd);
  cmd->add_option("--experts-per-token", opt->experts_per_token,
                  "MoE models: experts run per token, 1..expert_count (default: the model's expert_used_count)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-baseline", opt->no_baseline, "Score only the changed model (no paired comparison)");
  cmd->add_option("-o,--output", opt->out, "Write every item's score as a results file (JSON Lines, as scan writes)");
  cmd->add_option("--threads,-t", opt->threads, "Threads (default: one per hardware thread)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--exact", opt->exact, "F32 activations instead of llama.cpp's activation quantization");
  cmd->add_flag("--quiet,-q", opt->quiet, "No progress line");
  cmd->callback([opt] { run_eval(*opt); });
});

}  // namespace
}  // namespace layerlab::cli
