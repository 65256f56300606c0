// Gated DeltaNet, the linear-attention mixer of the hybrid families (qwen3next, qwen35,
// qwen35moe), with the numerics of llama.cpp's CPU path.
//
// Per token: u = W_qkv x; causal depth-wise conv (kernel K, the K-1 previous inputs come
// from the conv state) + SiLU; split into q (Hk heads), k (Hk heads), v (Hv heads) of S
// values; q, k L2-normalised per head, q scaled by 1/sqrt(S); beta = sigmoid(W_beta x);
// g = softplus(W_alpha x + dt_bias) * ssm_a (<= 0). Per v-head h with state M (S x S,
// value index j by key index i), using k/q of k-head kappa(h):
//   M <- e^g M;  M <- M + beta (v - M k) k^T;  o = M q
// then o <- RMSNorm(o, ssm_norm) * silu(W_gate x), and out = W_out o.
//
// Two equal forms of the delta rule: the token-by-token recurrence (decode) and a chunked
// parallel form (prefill; chunks of 64 tokens, the delta-rule products within a chunk solved
// as one lower-triangular system, as llama.cpp's chunked graph does).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "layerlab/tensor/matmul.h"

namespace layerlab {

class ThreadPool;

struct DeltaNetDims {
  int state = 0;        // S: head size of q, k and v (ssm.state_size)
  int n_k_heads = 0;    // Hk (ssm.group_count)
  int n_v_heads = 0;    // Hv (ssm.time_step_rank), a multiple of Hk
  int conv_kernel = 0;  // K (ssm.conv_kernel)
  // Which k/q head a v-head reads: tiled (qwen35 GGUF: h mod Hk) or grouped (qwen3next GGUF:
  // h / (Hv/Hk)).
  bool tiled_heads = true;

  int64_t key_dim() const { return int64_t{state} * n_k_heads; }
  int64_t value_dim() const { return int64_t{state} * n_v_heads; }
  int64_t channels() const { return 2 * key_dim() + value_dim(); }  // conv channels C
  int64_t conv_state_size() const { return int64_t{conv_kernel - 1} * channels(); }
  int64_t ssm_state_size() const { return int64_t{n_v_heads} * state * state; }
  int k_head_of(int v_head) const {
    return tiled_heads ? v_head % n_k_heads : v_head / (n_v_heads / n_k_heads);
  }
};

struct DeltaNetWeights {
  WeightView qkv;               // attn_qkv {E, C}: rows [q (Hk heads); k (Hk heads); v (Hv heads)]
  WeightView gate;              // attn_gate {E, Hv*S}: z
  WeightView beta, alpha;       // ssm_beta, ssm_alpha {E, Hv}
  WeightView out;               // ssm_out {Hv*S, E}
  const float* conv = nullptr;  // ssm_conv1d {K, C}: C rows of K taps, the last tap = current token
  const float* dt_bias = nullptr;  // ssm_dt.bias {Hv}
  const float* a = nullptr;        // ssm_a {Hv} = -exp(A_log)
  const float* norm = nullptr;     // ssm_norm {S}, shared by the heads
};

// The new tokens of one sequence (rows first_row .. first_row + n_tokens - 1 of the batch)
// and that sequence's state for this layer slot, updated in place.
struct DeltaNetSequence {
  int64_t first_row = 0;
  int64_t n_tokens = 0;
  float* conv_state = nullptr;  // [C][K-1], per channel its last K-1 inputs, oldest first
  float* ssm_state = nullptr;   // [Hv][S (value j)][S (key i)]
};

enum class DeltaRuleForm {
  kAuto,       // chunked for sequences with more than one new token, else the recurrence
  kRecurrent,  // token by token
  kChunked,    // chunks of kDeltaChunk tokens
};
inline constexpr int64_t kDeltaChunk = 64;

// One v-head of the delta rule over n_tokens tokens. Vectors of token t are at
// q + t*qk_stride, k + t*qk_stride, v + t*v_stride; g and beta at t*gb_stride.
struct DeltaHeadArgs {
  const float* q = nullptr;  // already L2-normalised and scaled by 1/sqrt(S)
  const float* k = nullptr;
  int64_t qk_stride = 0;
  const float* v = nullptr;
  int64_t v_stride = 0;
  const float* g = nullptr;     // log decay (<= 0)
  const float* beta = nullptr;
  int64_t gb_stride = 0;
  int64_t n_tokens = 0;
  int state_size = 0;           // S
  float* state = nullptr;       // S x S, [j][i]; read and updated
  float* out = nullptr;         // o of token t at out + t*out_stride
  int64_t out_stride = 0;
};
void delta_rule_recurrent(const DeltaHeadArgs& a);
void delta_rule_chunked(const DeltaHeadArgs& a, int64_t chunk = kDeltaChunk);

// Buffers reused across calls.
struct DeltaNetScratch {
  std::vector<float> qkv, z, beta, g, o, window;
};

// out[rows][E] = GatedDeltaNet(xn[rows][E]) for the batch's sequences, advancing their states.
void gated_deltanet_block(const DeltaNetWeights& w, const DeltaNetDims& d, float eps, const float* xn,
                          int64_t rows, std::span<const DeltaNetSequence> sequences, float* out,
                          DeltaNetScratch& s, ActivationMode mode, ThreadPool& pool,
                          DeltaRuleForm form = DeltaRuleForm::kAuto);

}  // namespace layerlab
