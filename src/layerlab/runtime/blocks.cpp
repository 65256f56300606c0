// Building blocks shared by the decoder forward passes.
#include "layerlab/runtime/blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "layerlab/io/error.h"
#include "layerlab/runtime/attention.h"
#include "layerlab/runtime/norms.h"
#include "layerlab/tensor/dequantize.h"
#include "layerlab/util/thread_pool.h"

namespace layerlab {
namespace {

// Multiply-adds below which attention runs on the calling thread (about 20 microseconds).
constexpr int64_t kMinParallelAttentionWork = int64_t{1} << 16;
// Token rows per pass of a dense feed-forward block. Its hidden activations (gate and up,
// rows x n_ff floats each) are the largest buffers of a long prefill: in passes of this many
// rows they stay a few MB whatever the batch, and the quantized rows of the down projection's
// input stay in L2 while each weight tile passes over them. Rows are independent, so the
// results are the same as in one pass.
constexpr int64_t kFfnRowsPerPass = 128;

}  // namespace

// x[rows][E] = the embedding rows of the tokens (exact dequantization, as get_rows does).
void embed_tokens(const DenseModelWeights& w, const DenseBatch& batch, int64_t E, float* x) {
  const TensorInfo& embd = *w.token_embd;
  const size_t row_bytes = embd.row_bytes();
  for (int64_t r = 0; r < batch.n_rows(); ++r)
    dequantize_row(embd.type, embd.data.data() + static_cast<size_t>(batch.tokens[r]) * row_bytes,
                   x + r * E, E);
}

void linear(const WeightView& w, const VectorView& bias, const float* x, int64_t rows, float* y,
            ActivationMode mode, ThreadPool& pool) {
  matmul(w, x, rows, y, mode, pool);
  if (bias) add_bias_rows(y, rows, w.n_out, bias.data);
}

// Self-attention block of one slot: reads s.xn, writes s.proj (before the residual add).
void attention_block(const DenseModel& m, int slot, const DenseLayerWeights& L, const LayerSpec& spec,
                     const DenseBatch& batch, KvCache& cache, DenseScratch& s, ActivationMode mode,
                     ThreadPool& pool) {
  const ModelConfig& c = *m.config;
  const int64_t rows = batch.n_rows();
  const int H = spec.n_head, Hkv = spec.n_head_kv, dk = c.head_dim_k, dv = c.head_dim_v;
  float* q = sized(s.q, rows * H * dk);
  float* k = sized(s.k, rows * Hkv * dk);
  float* v = sized(s.v, rows * Hkv * dv);
  // q, k and v read the same input: one pass of the pool computes all three.
  float* q_out = q;
  if (L.gated_attention) q_out = sized(s.attn, rows * 2 * H * dk);  // [q | gate] per head; attn is free until the heads run
  const MatmulJob qkv[3] = {{L.attn_q, q_out}, {L.attn_k, k}, {L.attn_v, v}};
  matmul_multi(qkv, s.xn.data(), rows, mode, pool);
  if (L.gated_attention) {
    // attn_q gives per head [q | gate]; split into q and the output gate.
    float* gate = sized(s.q_gate, rows * H * dk);
    for (int64_t r = 0; r < rows * H; ++r) {
      std::memcpy(q + r * dk, q_out + r * 2 * dk, sizeof(float) * dk);
      std::memcpy(gate + r * dk, q_out + r * 2 * dk + dk, sizeof(float) * dk);
    }
  } else if (L.attn_q_bias) {
    add_bias_rows(q, rows, L.attn_q.n_out, L.attn_q_bias.data);
  }
  if (L.attn_k_bias) add_bias_rows(k, rows, L.attn_k.n_out, L.attn_k_bias.data);
  if (L.attn_v_bias) add_bias_rows(v, rows, L.attn_v.n_out, L.attn_v_bias.data);
  if (L.attn_q_norm) rms_norm_rows(q, rows * H, dk, L.attn_q_norm.data, c.rms_eps, q);
  if (L.attn_k_norm) rms_norm_rows(k, rows * Hkv, dk, L.attn_k_norm.data, c.rms_eps, k);
  s.rope.apply(q, rows, H, dk);
  s.rope.apply(k, rows, Hkv, dk);

  // This slot's cache receives the new K/V; attention then reads everything from the cache.
  for (const SequenceChunk& ch : batch.chunks)
    for (int64_t t = 0; t < ch.n_tokens; ++t) {
      const int64_t r = ch.first_row + t;
      std::memcpy(cache.k(slot, ch.seq, ch.start + t), k + r * Hkv * dk, sizeof(float) * Hkv * dk);
      std::memcpy(cache.v(slot, ch.seq, ch.start + t), v + r * Hkv * dv, sizeof(float) * Hkv * dv);
    }

  int64_t longest = 0;
  for (const SequenceChunk& ch : batch.chunks) longest = std::max(longest, ch.start + ch.n_tokens);
  const int64_t n_jobs = static_cast<int64_t>(batch.chunks.size()) * H;
  const int64_t scores_per_job = kAttentionScoreRows * longest;
  float* scores = sized(s.scores, n_jobs * scores_per_job);
  float* attn = sized(s.attn, rows * H * dv);
  const int group = H / Hkv;  // GQA: query head h reads KV head h / group
  const float scale = 1.0f / std::sqrt(static_cast<float>(dk));
  auto run_jobs = [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const SequenceChunk& ch = batch.chunks[static_cast<size_t>(job / H)];
      const int h = static_cast<int>(job % H), kvh = h / group;
      HeadAttentionArgs a;
      a.q = q + ch.first_row * H * dk + h * dk;
      a.q_stride = int64_t{H} * dk;
      a.n_new = ch.n_tokens;
      a.start = ch.start;
      a.k = cache.k(slot, ch.seq, 0) + kvh * dk;
      a.k_stride = cache.k_width(slot);
      a.v = cache.v(slot, ch.seq, 0) + kvh * dv;
      a.v_stride = cache.v_width(slot);
      a.head_dim_k = dk;
      a.head_dim_v = dv;
      a.scale = scale;
      a.scores = scores + job * scores_per_job;
      a.out = attn + ch.first_row * H * dv + h * dv;
      a.out_stride = int64_t{H} * dv;
      attend_head(a);
    }
  };
  // Waking the pool costs more than a short decode step's attention; run small work inline.
  int64_t work = 0;
  for (const SequenceChunk& ch : batch.chunks) work += ch.n_tokens * (ch.start + ch.n_tokens);
  work *= int64_t{H} * (dk + dv);
  if (work < kMinParallelAttentionWork)
    run_jobs(0, n_jobs);
  else
    pool.parallel_for(n_jobs, run_jobs);
  if (L.gated_attention) {
    const float* gate = s.q_gate.data();
    for (int64_t i = 0; i < rows * H * dv; ++i) attn[i] *= 1.0f / (1.0f + std::exp(-gate[i]));
  }
  linear(L.attn_output, L.attn_output_bias, attn, rows, s.proj.data(), mode, pool);
}

