// `layerlab scan --model M --probes P.jsonl [--text T.txt] [--sweep dup|del|experts]`: scores
// the baseline and every configuration of a sweep on the same items, appending each result to
// a JSON Lines file as soon as it is done; running the same command again resumes. Ends with
// the configurations ranked by their paired change from the baseline.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "layerlab/cli/commands.h"
#include "layerlab/cli/eval_options.h"
#include "layerlab/io/error.h"
#include "layerlab/io/model_loader.h"
#include "layerlab/scan/scan_runner.h"
#include "layerlab/scan/scan_summary.h"
#include "layerlab/text/tokenizer.h"

namespace layerlab::cli {
namespace {

struct ScanCliOptions {
  std::string model;
  WorkloadOptions work;
  std::string sweep = "dup";
  int min_block = 1, max_block = 0, passes = 1;
  std::string layers;   // "A-B"
  std::string period;   // "N" or "auto"
  std::string kind;     // "linear" / "full"
  std::string experts;  // "1-16" or "1,2,4,8"
  std::string out;
  bool restart = false, exact = false, quiet = false, dry_run = false, no_share = false;
  int threads = 0, top = 15;
};

// "A-B" or "A" -> [A, B]; "a,b,c-d" lists for --experts.
std::vector<int> parse_int_list(const std::string& text, const char* option) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(pos, comma - pos);
    int a = 0, b = 0;
    char dash = 0;
    const int got = std::sscanf(item.c_str(), "%d%c%d", &a, &dash, &b);
    if (got == 1) b = a;
    else if (got != 3 || dash != '-' || b < a)
      throw Error(fmt::format("{}: '{}' is not a number or a range A-B", option, item));
    if (b - a > 100000) throw Error(fmt::format("{}: range '{}' is too long", option, item));
    for (int k = a; k <= b; ++k) out.push_back(k);
    pos = comma + 1;
  }
  return out;
}

SweepOptions sweep_options(const ScanCliOptions& opt, const ModelConfig& config) {
  SweepOptions s;
  if (opt.sweep == "dup") s.kind = SweepKind::kDuplicate;
  else if (opt.sweep == "del") s.kind = SweepKind::kDelete;
  else if (opt.sweep == "experts") s.kind = SweepKind::kExperts;
  else throw Error("--sweep: '" + opt.sweep + "' is not one of dup, del, experts");
  s.min_block = opt.min_block;
  s.max_block = opt.max_block;
  s.passes = opt.passes;
  if (!opt.layers.empty()) {
    const auto l = parse_int_list(opt.layers, "--layers");
    s.first_layer = l.front();
    s.last_layer = l.back();
  }
  if (opt.period == "auto") {
    s.period = auto_period(config);
  } else if (!opt.period.empty()) {
    const auto p = parse_int_list(opt.period, "--period");
    if (p.size() != 1 || p[0] < 1) throw Error("--period: give a positive number or 'auto'");
    s.period = p[0];
  }
  if (opt.kind == "linear") s.only_kind = MixerKind::kLinearAttention;
  else if (opt.kind == "full" || opt.kind == "attention") s.only_kind = MixerKind::kAttention;
  else if (!opt.kind.empty()) throw Error("--kind: '" + opt.kind + "' is not one of linear, full");
  if (s.only_kind && config.full_attention_interval <= 1 && *s.only_kind == MixerKind::kLinearAttention)
    throw Error(fmt::format("--kind linear: {} has no linear-attention layers", config.arch_name));
  if (!opt.experts.empty()) s.experts = parse_int_list(opt.experts, "--experts");
  return s;
}

nlohmann::json sweep_json(const ScanCliOptions& opt, const ModelConfig& config) {
  nlohmann::json j{{"kind", opt.sweep}, {"min_block", opt.min_block}, {"max_block", opt.max_block},
                   {"passes", opt.passes}, {"n_layer", config.n_layer}};
  if (config.n_expert_used > 0) j["trained_experts_per_token"] = config.n_expert_used;
  if (!opt.layers.empty()) j["layers"] = opt.layers;
  if (!opt.period.empty()) j["period"] = opt.period;
  if (!opt.kind.empty()) j["layer_kind"] = opt.kind;
  if (!opt.experts.empty()) j["experts"] = opt.experts;
  return j;
}

