// Comparisons of two logit vectors over the same vocabulary: the measures used to check an
// engine against reference logits and to quantify how much a layer plan changes a model.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace layerlab {

// max_i |a_i - b_i|. Throws layerlab::Error if the sizes differ.
double max_abs_diff(std::span<const float> a, std::span<const float> b);

// Index of the largest logit; the lowest index wins ties (greedy decoding's rule).
int32_t argmax(std::span<const float> logits);

// The k largest logits' indices, largest first, ties by lower index.
std::vector<int32_t> top_k_ids(std::span<const float> logits, int k);

// log softmax, computed in double.
std::vector<double> log_softmax(std::span<const float> logits);

// KL(p || q) in nats, where p = softmax(reference), q = softmax(candidate), full vocabulary.
double kl_divergence(std::span<const float> reference, std::span<const float> candidate);

// KL over a reference that kept only some entries (e.g. a stored top-10 of [id, logit]):
// both distributions are restricted to those ids and renormalised there, then KL(p || q).
// Throws layerlab::Error if an id is outside the candidate's vocabulary.
double kl_divergence_on_support(std::span<const std::pair<int32_t, float>> reference,
                                std::span<const float> candidate);

}  // namespace layerlab