// SwiGLU feed-forward block: reads s.xn, writes s.proj.
void ffn_block(const DenseLayerWeights& L, const LayerSpec& spec, int64_t rows, DenseScratch& s,
               ActivationMode mode, ThreadPool& pool, int experts_per_token) {
  if (spec.ffn == FfnKind::kMoe) {
    moe_ffn(L.moe, experts_per_token, s.xn.data(), rows, s.proj.data(), s.moe, mode, pool);
    return;
  }
  const int64_t pass_rows = std::min(rows, kFfnRowsPerPass), E = L.ffn_down.n_out;
  float* gate = sized(s.gate, pass_rows * spec.n_ff);
  float* up = sized(s.up, pass_rows * spec.n_ff);
  // gate and up read the same input: one pass of the pool computes both.
  const MatmulJob gate_up[2] = {{L.ffn_gate, gate}, {L.ffn_up, up}};
  for (int64_t r0 = 0; r0 < rows; r0 += pass_rows) {
    const int64_t n = std::min(pass_rows, rows - r0);
    matmul_multi(gate_up, s.xn.data() + r0 * L.ffn_gate.n_in, n, mode, pool);
    swiglu(gate, up, n * spec.n_ff, gate);
    matmul(L.ffn_down, gate, n, s.proj.data() + r0 * E, mode, pool);
  }
}

void output_head(const DenseModel& m, const DenseBatch& batch, const float* x, DenseScratch& s,
                 ActivationMode mode, ThreadPool& pool, float* logits) {
  const ModelConfig& c = *m.config;
  const DenseModelWeights& w = *m.weights;
  const int64_t E = c.n_embd, n_out = static_cast<int64_t>(batch.output_rows.size());
  float* out_x = sized(s.out_x, n_out * E);
  for (int64_t i = 0; i < n_out; ++i)
    std::memcpy(out_x + i * E, x + batch.output_rows[static_cast<size_t>(i)] * E, sizeof(float) * E);
  rms_norm_rows(out_x, n_out, E, w.output_norm.data, c.rms_eps, out_x);
  linear(w.output, w.output_bias, out_x, n_out, logits, mode, pool);
}

int begin_slot_range(const DenseModel& m, const DenseBatch& batch, DenseScratch& s, const SlotRange& range) {
  const int64_t E = m.config->n_embd, rows = batch.n_rows();
  const int n_slots = static_cast<int>(m.plan->slots.size());
  const int end = range.end < 0 ? n_slots : range.end;
  if (range.first < 0 || range.first > end || end > n_slots || (range.first > 0 && !range.x_in))
    throw Error("slot range " + std::to_string(range.first) + ".." + std::to_string(end) + " does not fit a plan of " +
                std::to_string(n_slots) + " slots");
  float* x = sized(s.x, rows * E);
  if (range.first == 0) embed_tokens(*m.weights, batch, E, x);
  else std::copy(range.x_in, range.x_in + rows * E, x);
  s.rope.compute(m.rope, batch.positions.data(), rows);
  return end;
}

void end_slot_range(const DenseModel& m, const DenseBatch& batch, DenseScratch& s, ActivationMode mode,
                    ThreadPool& pool, float* logits, const SlotRange& range) {
  if (range.end < 0 || range.end == static_cast<int>(m.plan->slots.size())) {
    if (logits) output_head(m, batch, s.x.data(), s, mode, pool, logits);
  }
  if (range.x_out) range.x_out->assign(s.x.begin(), s.x.begin() + batch.n_rows() * m.config->n_embd);
}

}  // namespace layerlab
