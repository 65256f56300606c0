// Scores a model configuration on probe sets and texts, keeping every item's score.
//
//   Evaluator ev(tokenizer);
//   ev.add_probes(read_probe_file("probes.jsonl"));            // greedy exact match / choices
//   ev.add_perplexity("prose", text, 256);                     // llama-perplexity's method
//   Engine engine(file, config, {.plan = plan, .n_ctx = ev.positions_needed()});
//   std::vector<MetricScores> scores = ev.score(engine);
//
// Tokenization is done once when a workload is added, so a scan scores many configurations
// without re-tokenizing. Every configuration sees the same items in the same order, which
// is what makes paired comparisons with a baseline possible (eval/stats.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "layerlab/eval/probes.h"
#include "layerlab/runtime/engine.h"
#include "layerlab/text/tokenizer.h"

namespace layerlab {

enum class MetricKind {
  kAccuracy,  // 1 / 0 per item (exact match, or the right choice ranked first); higher is better
  kNll,       // mean negative log-likelihood per scored token, nats; lower is better
};

struct MetricInfo {
  std::string name;  // e.g. "probes-dev" or "prose-heldout"
  MetricKind kind = MetricKind::kAccuracy;
  std::string source;                // file the items came from
  std::string digest;                // of the source's bytes
  std::vector<std::string> item_ids;
  std::vector<std::string> item_tasks;
};

struct MetricScores {
  std::vector<double> items;         // one score per item, in the workload's item order
  std::vector<std::string> outputs;  // exact-match items: the generated answer text (else empty)
  std::vector<int64_t> tokens;       // kNll: tokens scored per item
};

// Thrown by score() when its stop flag is raised between batches.
struct EvalInterrupted : std::exception {
  const char* what() const noexcept override { return "interrupted"; }
};

struct EvalOptions {
  int max_batch_sequences = 32;   // sequences prefilled and decoded together
  int64_t batch_tokens = 4096;    // prompt tokens per batch (a batch holds at least one item)
  int64_t max_logit_bytes = 256ll << 20;  // all-position logits held at once (perplexity, choices)
  int extra_new_tokens = 4;       // exact match: tokens generated beyond the answer's length
};

class Evaluator {
 public:
  explicit Evaluator(const Tokenizer& tokenizer, EvalOptions options = {});

  // Adds a probe set; `name` defaults to the file's stem.
  void add_probes(const ProbeSet& set, std::string name = {});
  // Adds a text scored as llama-perplexity does: the text tokenized once (BOS first when the
  // vocabulary adds one), cut into `ctx`-token chunks (the tail is dropped), each chunk's first
  // token replaced by BOS, and the second half of each chunk scored. One item per chunk.
  // Throws Error if ctx < 4 or the text gives fewer than ctx tokens (no whole chunk).
  void add_perplexity(std::string name, const std::string& text, const std::string& source, int ctx);

  const std::vector<MetricInfo>& metrics() const { return infos_; }
  // Positions a sequence needs (prompt + generated tokens, or one chunk).
  int64_t positions_needed() const { return max_prompt_ + max_new_; }
  // Total items over all workloads (for progress reports).
  int64_t n_items() const;

  // Residual streams of a baseline at one slot boundary for every prefill-only batch
  // (perplexity chunks, choice continuations). A configuration whose plan begins with the
  // same `slot` slots starts there (Engine::prefill_from) instead of recomputing them: in a
  // block scan every configuration shares the layers before its block with the baseline.
  struct SharedPrefix {
    int slot = 0;
    std::vector<std::vector<float>> x;  // per prefill batch
  };
  // Moves `prefix` forward to boundary `slot` by running the baseline's slots in between.
  void advance_prefix(Engine& baseline, SharedPrefix& prefix, int slot) const;
  // Bytes a SharedPrefix holds for a model of this width and vocabulary.
  int64_t prefix_bytes(int64_t n_embd, int64_t n_vocab) const;

  // Scores every workload on `engine` (reset before and after). `on_items(k)` is called after
  // each batch with the number of items it finished; `stop` is checked between batches. With
  // `prefix` (slot > 0), prefill-only work starts from it; the results are identical.
  std::vector<MetricScores> score(Engine& engine, const std::function<void(int64_t)>& on_items = {},
                                  const std::atomic<bool>* stop = nullptr,
                                  const SharedPrefix* prefix = nullptr) const;

 private:
  struct Workload;
  // One prefill-only batch: items of one workload and the token sequences they need.
  struct PrefillBatch {
    size_t workload = 0;
    std::vector<size_t> items;
    std::vector<std::vector<int32_t>> sequences;
  };
  std::vector<PrefillBatch> prefill_batches(int64_t n_vocab) const;
  MetricScores score_exact(Engine& engine, const Workload& w, const std::function<void(int64_t)>& on_items,
                           const std::atomic<bool>* stop) const;

  const Tokenizer& tokenizer_;
  EvalOptions options_;
  std::vector<MetricInfo> infos_;
  std::vector<Workload> workloads_;
  int64_t max_prompt_ = 0;  // longest prompt, choice sequence or chunk
  int64_t max_new_ = 0;     // most tokens an exact-match item generates (a batch decodes them all)
  std::vector<int32_t> end_tokens_;  // tokens that end a generation (EOS, EOT)

 public:
  ~Evaluator();
  Evaluator(Evaluator&&) noexcept;
};

// Sum over tokens of -log softmax(row)[target], in double.
double token_nll(std::span<const float> logits_row, int32_t target);

}  // namespace layerlab
