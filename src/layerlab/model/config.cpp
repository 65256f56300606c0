// Reads ModelConfig from GGUF-style metadata with the defaults llama.cpp applies in
// `load_hparams`, and decides the kind of every decoder layer.
//
// Integer keys are accepted in any integer width (llama.cpp is stricter); a value of the
// wrong kind, a negative or absurd size, or a per-layer array of the wrong length is an
// Error naming the full key.
#include "layerlab/model/config.h"

#include <fmt/format.h>

#include <cstdlib>
#include <optional>

#include "layerlab/io/error.h"

namespace layerlab {
namespace {

// Far above any real model, low enough that nothing sized from it can exhaust memory.
constexpr int64_t kMaxLayers = 1 << 16;
constexpr int64_t kMaxDim = int64_t{1} << 30;

// Reads `<arch>.<name>` keys and reports problems with the full key name.
class HparamReader {
 public:
  HparamReader(const Metadata& md, std::string arch) : md_(md), prefix_(std::move(arch) + ".") {}

  std::string key(std::string_view name) const { return prefix_ + std::string(name); }
  const Value* find(std::string_view name) const { return md_.find(key(name)); }

  std::optional<int64_t> opt_int(std::string_view name, int64_t max = kMaxDim) const {
    const Value* v = find(name);
    if (!v) return std::nullopt;
    return checked_int(*v, key(name), max);
  }
  int64_t req_int(std::string_view name, int64_t max = kMaxDim) const {
    auto v = opt_int(name, max);
    if (!v) throw Error(fmt::format("missing required key {}", key(name)));
    return *v;
  }
  std::optional<double> opt_float(std::string_view name) const {
    const Value* v = find(name);
    if (!v) return std::nullopt;
    if (!v->is_float())
      throw Error(fmt::format("key {} has type {}, expected a float", key(name),
                              value_type_name(v->type)));
    return v->f;
  }

  // A "key or array" hyperparameter: a scalar for every layer, or exactly n_all entries.
  // Absent -> nullopt.
  std::optional<std::vector<int64_t>> opt_per_layer(std::string_view name, int64_t n_all) const {
    const Value* v = find(name);
    if (!v) return std::nullopt;
    std::vector<int64_t> out;
    if (!v->is_array()) {
      out.assign(static_cast<size_t>(n_all), checked_int(*v, key(name), kMaxDim));
      return out;
    }
    if (static_cast<int64_t>(v->items.size()) != n_all)
      throw Error(fmt::format("key {} has {} entries, expected block_count = {}", key(name),
                              v->items.size(), n_all));
    out.reserve(v->items.size());
    for (const Value& item : v->items) out.push_back(checked_int(item, key(name), kMaxDim));
    return out;
  }

  static int64_t checked_int(const Value& v, const std::string& full_key, int64_t max) {
    // BOOL counts as an integer only inside per-layer flag arrays, handled by the caller.
    if (!v.is_integer() && v.type != ValueType::BOOL)
      throw Error(fmt::format("key {} has type {}, expected an integer", full_key,
                              value_type_name(v.type)));
    int64_t x = *v.as_int();
    if (v.type == ValueType::U64 && v.u > static_cast<uint64_t>(INT64_MAX)) x = -1;
    if (x < 0 || x > max)
      throw Error(fmt::format("key {} has value {} out of range [0, {}]", full_key,
                              v.type == ValueType::U64 ? std::to_string(v.u) : std::to_string(x),
                              max));
    return x;
  }

