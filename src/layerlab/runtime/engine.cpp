#include "layerlab/runtime/engine.h"

#include <algorithm>
#include <set>
#include <string>
#include <thread>

#include "layerlab/io/error.h"
#include "layerlab/runtime/forward_dense.h"
#include "layerlab/runtime/forward_hybrid.h"
#include "layerlab/runtime/kv_cache.h"
#include "layerlab/runtime/model_weights.h"
#include "layerlab/runtime/recurrent_state.h"
#include "layerlab/plan/transplant_check.h"
#include "layerlab/util/thread_pool.h"

namespace layerlab {

std::span<const float> Logits::row(int s, int64_t i) const {
  if (s < 0 || s >= n_sequences() || i < 0 || i >= n_rows(s))
    throw Error("logits: no row " + std::to_string(i) + " for sequence " + std::to_string(s));
  const size_t offset = static_cast<size_t>((first_row_[static_cast<size_t>(s)] + i) * n_vocab_);
  return {data_.data() + offset, static_cast<size_t>(n_vocab_)};
}

struct Engine::State {
  DenseModelWeights weights;
  std::vector<DenseModelWeights> donor_weights;
  DenseModel model;
  KvCache cache;
  RecurrentState recurrent;  // linear-attention slots
  DenseScratch scratch;
  DenseBatch batch;
  ThreadPool pool;