int run_scan_command(const ScanCliOptions& opt) {
  const ModelFile file = load_model(opt.model);
  const ModelConfig config = read_model_config(file);
  const std::vector<ScanConfig> configs = make_sweep(config, sweep_options(opt, config));
  if (opt.dry_run) {
    for (const auto& c : configs) std::printf("%s\t%s\n", c.key.c_str(), c.plan.to_string().c_str());
    std::printf("%zu configurations (baseline included)\n", configs.size());
    return 0;
  }
  opt.work.require_some();
  const Tokenizer tokenizer = Tokenizer::from_model(file);
  const Evaluator evaluator = opt.work.build(tokenizer, config);
  const std::string out = !opt.out.empty() ? opt.out
                                           : fmt::format("{}.{}.scan.jsonl", std::filesystem::path(opt.model).stem().string(), opt.sweep);
  const std::string mode = opt.exact ? "exact" : "ggml";
  ScanLog log(out, scan_header(opt.model, file.file_bytes(), mode, evaluator.metrics(), sweep_json(opt, config)), opt.restart);

  EngineOptions base;
  base.threads = opt.threads;
  base.mode = opt.exact ? ActivationMode::kExact : ActivationMode::kGgml;
  const std::atomic<bool>* stop = install_interrupt_flag();
  double total = 0;
  for (const auto& c : configs) total += scan_config_cost(config, c);
  ProgressBar bar("scan", total, !opt.quiet);
  ScanRunOptions run_options;
  run_options.share_prefix = !opt.no_share;
  const ScanRunResult r = run_scan(file, config, base, evaluator, configs, log, &bar, stop, run_options);
  bar.finish(r.interrupted ? "interrupted" : "");
  const int stored = r.ran + r.resumed;
  if (r.interrupted) {
    std::fprintf(stderr, "scan: interrupted; %d of %zu configurations are stored in %s; run the same command again to resume\n",
                 stored, configs.size(), out.c_str());
    return 130;
  }
  std::fprintf(stderr, "scan: %d configurations scored now, %d found in %s already\n", r.ran, r.resumed, out.c_str());
  if (r.slots_shared > 0)
    std::fprintf(stderr, "scan: prefill-only work (texts, choices) reused the baseline for %lld of %lld layer passes\n",
                 static_cast<long long>(r.slots_shared), static_cast<long long>(r.slots_shared + r.slots_run));
  nlohmann::json header;
  std::vector<ScanRecord> records;
  ScanLog::read(out, header, records);
  const auto rows = summarize_scan(header, records);
  for (const auto& m : rows.front().metrics) {
    std::printf("\nranked by %s (%s), top %d:\n", m.name.c_str(), m.accuracy ? "accuracy change" : "perplexity ratio", opt.top);
    std::printf("%s", format_scan_table(rows, m.name, opt.top, config.n_layer).c_str());
  }
  std::printf("\n95%% intervals, paired over the same items; * marks a change whose interval excludes 0.\n"
              "Results: %s  (layerlab report %s -o report.html)\n", out.c_str(), out.c_str());
  return 0;
}

CommandRegistrar registrar(70, [](CLI::App& app) {
  auto opt = std::make_shared<ScanCliOptions>();
  CLI::App* cmd = app.add_subcommand("scan", "Score every block duplication / deletion (or experts-per-token count) against the baseline; resumable");
  cmd->add_option("--model,-m", opt->model, "Model file (GGUF, safetensors directory or llama2.c checkpoint)")->required();
  opt->work.add_to(cmd);
  cmd->add_option("--sweep", opt->sweep, "dup: run each block once more; del: delete each block; experts: each experts-per-token count")
      ->capture_default_str();
  cmd->add_option("--min-block", opt->min_block, "Shortest block, in layers")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-block", opt->max_block, "Longest block, in layers (default: no limit)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--layers", opt->layers, "Blocks lie within layers A-B");
  cmd->add_option("--passes", opt->passes, "dup: extra passes of the block (1: run it twice in all)")->check(CLI::Range(1, 16))->capture_default_str();
  cmd->add_option("--period", opt->period, "Blocks start and end on whole periods of N layers; 'auto': the hybrid pattern's period");
  cmd->add_option("--kind", opt->kind, "Only blocks whose layers all have this mixer: linear or full");
  cmd->add_option("--experts", opt->experts, "experts sweep: counts to try, e.g. 1-16 or 1,2,4,8 (default: 1..expert_count)");
  cmd->add_option("-o,--output", opt->out, "Results file, JSON Lines (default: MODEL.SWEEP.scan.jsonl); resumed if it exists");
  cmd->add_flag("--restart", opt->restart, "Replace an existing results file instead of resuming it");
  cmd->add_flag("--dry-run", opt->dry_run, "List the configurations and exit");
  cmd->add_flag("--no-share", opt->no_share, "Recompute the layers a configuration shares with the baseline (for timing comparisons)");
  cmd->add_option("--top", opt->top, "Rows in the final ranking")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--threads,-t", opt->threads, "Threads (default: one per hardware thread)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--exact", opt->exact, "F32 activations instead of llama.cpp's activation quantization");
  cmd->add_flag("--quiet,-q", opt->quiet, "No progress line");
  cmd->callback([opt] {
    const int rc = run_scan_command(*opt);
    if (rc != 0) throw ExitStatus{rc};
  });
});

}  // namespace
}  // namespace layerlab::cli
