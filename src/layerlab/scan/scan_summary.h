// What a scan's per-item scores say: for each configuration and metric, the value with its
// confidence interval and the paired difference from the baseline (same items), as tables
// for the terminal and as data for the HTML report.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layerlab/eval/stats.h"
#include "layerlab/scan/scan_log.h"

namespace layerlab {

struct MetricSummary {
  std::string name;
  bool accuracy = true;  // else mean NLL per token (shown as perplexity)
  Interval value;        // mean item score
  Interval delta;        // paired: configuration - baseline (for NLL, lower is better)
  // Higher-is-better change in the metric's own unit: accuracy points, or -Δ NLL.
  double gain() const { return accuracy ? delta.mean : -delta.mean; }
  bool significant() const { return delta.excludes_zero(); }
};

struct ConfigSummary {
  std::string key;
  std::string kind;          // "baseline" / "dup" / "del" / "experts"
  int start = -1, end = -1;  // block (dup / del), inclusive
  int experts_per_token = 0;
  std::string plan;
  int slots = 0;             // layers executed (0: the model as trained)
  std::vector<MetricSummary> metrics;  // in header order
};

// Throws Error if the log has no baseline record or a record's item counts do not match.
std::vector<ConfigSummary> summarize_scan(const nlohmann::json& header, const std::vector<ScanRecord>& records,
                                          double level = 0.95);

// Text for a metric value: "0.470 [0.372, 0.568]" or "PPL 94.73".
std::string format_value(const MetricSummary& m);
// Text for a change: "+0.050 [+0.010, +0.090] *" (* when the interval excludes zero); for NLL
// also the perplexity ratio.
std::string format_delta(const MetricSummary& m);

// A terminal table of the configurations sorted by the gain on `metric` (best first; all rows
// when top <= 0), with each block's depth when n_layer > 0. Throws Error for an unknown metric name.
std::string format_scan_table(const std::vector<ConfigSummary>& rows, const std::string& metric, int top,
                              int n_layer = 0);
// "44-56%": the share of the layer stack a block [start, end] covers; "" without a block.
std::string block_depth(int start, int end, int n_layer);

// Per task of a metric's items: the configuration's mean and its paired change from the
// baseline over that task's items (tasks in order of first appearance; empty if the metric
// is unknown or the counts do not match).
struct TaskSummary {
  std::string task;
  Interval value, delta;
};
std::vector<TaskSummary> task_breakdown(const nlohmann::json& header, const ScanRecord& baseline,
                                        const ScanRecord& record, const std::string& metric);

}  // namespace layerlab