  State(DenseModelWeights w, KvCache c, int threads)
      : weights(std::move(w)), cache(std::move(c)), pool(threads) {}
};

namespace {

bool is_hybrid(Arch a) { return a == Arch::kQwen3Next || a == Arch::kQwen35 || a == Arch::kQwen35Moe; }

// MROPE / IMROPE with text positions (p, p, p, 0) equal NEOX RoPE when every rotated pair takes
// one of the first three position streams; a pair on the fourth stream would not rotate.
bool multi_rope_is_neox_for_text(const ModelConfig& c) {
  const auto& sec = c.rope_sections;
  const int sect_dims = sec[0] + sec[1] + sec[2] + sec[3];
  if (sect_dims <= 0) return false;
  for (int i = 0; i < c.n_rot / 2; ++i) {
    const int sector = i % sect_dims;
    bool text;
    if (c.rope_type == RopeType::kImrope)
      text = (sector % 3 == 0 && sector < 3 * sec[0]) || (sector % 3 == 1 && sector < 3 * sec[1]) ||
             (sector % 3 == 2 && sector < 3 * sec[2]);
    else
      text = sector < sec[0] + sec[1] + sec[2];
    if (!text) return false;
  }
  return true;
}

void check_supported(const ModelConfig& c) {
  if (c.arch == Arch::kUnknown)
    throw Error("architecture " + c.arch_name +
                " is not supported by the engine (llama, qwen2, qwen3, qwen3moe, qwen3next, qwen35, qwen35moe)");
  if ((c.rope_type == RopeType::kMrope || c.rope_type == RopeType::kImrope) && !multi_rope_is_neox_for_text(c))
    throw Error("architecture " + c.arch_name + ": rope.dimension_sections leave rotated pairs on the fourth "
                "position stream, which is not supported");
  if (c.rope_scaling == RopeScaling::kYarn || c.rope_scaling == RopeScaling::kLongrope)
    throw Error("RoPE scaling type " + std::string(rope_scaling_name(c.rope_scaling)) +
                " is not supported (only none and linear)");
  if (c.n_rot <= 0 || c.n_rot > c.head_dim_k || c.n_rot % 2 != 0)
    throw Error("rope.dimension_count " + std::to_string(c.n_rot) + " does not fit head size " +
                std::to_string(c.head_dim_k));
  for (size_t il = 0; il < c.layers.size(); ++il) {
    const LayerSpec& s = c.layers[il];
    if (s.mixer != MixerKind::kAttention) continue;
    if (s.n_head_kv <= 0 || s.n_head % s.n_head_kv != 0)
      throw Error("layer " + std::to_string(il) + ": " + std::to_string(s.n_head) + " query heads cannot share " +
                  std::to_string(s.n_head_kv) + " KV heads");
  }
}

bool has_moe(const ModelConfig& c) {
  for (const LayerSpec& l : c.layers)
    if (l.ffn == FfnKind::kMoe) return true;
  return false;
}

// The experts-per-token override (0: the model's own count), checked against every MoE model.
int checked_experts_per_token(int requested, const ModelConfig& host, const std::vector<ModelConfig>& donors) {
  if (requested < 0) throw Error("experts per token " + std::to_string(requested) + " must be positive");
  int k = requested;
  std::vector<const ModelConfig*> models{&host};
  for (const ModelConfig& d : donors) models.push_back(&d);
  for (const ModelConfig* c : models) {
    if (!has_moe(*c)) continue;
    if (k == 0) k = c->n_expert_used;
    if (k > c->n_expert)
      throw Error("experts per token " + std::to_string(k) + " exceeds the " + std::to_string(c->n_expert) +
                  " experts of the model (" + c->arch_name + ")");
  }
  return k;
}

// Every slot names an existing layer of an existing model, and donor layers fit the host.
void validate_plan(const Plan& plan, const ModelConfig& host, const std::vector<ModelConfig>& donors) {
  for (size_t j = 0; j < plan.slots.size(); ++j) {
    const PlanSlot& s = plan.slots[j];
    if (s.model < 0 || static_cast<size_t>(s.model) > donors.size())
      throw PlanError("plan slot " + std::to_string(j) + " names donor" + std::to_string(s.model) + ", but " +
                      std::to_string(donors.size()) + " donor(s) were given");
    const ModelConfig& c = s.model == 0 ? host : donors[static_cast<size_t>(s.model - 1)];
    if (s.layer < 0 || s.layer >= c.n_layer)
      throw PlanError("plan slot " + std::to_string(j) + ": layer " + std::to_string(s.layer) +
                      " is out of range (the model has " + std::to_string(c.n_layer) + " layers)");
  }
  check_transplants(plan, host, donors);
}

int default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

}  // namespace

Engine::Engine(const ModelFile& file, const ModelConfig& config, EngineOptions options)
    : config_(config), plan_(std::move(options.plan)), mode_(options.mode) {
  check_supported(config_);
  files_.push_back(&file);
  files_.insert(files_.end(), options.donors.begin(), options.donors.end());
  if (plan_.slots.empty()) plan_ = Plan::identity(config_.n_layer);
  for (const ModelFile* donor : options.donors) {
    donor_configs_.push_back(read_model_config(*donor));
    check_supported(donor_configs_.back());
  }
  validate_plan(plan_, config_, donor_configs_);
  DenseModelWeights weights = bind_dense_weights(file, config_);
  std::vector<DenseModelWeights> donor_weights;
  for (size_t d = 0; d < options.donors.size(); ++d)
    donor_weights.push_back(bind_dense_weights(*options.donors[d], donor_configs_[d]));

  // K/V only for attention slots, conv + SSM state only for linear-attention slots.
  std::vector<int64_t> k_width, v_width, conv_size, ssm_size;
  for (const PlanSlot& slot : plan_.slots) {
    const ModelConfig& c = slot.model == 0 ? config_ : donor_configs_[static_cast<size_t>(slot.model - 1)];
    const LayerSpec& spec = c.layers[static_cast<size_t>(slot.layer)];
    const bool linear = spec.mixer == MixerKind::kLinearAttention;
    k_width.push_back(linear ? 0 : int64_t{spec.n_head_kv} * c.head_dim_k);
    v_width.push_back(linear ? 0 : int64_t{spec.n_head_kv} * c.head_dim_v);
    conv_size.push_back(linear ? deltanet_dims(c).conv_state_size() : 0);
    ssm_size.push_back(linear ? deltanet_dims(c).ssm_state_size() : 0);
  }
  const int experts_per_token = checked_experts_per_token(options.experts_per_token, config_, donor_configs_);
  int64_t n_ctx = options.n_ctx > 0 ? options.n_ctx : config_.n_ctx_train;
  if (n_ctx <= 0) n_ctx = 4096;
  const int threads = options.threads > 0 ? options.threads : default_threads();
  state_ = std::make_unique<State>(std::move(weights), KvCache(k_width, v_width, n_ctx), threads);
  state_->donor_weights = std::move(donor_weights);
  state_->recurrent = RecurrentState(conv_size, ssm_size);

  DenseModel& m = state_->model;
  m.config = &config_;
  m.weights = &state_->weights;
  m.layer_sources.push_back(&state_->weights);
  m.layer_configs.push_back(&config_);
  for (size_t d = 0; d < donor_configs_.size(); ++d) {
    m.layer_sources.push_back(&state_->donor_weights[d]);
    m.layer_configs.push_back(&donor_configs_[d]);
  }
  m.plan = &plan_;
  m.experts_per_token = experts_per_token;
  // Text-only MROPE / IMROPE is NEOX RoPE (checked above).
  m.rope.type = config_.rope_type == RopeType::kNorm ? RopeType::kNorm : RopeType::kNeox;
  m.rope.n_rot = config_.n_rot;
  m.rope.freq_base = config_.rope_freq_base;
  m.rope.freq_scale = config_.rope_freq_scale;
  m.rope.freq_factors = state_->weights.rope_freqs.data;
  logits_.n_vocab_ = config_.n_vocab;
}

Engine::~Engine() = default;

MemoryAccount Engine::memory_account() const {
  MemoryAccount a;
  std::set<const std::byte*> seen;
  auto count = [&](std::span<const std::byte> bytes, size_t model) {
    if (bytes.empty() || !seen.insert(bytes.data()).second) return;
    a.weight_bytes += bytes.size();
    bool mapped = false;
    for (const auto& m : files_[model]->mappings)
      mapped |= bytes.data() >= m->data() && bytes.data() + bytes.size() <= m->data() + m->size();
    (mapped ? a.weight_bytes_mapped : a.weight_bytes_owned) += bytes.size();
  };
  for (auto bytes : global_weight_bytes(state_->weights)) count(bytes, 0);
  std::set<std::pair<int, int>> layers;
  for (const PlanSlot& s : plan_.slots) {
    if (!layers.insert({s.model, s.layer}).second) continue;
    const DenseModelWeights& w = *state_->model.layer_sources[static_cast<size_t>(s.model)];
    for (auto bytes : layer_weight_bytes(w.layers[static_cast<size_t>(s.layer)])) count(bytes, static_cast<size_t>(s.model));
  }
  a.distinct_layers = static_cast<int>(layers.size());
  a.kv_cache_bytes = state_->cache.bytes();
  return a;
}

int Engine::n_sequences() const { return state_->cache.n_sequences(); }
int64_t Engine::sequence_length(int s) const { return state_->cache.length(s); }
int64_t Engine::n_ctx() const { return state_->cache.max_positions(); }

void Engine::reset() {
  state_->cache.reset(0);
  state_->recurrent.reset(0);
  partial_ = false;
}

void Engine::prefill_slots(const std::vector<std::vector<int32_t>>& sequences, int from_slot, int to_slot,
                           std::vector<float>& x) {
  reset();
  std::vector<std::span<const int32_t>> views(sequences.begin(), sequences.end());
  const std::vector<float> x_in = from_slot > 0 ? x : std::vector<float>();
  SlotRange range{from_slot, to_slot, from_slot > 0 ? x_in.data() : nullptr, &x};
  if (from_slot > 0) check_residual(sequences, x_in);
  run(views, false, &range);
  partial_ = true;
}

const Logits& Engine::prefill_from(const std::vector<std::vector<int32_t>>& sequences, int from_slot,
                                   const std::vector<float>& x, bool all_positions) {
  reset();
  std::vector<std::span<const int32_t>> views(sequences.begin(), sequences.end());
  if (from_slot > 0) check_residual(sequences, x);
  SlotRange range{from_slot, -1, x.data(), nullptr};
  run(views, all_positions, &range);
  partial_ = from_slot > 0;
  return logits_;
}

void Engine::check_residual(const std::vector<std::vector<int32_t>>& sequences, const std::vector<float>& x) const {
  size_t rows = 0;
  for (const auto& s : sequences) rows += s.size();
  if (x.size() != rows * static_cast<size_t>(config_.n_embd))
    throw Error("residual stream of " + std::to_string(x.size()) + " floats does not fit " + std::to_string(rows) +
                " tokens of width " + std::to_string(config_.n_embd));
}

const Logits& Engine::prefill(const std::vector<std::vector<int32_t>>& sequences, bool all_positions) {
  std::vector<std::span<const int32_t>> views(sequences.begin(), sequences.end());
  run(views, all_positions);
  return logits_;
}

const Logits& Engine::decode(std::span<const int32_t> tokens) {
  if (n_sequences() == 0) throw Error("decode: no sequences (call prefill first)");
  // Spans into the caller's array: one token each, no copies.
  std::vector<std::span<const int32_t>>& views = decode_views_;
  views.resize(tokens.size());
  for (size_t s = 0; s < tokens.size(); ++s) views[s] = tokens.subspan(s, 1);
  run(views, false);
  return logits_;
}

void Engine::run(const std::vector<std::span<const int32_t>>& sequences, bool all_positions, const SlotRange* range) {
  State& st = *state_;
  KvCache& cache = st.cache;
  const int n_seq = static_cast<int>(sequences.size());
  if (n_seq == 0) throw Error("no sequences given");
  if (partial_) throw Error("the engine's sequences ran only some slots and cannot continue (reset() first)");
  const bool fresh = cache.n_sequences() == 0;
  if (!fresh && cache.n_sequences() != n_seq) {
    throw Error("the engine holds " + std::to_string(cache.n_sequences()) + " sequences, but " +
                std::to_string(n_seq) + " were given (reset() starts new ones)");
  }

  // Validate everything before touching the cache, so a bad call leaves the state unchanged.
  for (int s = 0; s < n_seq; ++s) {
    const auto& tokens = sequences[static_cast<size_t>(s)];
    if (tokens.empty()) throw Error("sequence " + std::to_string(s) + " has no tokens");
    for (size_t t = 0; t < tokens.size(); ++t)
      if (tokens[t] < 0 || tokens[t] >= config_.n_vocab)
        throw Error("sequence " + std::to_string(s) + ", token " + std::to_string(t) + ": id " +
                    std::to_string(tokens[t]) + " is outside the vocabulary of " + std::to_string(config_.n_vocab));
    const int64_t needed = (fresh ? 0 : cache.length(s)) + static_cast<int64_t>(tokens.size());
    if (needed > cache.max_positions())
      throw Error("sequence " + std::to_string(s) + ": " + std::to_string(needed) +
                  " positions exceed the context size of " + std::to_string(cache.max_positions()));
  }

  if (fresh) {
    cache.reset(n_seq);
    st.recurrent.reset(n_seq);
  }

  DenseBatch& b = st.batch;
  b.tokens.clear();
  b.positions.clear();
  b.chunks.clear();
  b.output_rows.clear();
  logits_.first_row_.clear();
  logits_.n_rows_.clear();
  for (int s = 0; s < n_seq; ++s) {
    const auto& tokens = sequences[static_cast<size_t>(s)];
    SequenceChunk ch;
    ch.seq = s;
    ch.first_row = static_cast<int64_t>(b.tokens.size());
    ch.n_tokens = static_cast<int64_t>(tokens.size());
    ch.start = cache.length(s);
    b.chunks.push_back(ch);
    cache.reserve(s, ch.start + ch.n_tokens);
    logits_.first_row_.push_back(static_cast<int64_t>(b.output_rows.size()));
    for (int64_t t = 0; t < ch.n_tokens; ++t) {
      b.tokens.push_back(tokens[static_cast<size_t>(t)]);
      b.positions.push_back(static_cast<int32_t>(ch.start + t));
      if (all_positions || t == ch.n_tokens - 1) b.output_rows.push_back(ch.first_row + t);
    }
    logits_.n_rows_.push_back(static_cast<int64_t>(b.output_rows.size()) - logits_.first_row_.back());
  }

  logits_.data_.resize(b.output_rows.size() * static_cast<size_t>(config_.n_vocab));
  const SlotRange all;
  const SlotRange& r = range ? *range : all;
  if (is_hybrid(config_.arch))
    forward_hybrid(st.model, b, cache, st.recurrent, st.scratch, mode_, st.pool, logits_.data_.data(), r);
  else
    forward_dense(st.model, b, cache, st.scratch, mode_, st.pool, logits_.data_.data(), r);
  for (const SequenceChunk& ch : b.chunks) cache.set_length(ch.seq, ch.start + ch.n_tokens);
}

}  // namespace layerlab
