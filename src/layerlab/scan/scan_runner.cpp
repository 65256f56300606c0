#include "layerlab/scan/scan_runner.h"

#include <chrono>

#include <fmt/format.h>

namespace layerlab {

double scan_config_cost(const ModelConfig& config, const ScanConfig& c) {
  const double slots = c.plan.slots.empty() ? config.n_layer : static_cast<double>(c.plan.slots.size());
  if (c.experts_per_token > 0 && config.n_expert_used > 0)
    return slots * (0.5 + 0.5 * c.experts_per_token / config.n_expert_used);
  return slots;
}

ScanRunResult run_scan(const ModelFile& file, const ModelConfig& config, const EngineOptions& base,
                       const Evaluator& evaluator, const std::vector<ScanConfig>& configs, ScanLog& log,
                       ProgressBar* bar, const std::atomic<bool>* stop) {
  ScanRunResult result;
  double total = 0, done = 0;
  for (const auto& c : configs) total += scan_config_cost(config, c);
  const double items = static_cast<double>(std::max<int64_t>(1, evaluator.n_items()));
  for (const ScanConfig& c : configs) {
    const double cost = scan_config_cost(config, c);
    if (log.find(c.key)) {
      ++result.resumed;
      done += cost;
      continue;
    }
    EngineOptions eo = base;
    eo.plan = c.plan;
    eo.experts_per_token = c.experts_per_token;
    eo.n_ctx = evaluator.positions_needed();
    const auto t0 = std::chrono::steady_clock::now();
    Engine engine(file, config, eo);
    double items_done = 0;
    const auto on_items = [&](int64_t k) {
      items_done += static_cast<double>(k);
      if (bar) bar->update(done + cost * items_done / items, fmt::format("{} (config {} of {})", c.key,
                                                                         result.ran + result.resumed + 1, configs.size()));
    };
    std::vector<MetricScores> scores;
    try {
      scores = evaluator.score(engine, on_items, stop);
    } catch (const EvalInterrupted&) {
      result.interrupted = true;
      return result;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log.append(scan_record_line(c, evaluator.metrics(), scores, seconds));
    ++result.ran;
    done += cost;
    if (bar) bar->update(done, c.key);
  }
  return result;
}

}  // namespace layerlab
