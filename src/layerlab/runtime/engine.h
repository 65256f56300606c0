// The inference engine for decoder models (dense llama / qwen2 / qwen3, MoE qwen3moe, and the
// hybrid linear-attention family qwen3next / qwen35 / qwen35moe): runs a layer plan over
// several sequences at once, prompt tokens as matrix-matrix products, then one token per
// sequence per decode step.
//
//   Engine engine(file, config, {.threads = 4, .mode = ActivationMode::kGgml, .plan = plan});
//
// A plan slot names a (model, layer): model 0 is `file`, k >= 1 is options.donors[k-1]. Weights
// are looked up per source layer (shared by every slot that repeats it); KV caches (attention
// slots) and conv + SSM states (linear-attention slots) are per slot.
//   const Logits& first = engine.prefill({{1, 282, 375}, {1, 300}});
//   const Logits& next = engine.decode({argmax(first.last(0)), argmax(first.last(1))});
//
// Not thread-safe: one caller drives an engine; the engine parallelises internally.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "layerlab/io/model_file.h"
#include "layerlab/model/config.h"
#include "layerlab/plan/plan.h"
#include "layerlab/tensor/matmul.h"

namespace layerlab {

struct SlotRange;  // runtime/forward_dense.h

struct EngineOptions {
  int threads = 0;                               // 0: one per hardware thread
  ActivationMode mode = ActivationMode::kGgml;  // kExact: F32 activations (see matmul.h)
  Plan plan;                                     // no slots: every layer once, in order
  // Donor models for donor slots (donor k is donors[k-1]); they must outlive the engine.
  // Their layers must fit the host's shapes (plan/transplant_check.h), else construction fails.
  std::vector<const ModelFile*> donors;
  int64_t n_ctx = 0;                             // positions per sequence; 0: training context
  // MoE layers: experts computed per token, 1..expert_count; 0: the model's expert_used_count.
  int experts_per_token = 0;
};

// Logits of one prefill or decode call, n_vocab floats per row. Owned by the engine and
// valid until its next call.
class Logits {
 public:
  int64_t n_vocab() const { return n_vocab_; }
  int n_sequences() const { return static_cast<int>(first_row_.size()); }
  // Rows held for sequence s: 1 (its last new token), or its new-token count with all positions.
  int64_t n_rows(int s) const { return n_rows_[static_cast<size_t>(s)]; }
  // Row i of sequence s (i counts the tokens given to this call for s).
  std::span<const float> row(int s, int64_t i) const;
  std::span<const float> last(int s) const { return row(s, n_rows(s) - 1); }

 private:
  friend class Engine;
  int64_t n_vocab_ = 0;
  std::vector<int64_t> first_row_, n_rows_;
  std::vector<float> data_;
};

// Where an engine's memory is, for checking that plans share weights.
struct MemoryAccount {
  uint64_t weight_bytes = 0;          // distinct weight bytes the plan reads (each counted once)
  uint64_t weight_bytes_mapped = 0;   // of those, bytes that are views of a model file mapping
  uint64_t weight_bytes_owned = 0;    // of those, bytes held in buffers a reader had to create
  uint64_t kv_cache_bytes = 0;        // allocated K/V, over all slots and sequences
  int distinct_layers = 0;            // (model, layer) sources the plan runs
};

class Engine {
 public:
  // Checks the architecture, every tensor and the plan; throws layerlab::Error with one line
  // naming an unsupported architecture, weight type, missing tensor or bad plan slot.
  // `file` must outlive the engine (weights are used in place).
  Engine(const ModelFile& file, const ModelConfig& config, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs the tokens of each sequence (all sequences in one batch: one matmul per weight).
  // On a fresh engine (or after reset) this starts sequences.size() sequences; later calls
  // continue them and must pass the same number of sequences. Every sequence needs at least
  // one token. Returns the logits of each sequence's last token, or of every token given.
  const Logits& prefill(const std::vector<std::vector<int32_t>>& sequences, bool all_positions = false);
  // One token per sequence, appended to each; returns one logits row per sequence.
  const Logits& decode(std::span<const int32_t> tokens);
  // Forgets all sequences.
  void reset();

  // Shared work in scans (eval/evaluator.h): configurations whose plans begin with the same
  // slots as the baseline's run those slots once.
  // Resets the engine, runs fresh `sequences` through slots [from_slot, to_slot) starting from
  // the residual stream `x` (ignored when from_slot is 0: the embeddings), and replaces `x`
  // with the stream after slot to_slot - 1 ([rows][n_embd], sequence by sequence).
  void prefill_slots(const std::vector<std::vector<int32_t>>& sequences, int from_slot, int to_slot,
                     std::vector<float>& x);
  // Resets the engine and runs fresh `sequences` from slot `from_slot` to the logits, starting
  // from `x` as prefill_slots() left it for the same sequences. Equal to prefill() on the same
  // sequences when this plan's first from_slot slots are those that produced `x`. The engine
  // cannot continue these sequences (the skipped slots hold no cache): reset() follows.
  const Logits& prefill_from(const std::vector<std::vector<int32_t>>& sequences, int from_slot,
                             const std::vector<float>& x, bool all_positions = false);

  MemoryAccount memory_account() const;
  int n_sequences() const;
  int64_t sequence_length(int s) const;  // positions processed so far
  const ModelConfig& config() const { return config_; }
  const Plan& plan() const { return plan_; }
  int64_t n_vocab() const { return config_.n_vocab; }
  int64_t n_ctx() const;

 private:
  struct State;
  void run(const std::vector<std::span<const int32_t>>& sequences, bool all_positions,
           const SlotRange* range = nullptr);
  void check_residual(const std::vector<std::vector<int32_t>>& sequences, const std::vector<float>& x) const;

  ModelConfig config_;
  Plan plan_;
  std::vector<ModelConfig> donor_configs_;
  std::vector<const ModelFile*> files_;  // [0] host, [k] donor k
  ActivationMode mode_;
  std::unique_ptr<State> state_;
  Logits logits_;
  std::vector<std::span<const int32_t>> decode_views_;  // reused by decode()
  bool partial_ = false;  // the last run skipped slots: its sequences cannot continue
};

}  // namespace layerlab
