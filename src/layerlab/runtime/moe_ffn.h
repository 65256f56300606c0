// Mixture-of-experts feed-forward block (llama.cpp's build_moe_ffn with softmax gating and
// renormalised top-k weights, as used by qwen3moe, qwen3next and qwen35moe).
//
// Per token x: p = softmax(W_router x) over all experts; S = the k most probable experts;
// w_e = p_e / max(sum_{e in S} p_e, 6.1035e-5); out = sum_{e in S} w_e * down_e(silu(gate_e x) * up_e x)
// (+ sigmoid(w_sg . x) * shared_expert(x) when the model has a shared expert).
// Only the selected experts are computed: tokens are grouped by expert and each expert's
// matrices multiply just the rows routed to it.
#pragma once

#include <cstdint>
#include <vector>

#include "layerlab/tensor/matmul.h"

namespace layerlab {

class ThreadPool;

// A stacked expert tensor {n_in, n_out, n_expert}: expert e is n_out consecutive rows.
struct ExpertStack {
  WeightView all;        // the whole tensor as n_expert * n_out rows of n_in values
  int n_expert = 0;
  int64_t n_out = 0;     // rows per expert

  WeightView expert(int e) const {
    WeightView w = all;
    w.n_out = n_out;
    w.data = all.data + static_cast<size_t>(e) * all.row_bytes * static_cast<size_t>(n_out);
    return w;
  }
};

struct MoeWeights {
  WeightView router;                     // ffn_gate_inp {E, n_expert}
  ExpertStack gate, up;                  // ffn_{gate,up}_exps {E, F_e, n_expert}
  ExpertStack down;                      // ffn_down_exps {F_e, E, n_expert}
  // Shared expert (qwen3next, qwen35moe); shared_gate.data == nullptr when absent.
  WeightView shared_gate_inp;            // ffn_gate_inp_shexp {E} as a 1-row matrix
  WeightView shared_gate, shared_up;     // {E, F_sh}
  WeightView shared_down;                // {F_sh, E}
  bool has_shared() const { return shared_gate.data != nullptr; }
};

// Buffers reused across calls (resized to the batch; no reallocation in a steady decode loop).
struct MoeScratch {
  std::vector<float> probs;              // [rows][n_expert]
  std::vector<int32_t> selected;         // [rows][k] expert ids, most probable first
  std::vector<float> weights;            // [rows][k]
  std::vector<int32_t> expert_rows;      // routed (row, rank) pairs grouped by expert
  std::vector<int64_t> expert_begin;     // [n_expert + 1] offsets into expert_rows
  std::vector<float> gathered;           // [routed][E]
  std::vector<float> gate, up;           // [routed][F_e]
  std::vector<float> down;               // [routed][E]
  std::vector<float> shared_scale;       // [rows]
  std::vector<float> shared_gate, shared_up, shared_out;
};

// The routing step alone: top-k experts and their renormalised weights for each row of
// `router_logits` ([rows][n_expert]). Ties go to the lower expert id. Throws layerlab::Error
// unless 1 <= k <= n_expert.
void moe_route(const float* router_logits, int64_t rows, int n_expert, int k, float* probs,
               int32_t* selected, float* weights);

// out[rows][E] = MoE(xn[rows][E]) with k experts per token (1 <= k <= n_expert, else
// layerlab::Error). out must not overlap xn.
void moe_ffn(const MoeWeights& w, int k, const float* xn, int64_t rows, float* out, MoeScratch& s,
             ActivationMode mode, ThreadPool& pool);

}  // namespace layerlab
