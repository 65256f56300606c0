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
  int64_t slots_run = 0;     // slot executions over prefill-only batches
  int64_t slots_shared = 0;  // of the configurations' slots, those taken from the shared prefix
};

struct ScanRunOptions {
  // Configurations that begin with the baseline's first slots reuse the baseline's residual
  // stream at that boundary for prefill-only work (texts, choices) when it fits this budget.
  bool share_prefix = true;
  int64_t max_prefix_bytes = int64_t{2} << 30;
};

// Leading slots of `plan` that are the model's own layers in order, first pass (what a
// configuration shares with the baseline): for dup:I,J it is J, for del:I-J it is I.
int shared_prefix_slots(const Plan& plan);

// `base` gives threads and activation mode; each configuration sets the plan and the experts
// count. Work shared by all configurations (tokenization, the baseline, the layers before a
// block for prefill-only work) is done once: configurations run in order of their shared
// prefix so the baseline's residual stream only moves forward. `stop`
// is checked between batches: the running configuration is then dropped (not stored) and the
// result says interrupted. `bar` (optional) shows progress weighted by each configuration's cost.
ScanRunResult run_scan(const ModelFile& file, const ModelConfig& config, const EngineOptions& base,
                       const Evaluator& evaluator, const std::vector<ScanConfig>& configs, ScanLog& log,
                       ProgressBar* bar = nullptr, const std::atomic<bool>* stop = nullptr,
                       const ScanRunOptions& options = {});

// Relative cost of scoring a configuration (slots executed, experts computed).
double scan_config_cost(const ModelConfig& config, const ScanConfig& c);

}  // namespace layerlab