 private:
  const Metadata& md_;
  std::string prefix_;
};

bool is_hybrid(Arch a) {
  return a == Arch::kQwen3Next || a == Arch::kQwen35 || a == Arch::kQwen35Moe;
}
bool is_moe_arch(Arch a) {
  return a == Arch::kQwen3Moe || a == Arch::kQwen3Next || a == Arch::kQwen35Moe;
}

RopeType rope_type_for(Arch a) {
  switch (a) {
    case Arch::kLlama: return RopeType::kNorm;
    case Arch::kQwen35: case Arch::kQwen35Moe: return RopeType::kImrope;
    default: return RopeType::kNeox;
  }
}

std::string tensor_name(int il, std::string_view suffix) {
  return fmt::format("blk.{}.{}", il, suffix);
}

// Per-layer recurrent flags of the hybrid family: the explicit array if present, else the
// full-attention interval (layer i is full attention iff (i+1) % interval == 0).
std::vector<bool> recurrent_flags(const HparamReader& hp, int64_t n_all, int64_t n_layer,
                                  int64_t interval) {
  std::vector<bool> recr(static_cast<size_t>(n_all), false);
  const std::string key = hp.key("attention.recurrent_layers");
  if (const Value* v = hp.find("attention.recurrent_layers")) {
    if (!v->is_array()) {
      bool all = HparamReader::checked_int(*v, key, 1) != 0;
      recr.assign(recr.size(), all);
      return recr;
    }
    if (v->elem_type != ValueType::BOOL && v->elem_type != ValueType::I32 &&
        v->elem_type != ValueType::U32)
      throw Error(fmt::format("key {} has element type {}, expected BOOL, INT32 or UINT32", key,
                              value_type_name(v->elem_type)));
    if (static_cast<int64_t>(v->items.size()) != n_all)
      throw Error(fmt::format("key {} has {} entries, expected block_count = {}", key,
                              v->items.size(), n_all));
    for (size_t i = 0; i < v->items.size(); ++i)
      recr[i] = HparamReader::checked_int(v->items[i], key, INT32_MAX) != 0;
    return recr;
  }
  for (int64_t i = 0; i < n_layer; ++i) recr[static_cast<size_t>(i)] = (i + 1) % interval != 0;
  return recr;
}

void read_rope(const HparamReader& hp, ModelConfig& c) {
  c.rope_type = rope_type_for(c.arch);
  c.n_rot = static_cast<int>(hp.opt_int("rope.dimension_count").value_or(c.head_dim_k));
  if (c.n_rot > c.head_dim_k)
    throw Error(fmt::format("key {} = {} exceeds the head dimension {}",
                            hp.key("rope.dimension_count"), c.n_rot, c.head_dim_k));
  // llama's NORM rope rotates the whole head; a partial value means a mis-converted file.
  if (c.arch == Arch::kLlama && c.n_rot != c.head_dim_k)
    throw Error(fmt::format("key {} = {} must equal the head dimension {} for llama",
                            hp.key("rope.dimension_count"), c.n_rot, c.head_dim_k));
  c.rope_freq_base = static_cast<float>(hp.opt_float("rope.freq_base").value_or(10000.0));

  c.rope_scaling = RopeScaling::kLinear;
  if (const Value* v = hp.find("rope.scaling.type")) {
    if (v->type != ValueType::STRING)
      throw Error(fmt::format("key {} is not a string", hp.key("rope.scaling.type")));
    if (v->str == "none") c.rope_scaling = RopeScaling::kNone;
    else if (v->str == "linear") c.rope_scaling = RopeScaling::kLinear;
    else if (v->str == "yarn") c.rope_scaling = RopeScaling::kYarn;
    else if (v->str == "longrope") c.rope_scaling = RopeScaling::kLongrope;
    else
      throw Error(fmt::format("key {} has unknown value \"{}\"", hp.key("rope.scaling.type"),
                              v->str));
  }
  std::optional<double> factor = hp.opt_float("rope.scaling.factor");
  if (!factor) factor = hp.opt_float("rope.scale_linear");  // older name of the same key
  if (factor && *factor < 0.0)
    throw Error(fmt::format("key {} is negative", hp.key("rope.scaling.factor")));
  c.rope_freq_scale = (!factor || *factor == 0.0) ? 1.0f : static_cast<float>(1.0 / *factor);
  if (c.rope_scaling == RopeScaling::kNone) c.rope_freq_scale = 1.0f;
  c.rope_n_ctx_orig = static_cast<int>(
      hp.opt_int("rope.scaling.original_context_length").value_or(c.n_ctx_train));
  c.rope_attn_factor = static_cast<float>(hp.opt_float("rope.scaling.attn_factor").value_or(1.0));

  if (const Value* v = hp.find("rope.dimension_sections")) {
    const std::string key = hp.key("rope.dimension_sections");
    if (!v->is_array() || v->items.size() > 4)
      throw Error(fmt::format("key {} must be an array of at most 4 integers", key));
    for (size_t i = 0; i < v->items.size(); ++i)
      c.rope_sections[i] = static_cast<int>(HparamReader::checked_int(v->items[i], key, kMaxDim));
  } else if (c.arch == Arch::kQwen35 || c.arch == Arch::kQwen35Moe) {
    throw Error(fmt::format("missing required key {}", hp.key("rope.dimension_sections")));
  }
}

void read_ssm(const HparamReader& hp, ModelConfig& c) {
  c.ssm_conv_kernel = static_cast<int>(hp.req_int("ssm.conv_kernel"));
  c.ssm_state_size = static_cast<int>(hp.req_int("ssm.state_size"));
  c.ssm_group_count = static_cast<int>(hp.req_int("ssm.group_count"));
  c.ssm_time_step_rank = static_cast<int>(hp.req_int("ssm.time_step_rank"));
  c.ssm_inner_size = static_cast<int>(hp.req_int("ssm.inner_size"));
  if (c.ssm_time_step_rank == 0 || c.ssm_group_count == 0)
    throw Error(fmt::format("key {} / {} must be positive", hp.key("ssm.time_step_rank"),
                            hp.key("ssm.group_count")));
  // The value head dimension (inner / v heads) must equal the key head dimension.
  if (c.ssm_inner_size != c.ssm_state_size * c.ssm_time_step_rank)
    throw Error(fmt::format("key {} = {} is not ssm.state_size x ssm.time_step_rank = {}",
                            hp.key("ssm.inner_size"), c.ssm_inner_size,
                            int64_t{c.ssm_state_size} * c.ssm_time_step_rank));
  if (c.ssm_time_step_rank % c.ssm_group_count != 0)
    throw Error(fmt::format("key {} = {} is not a multiple of {} = {}",
                            hp.key("ssm.time_step_rank"), c.ssm_time_step_rank,
                            hp.key("ssm.group_count"), c.ssm_group_count));
}

int64_t vocab_size(const ModelFile& file, const HparamReader& hp) {
  if (auto v = hp.opt_int("vocab_size")) return *v;
  if (const Value* t = file.metadata.find("tokenizer.ggml.tokens"); t && t->is_array())
    return static_cast<int64_t>(t->items.size());
  if (const TensorInfo* e = file.find_tensor("token_embd.weight")) return e->ne[1];
  throw Error(fmt::format("cannot tell the vocabulary size: no key {}, no tokenizer.ggml.tokens, "
                          "no token_embd.weight",
                          hp.key("vocab_size")));
}

// Shape checks that catch hyperparameters disagreeing with the tensors they describe.
void check_shapes(const ModelFile& file, const HparamReader& hp, const ModelConfig& c) {
  if (const TensorInfo* e = file.find_tensor("token_embd.weight")) {
    if (e->ne[0] != c.n_embd)
      throw Error(fmt::format("token_embd.weight has shape {} but {} = {}", e->shape_string(),
                              hp.key("embedding_length"), c.n_embd));
    if (e->ne[1] != c.n_vocab)
      throw Error(fmt::format("token_embd.weight has shape {} but the vocabulary has {} tokens",
                              e->shape_string(), c.n_vocab));
  }
  for (int il = 0; il < c.n_layer; ++il) {
    const LayerSpec& l = c.layers[static_cast<size_t>(il)];
    if (l.mixer == MixerKind::kAttention) {
      const TensorInfo* k = file.find_tensor(tensor_name(il, "attn_k.weight"));
      if (k && k->ne[1] != int64_t{l.n_head_kv} * c.head_dim_k)
        throw Error(fmt::format("{} has shape {} but {} x {} = {} x {}", k->name,
                                k->shape_string(), hp.key("attention.head_count_kv"),
                                hp.key("attention.key_length"), l.n_head_kv, c.head_dim_k));
    }
    if (l.ffn == FfnKind::kMoe) {
      const TensorInfo* g = file.find_tensor(tensor_name(il, "ffn_gate_inp.weight"));
      if (g && g->ne[1] != c.n_expert)
        throw Error(fmt::format("{} has shape {} but {} = {}", g->name, g->shape_string(),
                                hp.key("expert_count"), c.n_expert));
      const TensorInfo* d = file.find_tensor(tensor_name(il, "ffn_down_exps.weight"));
      if (d && d->ne[2] != c.n_expert)
        throw Error(fmt::format("{} has shape {} but {} = {}", d->name, d->shape_string(),
                                hp.key("expert_count"), c.n_expert));
    }
  }
}

}  // namespace

std::string_view arch_display_name(Arch arch) {
  switch (arch) {
    case Arch::kLlama: return "Llama";
    case Arch::kQwen2: return "Qwen2";
    case Arch::kQwen3: return "Qwen3";
    case Arch::kQwen3Moe: return "Qwen3-MoE";
    case Arch::kQwen3Next: return "Qwen3-Next";
    case Arch::kQwen35: return "Qwen3.5";
    case Arch::kQwen35Moe: return "Qwen3.5-MoE";
    case Arch::kUnknown: break;
  }
  return "unknown";
}

Arch arch_from_name(std::string_view name) {
  if (name == "llama") return Arch::kLlama;
  if (name == "qwen2") return Arch::kQwen2;
  if (name == "qwen3") return Arch::kQwen3;
  if (name == "qwen3moe") return Arch::kQwen3Moe;
  if (name == "qwen3next") return Arch::kQwen3Next;
  if (name == "qwen35") return Arch::kQwen35;
  if (name == "qwen35moe") return Arch::kQwen35Moe;
  return Arch::kUnknown;
}

std::string_view mixer_kind_name(MixerKind kind) {
  return kind == MixerKind::kAttention ? "attention" : "linear_attention";
}
std::string_view ffn_kind_name(FfnKind kind) { return kind == FfnKind::kDense ? "dense" : "moe"; }

std::string_view rope_type_name(RopeType type) {
  switch (type) {
    case RopeType::kNorm: return "norm";
    case RopeType::kNeox: return "neox";
    case RopeType::kMrope: return "mrope";
    case RopeType::kImrope: return "imrope";
  }
  return "norm";
}

std::string_view rope_scaling_name(RopeScaling scaling) {
  switch (scaling) {
    case RopeScaling::kNone: return "none";
    case RopeScaling::kLinear: return "linear";
    case RopeScaling::kYarn: return "yarn";
    case RopeScaling::kLongrope: return "longrope";
  }
  return "linear";
}

ModelConfig read_model_config(const ModelFile& file) {
  ModelConfig c;
  c.arch_name = file.architecture();
  if (c.arch_name.empty()) throw Error("missing required key general.architecture");
  c.arch = arch_from_name(c.arch_name);
  if (c.arch == Arch::kUnknown)
    throw Error(fmt::format("unsupported architecture \"{}\" (general.architecture)", c.arch_name));
  const HparamReader hp(file.metadata, c.arch_name);

  c.n_ctx_train = static_cast<int>(hp.req_int("context_length"));
  c.n_embd = static_cast<int>(hp.req_int("embedding_length"));
  if (c.n_embd == 0) throw Error(fmt::format("key {} is 0", hp.key("embedding_length")));
  const int64_t n_all = hp.req_int("block_count", kMaxLayers);
  const int64_t n_nextn = hp.opt_int("nextn_predict_layers", kMaxLayers).value_or(0);
  if (n_nextn > n_all)
    throw Error(fmt::format("key {} = {} exceeds {} = {}", hp.key("nextn_predict_layers"), n_nextn,
                            hp.key("block_count"), n_all));
  c.n_layer_all = static_cast<int>(n_all);
  c.n_layer = static_cast<int>(n_all - n_nextn);
  c.n_vocab = static_cast<int>(vocab_size(file, hp));
  c.rms_eps = static_cast<float>(hp.opt_float("attention.layer_norm_rms_epsilon").value_or(-1.0));
  if (c.rms_eps < 0.0f)
    throw Error(fmt::format("missing required key {}", hp.key("attention.layer_norm_rms_epsilon")));

  // Per-layer head counts and FFN widths (scalar or block_count-long array).
  auto n_head = hp.opt_per_layer("attention.head_count", n_all);
  if (!n_head) throw Error(fmt::format("missing required key {}", hp.key("attention.head_count")));
  auto n_head_kv = hp.opt_per_layer("attention.head_count_kv", n_all).value_or(*n_head);
  auto n_ff = hp.opt_per_layer("feed_forward_length", n_all);

  // Layer kinds.
  std::vector<bool> recurrent(static_cast<size_t>(n_all), false);
  if (is_hybrid(c.arch)) {
    c.full_attention_interval =
        static_cast<int>(hp.opt_int("full_attention_interval").value_or(4));
    if (c.full_attention_interval == 0)
      throw Error(fmt::format("key {} is 0", hp.key("full_attention_interval")));
    recurrent = recurrent_flags(hp, n_all, c.n_layer, c.full_attention_interval);
    read_ssm(hp, c);
  }
  c.layers.resize(static_cast<size_t>(c.n_layer));
  for (int il = 0; il < c.n_layer; ++il) {
    LayerSpec& l = c.layers[static_cast<size_t>(il)];
    l.mixer = recurrent[static_cast<size_t>(il)] ? MixerKind::kLinearAttention : MixerKind::kAttention;
    // llama with a router tensor is Mixtral-style MoE; the qwen MoE families are MoE everywhere.
    bool moe = is_moe_arch(c.arch) ||
               (c.arch == Arch::kLlama && file.find_tensor(tensor_name(il, "ffn_gate_inp.weight")));
    l.ffn = moe ? FfnKind::kMoe : FfnKind::kDense;
    l.n_head = static_cast<int>((*n_head)[static_cast<size_t>(il)]);
    l.n_head_kv = static_cast<int>(n_head_kv[static_cast<size_t>(il)]);
    l.n_ff = n_ff ? static_cast<int>((*n_ff)[static_cast<size_t>(il)]) : 0;
    if (l.mixer == MixerKind::kAttention) {
      if (l.n_head == 0)
        throw Error(fmt::format("key {} is 0 for attention layer {}", hp.key("attention.head_count"), il));
      if (l.n_head_kv == 0 || l.n_head % l.n_head_kv != 0)
        throw Error(fmt::format("key {} = {} does not divide {} = {} (layer {})",
                                hp.key("attention.head_count_kv"), l.n_head_kv,
                                hp.key("attention.head_count"), l.n_head, il));
    }
    if (l.ffn == FfnKind::kDense && l.n_ff == 0)
      throw Error(fmt::format("missing required key {} (layer {} has a dense FFN)",
                              hp.key("feed_forward_length"), il));
  }

  // Model-wide values are those of the first attention layer (layer 0 if there is none).
  size_t ref = 0;
  for (size_t il = 0; il < c.layers.size(); ++il)
    if (c.layers[il].mixer == MixerKind::kAttention) { ref = il; break; }
  if (n_all > 0) {
    c.n_head = static_cast<int>((*n_head)[ref]);
    c.n_head_kv = static_cast<int>(n_head_kv[ref]);
    c.n_ff = n_ff ? static_cast<int>((*n_ff)[ref]) : 0;
  }
  int default_head_dim = c.n_head > 0 ? c.n_embd / c.n_head : 0;
  c.head_dim_k = static_cast<int>(hp.opt_int("attention.key_length").value_or(default_head_dim));
  c.head_dim_v = static_cast<int>(hp.opt_int("attention.value_length").value_or(default_head_dim));
  read_rope(hp, c);

  bool any_moe = false;
  for (const auto& l : c.layers) any_moe = any_moe || l.ffn == FfnKind::kMoe;
  c.n_expert = static_cast<int>(hp.opt_int("expert_count").value_or(0));
  c.n_expert_used = static_cast<int>(hp.opt_int("expert_used_count").value_or(0));
  if (any_moe) {
    if (c.n_expert == 0) throw Error(fmt::format("missing required key {}", hp.key("expert_count")));
    if (c.n_expert_used == 0 || c.n_expert_used > c.n_expert)
      throw Error(fmt::format("key {} = {} must be in [1, {} = {}]", hp.key("expert_used_count"),
                              c.n_expert_used, hp.key("expert_count"), c.n_expert));
    c.n_ff_expert = static_cast<int>(hp.opt_int("expert_feed_forward_length").value_or(0));
    if (c.n_ff_expert == 0) c.n_ff_expert = c.n_ff / c.n_expert_used;
    if (c.n_ff_expert == 0)
      throw Error(fmt::format("missing required key {}", hp.key("expert_feed_forward_length")));
    c.n_ff_shared_expert =
        static_cast<int>(hp.opt_int("expert_shared_feed_forward_length").value_or(0));
  }

  c.tied_embeddings = file.find_tensor("output.weight") == nullptr;
  check_shapes(file, hp, c);
  return c;
}

}  // namespace layerlab
