// The forward pass of the dense decoder families (llama, qwen2, qwen3) over one batch of
// tokens from several sequences, executing a layer plan slot by slot.
#pragma once

#include <cstdint>
#include <vector>

#include "layerlab/model/config.h"
#include "layerlab/runtime/gated_deltanet.h"
#include "layerlab/runtime/kv_cache.h"
#include "layerlab/runtime/moe_ffn.h"
#include "layerlab/plan/plan.h"
#include "layerlab/runtime/model_weights.h"
#include "layerlab/runtime/rope.h"
#include "layerlab/tensor/matmul.h"

namespace layerlab {

class ThreadPool;

// The new tokens of one sequence inside a batch: rows first_row .. first_row+n_tokens-1,
// at positions start .. start+n_tokens-1 of sequence `seq`.
struct SequenceChunk {
  int seq = 0;
  int64_t first_row = 0;
  int64_t n_tokens = 0;
  int64_t start = 0;
};

struct DenseBatch {
  std::vector<int32_t> tokens;       // [n_rows], sequence by sequence
  std::vector<int32_t> positions;    // [n_rows]
  std::vector<SequenceChunk> chunks;
  std::vector<int64_t> output_rows;  // rows whose logits are wanted, in output order
  int64_t n_rows() const { return static_cast<int64_t>(tokens.size()); }
};

// Everything a dense forward reads that does not change between calls.
struct DenseModel {
  const ModelConfig* config = nullptr;
  const DenseModelWeights* weights = nullptr;             // host: embedding, output head
  std::vector<const DenseModelWeights*> layer_sources;     // [0] host, [k] donor k
  std::vector<const ModelConfig*> layer_configs;           // same order
  const Plan* plan = nullptr;
  RopeParams rope;
  int experts_per_token = 0;  // MoE layers: experts run per token (1..n_expert)
};

// Activation buffers reused across calls: resized to the batch, so a steady decode loop
// (same number of rows every step) does not allocate.
struct DenseScratch {
  std::vector<float> x;       // [rows][E] residual stream
  std::vector<float> xn;      // [rows][E] normalised input of a block
  std::vector<float> q;       // [rows][H*dk]
  std::vector<float> k;       // [rows][Hkv*dk]
  std::vector<float> v;       // [rows][Hkv*dv]
  std::vector<float> attn;    // [rows][H*dv] attention output, heads concatenated
  std::vector<float> proj;    // [rows][E] block output before the residual add
  std::vector<float> gate;    // [rows][F]
  std::vector<float> up;      // [rows][F]
  std::vector<float> out_x;   // [outputs][E] final hidden state of the output rows
  std::vector<float> scores;  // [jobs][kAttentionScoreRows x longest sequence] attention weights
  std::vector<float> q_gate;  // [rows][H*dk] gated attention: the gate half of attn_q's output
  MoeScratch moe;
  DeltaNetScratch deltanet;
  RopeTable rope;
};

// The slots one forward call runs. Scans whose configurations share their first slots with
// the baseline run those slots once: a call with end < slots stops there and hands out the
// residual stream; a later call (possibly of another plan with the same first slots)
// continues from it with first = that boundary.
struct SlotRange {
  int first = 0;
  int end = -1;                          // -1: through the last slot, then the output head
  const float* x_in = nullptr;           // [rows][E] residual stream entering slot `first` (first > 0)
  std::vector<float>* x_out = nullptr;   // receives the residual stream after slot end - 1 (end < slots)
};

// Runs the batch through the plan's slots (all, or `range`), appends the batch's K/V to `cache`
// (whose sequences must have room: KvCache::reserve), and writes n_vocab logits per output row
// when the range reaches the last slot. The caller updates the cache lengths afterwards.
void forward_dense(const DenseModel& model, const DenseBatch& batch, KvCache& cache,
                   DenseScratch& scratch, ActivationMode mode, ThreadPool& pool, float* logits,
                   const SlotRange& range = {});

// The residual stream entering `range.first` (embeddings or range.x_in) in s.x; returns the end slot.
int begin_slot_range(const DenseModel& m, const DenseBatch& batch, DenseScratch& s, const SlotRange& range);
// After the slots ran: the logits (range reached the end) or the residual stream handed out.
void end_slot_range(const DenseModel& m, const DenseBatch& batch, DenseScratch& s, ActivationMode mode,
                    ThreadPool& pool, float* logits, const SlotRange& range);

}  // namespace layerlab
