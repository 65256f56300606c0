#include "layerlab/cli/eval_options.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "layerlab/io/error.h"
#include "layerlab/io/text_file.h"
#include "layerlab/scan/scan_summary.h"

namespace layerlab::cli {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int sig) {
  g_interrupted.store(true);
  std::signal(sig, SIG_DFL);
}

}  // namespace

void WorkloadOptions::add_to(CLI::App* cmd) {
  cmd->add_option("--probes", probes, "Probe file (JSON Lines: prompt + answer, or prompt + choices + answer); repeatable");
  cmd->add_option("--text", texts, "Plain-text file scored by perplexity as llama-perplexity does; repeatable");
  cmd->add_option("--tasks", tasks, "Keep only probe items of these tasks (comma-separated)")->delimiter(',');
  cmd->add_option("--ctx", ctx, "Perplexity chunk length in tokens (default: the training context, at most 512)")
      ->check(CLI::Range(4, 1 << 20));
  cmd->add_option("--batch", batch, "Sequences run together in one batch")->check(CLI::Range(1, 4096));
}

void WorkloadOptions::require_some() const {
  if (probes.empty() && texts.empty()) throw Error("give at least one --probes or --text file to score");
}

Evaluator WorkloadOptions::build(const Tokenizer& tokenizer, const ModelConfig& config) const {
  EvalOptions eo;
  eo.max_batch_sequences = batch;
  Evaluator ev(tokenizer, eo);
  for (const auto& p : probes) {
    ProbeSet set = read_probe_file(p);
    if (!tasks.empty()) {
      std::erase_if(set.items, [&](const ProbeItem& item) {
        return std::find(tasks.begin(), tasks.end(), item.task) == tasks.end();
      });
      if (set.items.empty()) throw Error(p + ": no items of the tasks given by --tasks");
    }
    ev.add_probes(set);
  }
  const int chunk = ctx > 0 ? ctx : std::min(config.n_ctx_train > 0 ? config.n_ctx_train : 512, 512);
  for (const auto& t : texts) ev.add_perplexity(std::filesystem::path(t).stem().string(), read_whole_file(t, "text file"), t, chunk);
  return ev;
}

const std::atomic<bool>* install_interrupt_flag() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  return &g_interrupted;
}

void print_comparison(const nlohmann::json& header, const std::vector<ScanRecord>& records) {
  const auto rows = summarize_scan(header, records);
  for (size_t m = 0; m < header["metrics"].size(); ++m) {
    const std::string name = header["metrics"][m].value("name", "");
    const bool accuracy = header["metrics"][m].value("kind", "") == "accuracy";
    std::printf("%s (%s, %zu items)\n", name.c_str(), accuracy ? "accuracy" : "perplexity",
                header["metrics"][m]["item_ids"].size());
    for (size_t r = 0; r < rows.size(); ++r) {
      const MetricSummary& s = rows[r].metrics[m];
      std::string line = fmt::format("  {:<20} {}", rows[r].key, format_value(s));
      if (rows[r].kind != "baseline") line += "   change " + format_delta(s);
      std::printf("%s\n", line.c_str());
      if (accuracy) {
        const auto tasks = task_breakdown(header, records[0], records[r], name);
        if (tasks.size() > 1)
          for (const TaskSummary& t : tasks) {
            std::string tl = fmt::format("      {:<16} {:.3f} [{:.3f}, {:.3f}] (n={})", t.task, t.value.mean, t.value.lo,
                                         t.value.hi, t.value.n);
            if (rows[r].kind != "baseline")
              tl += fmt::format("   change {:+.3f} [{:+.3f}, {:+.3f}]{}", t.delta.mean, t.delta.lo, t.delta.hi,
                                t.delta.excludes_zero() ? " *" : "");
            std::printf("%s\n", tl.c_str());
          }
      }
    }
  }
  std::printf("95%% intervals; changes are paired over the same items; * marks a change whose interval excludes 0.\n");
  std::fflush(stdout);
}

}  // namespace layerlab::cli
