#include "layerlab/scan/scan_summary.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "layerlab/io/error.h"

namespace layerlab {

std::vector<ConfigSummary> summarize_scan(const nlohmann::json& header, const std::vector<ScanRecord>& records,
                                          double level) {
  const ScanRecord* base = nullptr;
  for (const auto& r : records)
    if (r.key == "baseline") base = &r;
  if (!base) throw Error("scan results: no baseline record yet");
  std::vector<ConfigSummary> out;
  for (const auto& r : records) {
    ConfigSummary s;
    s.key = r.key;
    s.kind = r.line.value("kind", "");
    s.start = r.line.value("start", -1);
    s.end = r.line.value("end", -1);
    s.experts_per_token = r.line.value("experts_per_token", 0);
    s.plan = r.line.value("plan", "");
    s.slots = r.line.value("slots", 0);
    for (const auto& m : header["metrics"]) {
      const std::string name = m.value("name", "");
      auto it = r.scores.find(name);
      auto bt = base->scores.find(name);
      if (it == r.scores.end() || bt == base->scores.end())
        throw Error(fmt::format("scan results: '{}' has no scores for '{}'", r.key, name));
      if (it->second.size() != bt->second.size())
        throw Error(fmt::format("scan results: '{}' has {} scores for '{}', the baseline {}", r.key,
                                it->second.size(), name, bt->second.size()));
      MetricSummary ms;
      ms.name = name;
      ms.accuracy = m.value("kind", "accuracy") == "accuracy";
      ms.value = mean_interval(it->second, level);
      ms.delta = paired_difference(bt->second, it->second, level);
      s.metrics.push_back(ms);
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string format_value(const MetricSummary& m) {
  if (m.accuracy) return fmt::format("{:.3f} [{:.3f}, {:.3f}]", m.value.mean, m.value.lo, m.value.hi);
  return fmt::format("PPL {:.2f}", std::exp(m.value.mean));
}

std::string format_delta(const MetricSummary& m) {
  const char* mark = m.significant() ? " *" : "";
  if (m.accuracy) return fmt::format("{:+.3f} [{:+.3f}, {:+.3f}]{}", m.delta.mean, m.delta.lo, m.delta.hi, mark);
  return fmt::format("x{:.3f} [{:.3f}, {:.3f}]{}", std::exp(m.delta.mean), std::exp(m.delta.lo), std::exp(m.delta.hi),
                     mark);
}

std::string block_depth(int start, int end, int n_layer) {
  if (n_layer <= 0 || start < 0) return "";
  return fmt::format("{:.0f}-{:.0f}%", 100.0 * start / n_layer, 100.0 * (end + 1) / n_layer);
}

std::string format_scan_table(const std::vector<ConfigSummary>& rows, const std::string& metric, int top,
                              int n_layer) {
  if (rows.empty()) return "";
  size_t mi = rows[0].metrics.size();
  for (size_t i = 0; i < rows[0].metrics.size(); ++i)
    if (rows[0].metrics[i].name == metric) mi = i;
  if (mi == rows[0].metrics.size()) throw Error("no metric named '" + metric + "' in these results");
  std::vector<const ConfigSummary*> sorted;
  for (const auto& r : rows) sorted.push_back(&r);
  std::stable_sort(sorted.begin(), sorted.end(), [&](const ConfigSummary* a, const ConfigSummary* b) {
    return a->metrics[mi].gain() > b->metrics[mi].gain();
  });
  if (top > 0 && sorted.size() > static_cast<size_t>(top)) sorted.resize(static_cast<size_t>(top));
  std::string out = fmt::format("{:<18} {:>8} {:>6}", "configuration", "depth", "slots");
  for (const auto& m : rows[0].metrics)
    out += fmt::format("  {:<26} {:<30}", m.name, m.accuracy ? "change vs baseline (95% CI)" : "PPL ratio (95% CI)");
  while (out.back() == ' ') out.pop_back();
  out += "\n";
  for (const ConfigSummary* r : sorted) {
    out += fmt::format("{:<18} {:>8} {:>6}", r->key, block_depth(r->start, r->end, n_layer), r->slots);
    for (const auto& m : r->metrics) out += fmt::format("  {:<26} {:<30}", format_value(m), r->kind == "baseline" ? "" : format_delta(m));
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += "\n";
  }
  return out;
}

std::vector<TaskSummary> task_breakdown(const nlohmann::json& header, const ScanRecord& baseline,
                                        const ScanRecord& record, const std::string& metric) {
  std::vector<TaskSummary> out;
  for (const auto& m : header["metrics"]) {
    if (m.value("name", "") != metric || !m.contains("item_tasks")) continue;
    const auto tasks = m["item_tasks"].get<std::vector<std::string>>();
    auto it = record.scores.find(metric), bt = baseline.scores.find(metric);
    if (it == record.scores.end() || bt == baseline.scores.end() || it->second.size() != tasks.size() ||
        bt->second.size() != tasks.size())
      return out;
    std::vector<std::string> order;
    std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> by_task;
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (!by_task.count(tasks[i])) order.push_back(tasks[i]);
      by_task[tasks[i]].first.push_back(bt->second[i]);
      by_task[tasks[i]].second.push_back(it->second[i]);
    }
    for (const auto& t : order) {
      const auto& [base, cand] = by_task[t];
      out.push_back({t, mean_interval(cand), paired_difference(base, cand)});
    }
  }
  return out;
}

}  // namespace layerlab
