#include "layerlab/scan/scan_runner.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include <fmt/format.h>

namespace layerlab {

double scan_config_cost(const ModelConfig& config, const ScanConfig& c) {
  const double slots = c.plan.slots.empty() ? config.n_layer : static_cast<double>(c.plan.slots.size());
  if (c.experts_per_token > 0 && config.n_expert_used > 0)
    return slots * (0.5 + 0.5 * c.experts_per_token / config.n_expert_used);
  return slots;
}

int shared_prefix_slots(const Plan& plan) {
  int n = 0;
  for (const PlanSlot& s : plan.slots) {
    if (s.model != 0 || s.layer != n || s.pass != 0) break;
    ++n;
  }
  return n;
}

ScanRunResult run_scan(const ModelFile& file, const ModelConfig& config, const EngineOptions& base,
                       const Evaluator& evaluator, const std::vector<ScanConfig>& configs, ScanLog& log,
                       ProgressBar* bar, const std::atomic<bool>* stop, const ScanRunOptions& options) {
  ScanRunResult result;
  double total = 0, done = 0;
  for (const auto& c : configs) total += scan_config_cost(config, c);
  const double items = static_cast<double>(std::max<int64_t>(1, evaluator.n_items()));

  // Prefix a configuration shares with the baseline (0: none; the baseline itself and experts
  // counts, which change every MoE layer, share nothing).
  const auto prefix_of = [&](const ScanConfig& c) {
    if (c.baseline || c.experts_per_token > 0) return 0;
    return std::min(shared_prefix_slots(c.plan), config.n_layer);
  };
  const int64_t prefix_bytes = options.share_prefix ? evaluator.prefix_bytes(config.n_embd, config.n_vocab) : 0;
  const bool share = prefix_bytes > 0 && prefix_bytes <= options.max_prefix_bytes;
  std::vector<const ScanConfig*> order;
  for (const auto& c : configs) order.push_back(&c);
  if (share)
    std::stable_sort(order.begin(), order.end(), [&](const ScanConfig* a, const ScanConfig* b) {
      return (a->baseline ? -1 : prefix_of(*a)) < (b->baseline ? -1 : prefix_of(*b));
    });
  std::unique_ptr<Engine> baseline;
  Evaluator::SharedPrefix prefix;

  for (const ScanConfig* cp : order) {
    const ScanConfig& c = *cp;
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
      const int p = share ? prefix_of(c) : 0;
      if (p > 0) {
        if (!baseline) {
          EngineOptions bo = base;
          bo.plan = Plan::identity(config.n_layer);
          bo.experts_per_token = 0;
          bo.n_ctx = evaluator.positions_needed();
          baseline = std::make_unique<Engine>(file, config, bo);
        }
        evaluator.advance_prefix(*baseline, prefix, p);
        result.slots_shared += p;
      }
      result.slots_run += static_cast<int64_t>(c.plan.slots.size()) - p;
      scores = evaluator.score(engine, on_items, stop, p > 0 ? &prefix : nullptr);
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
