// Runs a scan: every configuration not yet in the results log is scored and appended.
#pragma once

#include <atomic>

#include "layerlab/eval/evaluator.h"
#include "layerlab/io/model_file.h"
#include "layerlab/runtime/engine.h"
#include "layerlab/scan/scan_log.h"
#include "layerlab/scan/sweep.h"
#include "layerlab/util/progress.h"

namespace layerlab {

struct ScanRunResult {
  int ran = 0;        // configurations scored now
  int resumed = 0;    // configurations found in the log already
  bool interrupted = false;
};

// `base` gives threads and activation mode; each configuration sets the plan and the experts
// count. Work shared by all configurations (tokenization, the baseline) is done once. `stop`
// is checked between batches: the running configuration is then dropped (not stored) and the
// result says interrupted. `bar` (optional) shows progress weighted by each configuration's cost.
ScanRunResult run_scan(const ModelFile& file, const ModelConfig& config, const EngineOptions& base,
                       const Evaluator& evaluator, const std::vector<ScanConfig>& configs, ScanLog& log,
                       ProgressBar* bar = nullptr, const std::atomic<bool>* stop = nullptr);

// Relative cost of scoring a configuration (slots executed, experts computed).
double scan_config_cost(const ModelConfig& config, const ScanConfig& c);

}  // namespace layerlab
