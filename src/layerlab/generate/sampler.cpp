#include "layerlab/generate/sampler.h"

#include <algorithm>
#include <cmath>

#include "layerlab/io/error.h"

namespace layerlab {

int32_t greedy_token(std::span<const float> logits) {
  if (logits.empty()) throw Error("sampler: empty logits row");
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = i;  // strict: the lowest id keeps a tie
  }
  return static_cast<int32_t>(best);
}

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {}

double Sampler::uniform01() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

int32_t Sampler::sample(std::span<const float> logits) {
  if (params_.temperature <= 0.0f) return greedy_token(logits);
  if (logits.empty()) throw Error("sampler: empty logits row");

  candidates_.clear();
  for (size_t i = 0; i < logits.size(); ++i) {
    // -inf marks a banned token; NaN is treated the same so it can never be drawn.
    if (std::isnan(logits[i]) || logits[i] == -INFINITY) continue;
    candidates_.push_back({static_cast<int32_t>(i), logits[i]});
  }
  if (candidates_.empty()) throw Error("sampler: no finite logit to sample from");
  // Descending logit, ascending id on ties: makes the cut-offs below deterministic.
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  size_t keep = candidates_.size();
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < keep) {
    keep = static_cast<size_t>(params_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + keep, candidates_.end(), by_logit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  candidates_.resize(keep);
  if (std::isinf(candidates_[0].logit)) return candidates_[0].id;  // +inf: certain

  // Top-p: the smallest prefix whose probability (temperature 1) reaches top_p.
  if (params_.top_p < 1.0f) {
    const double max_logit = candidates_[0].logit;
    probs_.resize(keep);
    double sum = 0.0;
    for (size_t i = 0; i < keep; ++i) {
      probs_[i] = std::exp(static_cast<double>(candidates_[i].logit) - max_logit);
      sum += probs_[i];
    }
    double cumulative = 0.0;
    size_t n = 0;
    while (n < keep) {
      cumulative += probs_[n] / sum;
      ++n;
      if (cumulative >= params_.top_p) break;
    }
    candidates_.resize(std::max<size_t>(n, 1));
  }

  // Temperature, then one draw by inverse CDF.
  const double max_scaled = candidates_[0].logit / static_cast<double>(params_.temperature);
  probs_.resize(candidates_.size());
  double sum = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    probs_[i] = std::exp(candidates_[i].logit / static_cast<double>(params_.temperature) - max_scaled);
    sum += probs_[i];
  }
  const double target = uniform01() * sum;
  double cumulative = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cumulative += probs_[i];
    if (target < cumulative) return candidates_[i].id;
  }
  return candidates_.back().id;  // rounding left target at the very top
}

}  // namespace layerlab
