#include "layerlab/runtime/moe_ffn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "layerlab/io/error.h"
#include "layerlab/runtime/norms.h"

namespace layerlab {
namespace {

// llama.cpp clamps the sum of the selected weights from below before dividing (F16 min normal).
constexpr float kMinWeightSum = 6.103515625e-5f;

template <typename T>
T* sized(std::vector<T>& buffer, int64_t n) {
  buffer.resize(static_cast<size_t>(n));
  return buffer.data();
}

}  // namespace

void moe_route(const float* router_logits, int64_t rows, int n_expert, int k, float* probs,
               int32_t* selected, float* weights) {
  if (k < 1 || k > n_expert)
    throw Error("experts per token " + std::to_string(k) + " is outside 1.." + std::to_string(n_expert) +
                " (the model has " + std::to_string(n_expert) + " experts)");
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = router_logits + r * n_expert;
    float* p = probs + r * n_expert;
    // Softmax as ggml: exponentials in float, their sum in double, then one scale.
    float max = z[0];
    for (int e = 1; e < n_expert; ++e) max = std::max(max, z[e]);
    double sum = 0.0;
    for (int e = 0; e < n_expert; ++e) sum += (p[e] = std::exp(z[e] - max));
    const float inv = static_cast<float>(1.0 / sum);
    for (int e = 0; e < n_expert; ++e) p[e] *= inv;

    // Top-k by probability, descending; ties to the lower id (a stable order).
    int32_t* sel = selected + r * k;
    for (int i = 0; i < k; ++i) {
      int best = -1;
      for (int e = 0; e < n_expert; ++e) {
        bool taken = false;
        for (int j = 0; j < i; ++j) taken = taken || sel[j] == e;
        if (!taken && (best < 0 || p[e] > p[best])) best = e;
      }
      sel[i] = best;
    }
    double wsum = 0.0;
    for (int i = 0; i < k; ++i) wsum += p[sel[i]];
    const float denom = std::max(static_cast<float>(wsum), kMinWeightSum);
    for (int i = 0; i < k; ++i) weights[r * k + i] = p[sel[i]] / denom;
  }
}

void moe_ffn(const MoeWeights& w, int k, const float* xn, int64_t rows, float* out, MoeScratch& s,
             ActivationMode mode, ThreadPool& pool) {
  const int n_expert = w.gate.n_expert;
  const int64_t E = w.router.n_in, F = w.gate.n_out;
  if (k < 1 || k > n_expert)
    throw Error("experts per token " + std::to_string(k) + " is outside 1.." + std::to_string(n_expert) +
                " (the model has " + std::to_string(n_expert) + " experts)");

  // Routing.
  float* probs = sized(s.probs, rows * n_expert);
  matmul(w.router, xn, rows, probs, mode, pool);  // logits, turned into probabilities in place
  int32_t* selected = sized(s.selected, rows * k);
  float* weights = sized(s.weights, rows * k);
  moe_route(probs, rows, n_expert, k, probs, selected, weights);

  // Group the (row, rank) slots by expert: expert_rows[expert_begin[e] .. expert_begin[e+1]).
  const int64_t routed = rows * k;
  int64_t* begin = sized(s.expert_begin, n_expert + 1);
  std::fill(begin, begin + n_expert + 1, 0);
  for (int64_t i = 0; i < routed; ++i) ++begin[selected[i] + 1];
  for (int e = 0; e < n_expert; ++e) begin[e + 1] += begin[e];
  int32_t* slots = sized(s.expert_rows, routed);
  {
    std::vector<int64_t> fill(begin, begin + n_expert);
    for (int64_t i = 0; i < routed; ++i) slots[fill[static_cast<size_t>(selected[i])]++] = static_cast<int32_t>(i);
  }

  float* gathered = sized(s.gathered, routed * E);
  float* gate = sized(s.gate, routed * F);
  float* up = sized(s.up, routed * F);
  float* down = sized(s.down, routed * E);  // row i: the expert output of slot slots[i]
  for (int64_t i = 0; i < routed; ++i)
    std::memcpy(gathered + i * E, xn + (slots[i] / k) * E, sizeof(float) * static_cast<size_t>(E));
  for (int e = 0; e < n_expert; ++e) {
    const int64_t b = begin[e], n = begin[e + 1] - begin[e];
    if (n == 0) continue;
    const MatmulJob gate_up[] = {{w.gate.expert(e), gate + b * F}, {w.up.expert(e), up + b * F}};
    matmul_multi(gate_up, gathered + b * E, n, mode, pool);
    swiglu(gate + b * F, up + b * F, n * F, gate + b * F);
    matmul(w.down.expert(e), gate + b * F, n, down + b * E, mode, pool);
  }

  // out[r] = sum over ranks, in rank order, of w * expert output (ggml: mul, then a chain of adds).
  std::vector<int64_t>& where = s.expert_begin;  // reused: slot -> row of `down`
  where.assign(static_cast<size_t>(routed), 0);
  for (int64_t i = 0; i < routed; ++i) where[static_cast<size_t>(slots[i])] = i;
  for (int64_t r = 0; r < rows; ++r) {
    float* o = out + r * E;
    for (int i = 0; i < k; ++i) {
      const float wi = weights[r * k + i];
      const float* d = down + where[static_cast<size_t>(r * k + i)] * E;
      if (i == 0)
        for (int64_t c = 0; c < E; ++c) o[c] = d[c] * wi;
      else
        for (int64_t c = 0; c < E; ++c) o[c] += d[c] * wi;
    }
  }

  if (w.has_shared()) {
    const int64_t Fs = w.shared_gate.n_out;
    float* scale = sized(s.shared_scale, rows);
    float* sg = sized(s.shared_gate, rows * Fs);
    float* su = sized(s.shared_up, rows * Fs);
    float* so = sized(s.shared_out, rows * E);
    const MatmulJob shared[] = {{w.shared_gate_inp, scale}, {w.shared_gate, sg}, {w.shared_up, su}};
    matmul_multi(shared, xn, rows, mode, pool);
    swiglu(sg, su, rows * Fs, sg);
    matmul(w.shared_down, sg, rows, so, mode, pool);
    for (int64_t r = 0; r < rows; ++r) {
      const float g = 1.0f / (1.0f + std::exp(-scale[r]));
      for (int64_t c = 0; c < E; ++c) out[r * E + c] += so[r * E + c] * g;
    }
  }
}

}  // namespace layerlab
