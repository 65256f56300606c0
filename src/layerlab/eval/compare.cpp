#include "layerlab/eval/compare.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "layerlab/io/error.h"

namespace layerlab {
namespace {

double log_sum_exp(std::span<const double> x) {
  double m = -INFINITY;
  for (double v : x) m = std::max(m, v);
  double s = 0.0;
  for (double v : x) s += std::exp(v - m);
  return m + std::log(s);
}

// KL(p || q) for two vectors of unnormalised log-probabilities of the same length.
double kl_from_logits(std::span<const double> p_logits, std::span<const double> q_logits) {
  const double lp = log_sum_exp(p_logits), lq = log_sum_exp(q_logits);
  double kl = 0.0;
  for (size_t i = 0; i < p_logits.size(); ++i) {
    const double log_p = p_logits[i] - lp, log_q = q_logits[i] - lq;
    kl += std::exp(log_p) * (log_p - log_q);
  }
  return std::max(kl, 0.0);  // rounding can give -1e-17
}

void check_same_size(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size())
    throw Error("logit comparison: vocabulary sizes differ (" + std::to_string(a.size()) + " vs " +
                std::to_string(b.size()) + ")");
}

}  // namespace

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  check_same_size(a, b);
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return m;
}

int32_t argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
  return best;
}

std::vector<int32_t> top_k_ids(std::span<const float> logits, int k) {
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  const size_t n = std::min(ids.size(), static_cast<size_t>(std::max(k, 0)));
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(),
                    [&](int32_t a, int32_t b) {
                      const float la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
                      return la > lb || (la == lb && a < b);
                    });
  ids.resize(n);
  return ids;
}

std::vector<double> log_softmax(std::span<const float> logits) {
  std::vector<double> out(logits.begin(), logits.end());
  const double l = log_sum_exp(out);
  for (double& v : out) v -= l;
  return out;
}

double kl_divergence(std::span<const float> reference, std::span<const float> candidate) {
  check_same_size(reference, candidate);
  std::vector<double> p(reference.begin(), reference.end()), q(candidate.begin(), candidate.end());
  return kl_from_logits(p, q);
}

double kl_divergence_on_support(std::span<const std::pair<int32_t, float>> reference,
                                std::span<const float> candidate) {
  std::vector<double> p, q;
  for (const auto& [id, logit] : reference) {
    if (id < 0 || static_cast<size_t>(id) >= candidate.size())
      throw Error("logit comparison: token id " + std::to_string(id) + " outside the vocabulary of " +
                  std::to_string(candidate.size()));
    p.push_back(logit);
    q.push_back(candidate[static_cast<size_t>(id)]);
  }
  if (p.empty()) return 0.0;
  return kl_from_logits(p, q);
}

}  // namespace layerlab
