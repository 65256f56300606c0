// Options shared by `eval` and `scan`: what to score (--probes, --text) and how to run the
// model (--threads, --exact), plus printing a comparison with the baseline.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "layerlab/eval/evaluator.h"
#include "layerlab/model/config.h"
#include "layerlab/scan/scan_log.h"

namespace layerlab::cli {

struct WorkloadOptions {
  std::vector<std::string> probes;  // JSONL probe files
  std::vector<std::string> texts;   // plain-text files scored by perplexity
  std::vector<std::string> tasks;   // keep only probe items of these tasks (empty: all)
  int ctx = 0;                      // perplexity chunk length; 0: min(training context, 512)
  int batch = 32;                   // sequences per batch

  void add_to(CLI::App* cmd);
  // Throws Error when neither --probes nor --text was given.
  void require_some() const;
  // Reads every file and tokenizes it once.
  Evaluator build(const Tokenizer& tokenizer, const ModelConfig& config) const;
};

// Raises the returned flag on the first SIGINT / SIGTERM (the second one ends the process as usual).
const std::atomic<bool>* install_interrupt_flag();

// Prints each metric of `summary` rows: value with CI and, for non-baseline rows, the paired
// change from the baseline, followed by the per-task accuracies.
void print_comparison(const nlohmann::json& header, const std::vector<ScanRecord>& records);

}  // namespace layerlab::cli
