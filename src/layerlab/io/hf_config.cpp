#include "layerlab/io/hf_config.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "layerlab/io/error.h"

namespace layerlab {
namespace {

using json = nlohmann::json;

constexpr HfArch kArchs[] = {
    {"llama", "LlamaForCausalLM", "llama", false, false, false},
    {"qwen2", "Qwen2ForCausalLM", "qwen2", false, false, false},
    {"qwen3", "Qwen3ForCausalLM", "qwen3", false, false, false},
    {"qwen3moe", "Qwen3MoeForCausalLM", "qwen3_moe", false, true, false},
    {"qwen3next", "Qwen3NextForCausalLM", "qwen3_next", true, true, false},
    {"qwen35", "Qwen3_5ForCausalLM", "qwen3_5_text", true, false, true},
    {"qwen35moe", "Qwen3_5MoeForCausalLM", "qwen3_5_moe_text", true, true, true},
};

// Other names under which HF configs announce the same architectures.
const std::map<std::string, std::string_view, std::less<>> kAliases = {
    {"LlamaForCausalLM", "llama"}, {"llama", "llama"},
    {"Qwen2ForCausalLM", "qwen2"}, {"qwen2", "qwen2"},
    {"Qwen3ForCausalLM", "qwen3"}, {"qwen3", "qwen3"},
    {"Qwen3MoeForCausalLM", "qwen3moe"}, {"qwen3_moe", "qwen3moe"},
    {"Qwen3NextForCausalLM", "qwen3next"}, {"qwen3_next", "qwen3next"},
    {"Qwen3_5ForCausalLM", "qwen35"}, {"Qwen3_5ForConditionalGeneration", "qwen35"},
    {"qwen3_5", "qwen35"}, {"qwen3_5_text", "qwen35"},
    {"Qwen3_5MoeForCausalLM", "qwen35moe"}, {"Qwen3_5MoeForConditionalGeneration", "qwen35moe"},
    {"qwen3_5_moe", "qwen35moe"}, {"qwen3_5_moe_text", "qwen35moe"},
};

struct Reader {
  const json& cfg;
  const std::string& path;

  const json* find(std::string_view key) const {
    auto it = cfg.find(std::string(key));
    return it == cfg.end() || it->is_null() ? nullptr : &*it;
  }
  [[noreturn]] void bad(std::string_view key, std::string_view what) const {
    throw Error(fmt::format("{}: config.json: '{}' {}", path, key, what));
  }
  std::optional<uint32_t> u32(std::string_view key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > 0xffffffffll)
      bad(key, "must be a non-negative 32-bit integer");
    return static_cast<uint32_t>(v->get<int64_t>());
  }
  uint32_t need_u32(std::string_view key) const {
    auto v = u32(key);
    if (!v) bad(key, "is missing");
    return *v;
  }
  std::optional<double> number(std::string_view key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_number()) bad(key, "must be a number");
    return v->get<double>();
  }
};

// rope_parameters (newer transformers) or rope_scaling (older): the scaling description.
const json* rope_params(const json& cfg) {
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    auto it = cfg.find(key);
    if (it != cfg.end() && it->is_object()) return &*it;
  }
  return nullptr;
}

std::vector<bool> recurrent_by_interval(uint32_t n_layer, uint32_t interval) {
  std::vector<bool> r(n_layer);
  for (uint32_t i = 0; i < n_layer; ++i) r[i] = interval == 0 || (i + 1) % interval != 0;
  return r;
}

}  // namespace

const HfArch* hf_arch_for_gguf(std::string_view gguf_arch) {
  for (const auto& a : kArchs)
    if (a.gguf == gguf_arch) return &a;
  return nullptr;
}

const HfArch& detect_hf_arch(const json& config, const std::string& path) {
  std::vector<std::string> names;
  auto collect = [&](const json& c) {
    if (auto it = c.find("architectures"); it != c.end() && it->is_array())
      for (const auto& a : *it)
        if (a.is_string()) names.push_back(a.get<std::string>());
    if (auto it = c.find("model_type"); it != c.end() && it->is_string()) names.push_back(it->get<std::string>());
  };
  if (config.is_object()) {
    collect(config);
    if (auto it = config.find("text_config"); it != config.end() && it->is_object()) collect(*it);
  }
  for (const auto& n : names)
    if (auto it = kAliases.find(n); it != kAliases.end()) return *hf_arch_for_gguf(it->second);
  throw Error(fmt::format("{}: config.json: unsupported architecture '{}' (supported: llama, qwen2, qwen3, "
                          "qwen3moe, qwen3next, qwen35, qwen35moe)",
                          path, names.empty() ? std::string("none given") : names.front()));
}

json merge_text_config(const json& config) {
  json merged = config;
  if (auto it = config.find("text_config"); it != config.end() && it->is_object()) {
    for (const auto& [k, v] : it->items()) merged[k] = v;
    merged.erase("text_config");
  }
  return merged;
}

json float_to_json(float value) {
  if (!std::isfinite(value)) return static_cast<double>(value);
  std::string shortest = fmt::format("{}", value);
  double d = std::strtod(shortest.c_str(), nullptr);
  if (static_cast<float>(d) == value) return d;
  return static_cast<double>(value);
}

Metadata config_to_metadata(const json& cfg, const HfArch& arch, const std::string& path) {
  if (!cfg.is_object()) throw Error(path + ": config.json is not a JSON object");
  Reader r{cfg, path};
  Metadata m;
  const std::string p = std::string(arch.gguf) + ".";
  auto set_u32 = [&](const std::string& key, uint32_t v) { m.set(p + key, Value::u32(v)); };
  auto set_f32 = [&](const std::string& key, double v) { m.set(p + key, Value::f32(static_cast<float>(v))); };

  m.set("general.architecture", Value::string(std::string(arch.gguf)));
  if (auto v = r.u32("vocab_size")) set_u32("vocab_size", *v);
  if (auto v = r.u32("max_position_embeddings")) set_u32("context_length", *v);
  const uint32_t n_embd = r.need_u32("hidden_size");
  set_u32("embedding_length", n_embd);
  const uint32_t n_layer = r.need_u32("num_hidden_layers");
  set_u32("block_count", n_layer);
  if (auto v = r.u32("intermediate_size")) set_u32("feed_forward_length", *v);
  const uint32_t n_head = r.need_u32("num_attention_heads");
  if (n_head == 0) r.bad("num_attention_heads", "must be positive");
  set_u32("attention.head_count", n_head);
  set_u32("attention.head_count_kv", r.u32("num_key_value_heads").value_or(n_head));

  const json* rope = rope_params(cfg);
  double theta = 10000.0;
  if (auto v = r.number("rope_theta")) theta = *v;
  else if (rope && rope->contains("rope_theta") && (*rope)["rope_theta"].is_number()) theta = (*rope)["rope_theta"].get<double>();
  set_f32("rope.freq_base", theta);
  if (auto v = r.number("rms_norm_eps")) set_f32("attention.layer_norm_rms_epsilon", *v);
  else r.bad("rms_norm_eps", "is missing");

  const std::optional<uint32_t> head_dim = r.u32("head_dim");
  if (head_dim) {
    set_u32("attention.key_length", *head_dim);
    set_u32("attention.value_length", *head_dim);
  }
  const uint32_t d = head_dim.value_or(n_embd / n_head);
  if (arch.hybrid) {
    double partial = 1.0;
    if (auto v = r.number("partial_rotary_factor")) partial = *v;
    else if (rope && rope->contains("partial_rotary_factor") && (*rope)["partial_rotary_factor"].is_number())
      partial = (*rope)["partial_rotary_factor"].get<double>();
    set_u32("rope.dimension_count", static_cast<uint32_t>(d * partial));
  } else {
    set_u32("rope.dimension_count", d);
  }

  // RoPE frequency scaling.
  if (rope) {
    std::string type;
    for (const char* k : {"rope_type", "type"})
      if (rope->contains(k) && (*rope)[k].is_string()) type = (*rope)[k].get<std::string>();
    double factor = rope->contains("factor") && (*rope)["factor"].is_number() ? (*rope)["factor"].get<double>() : 1.0;
    if (type == "linear" || type == "yarn") {
      m.set(p + "rope.scaling.type", Value::string(type));
      set_f32("rope.scaling.factor", factor);
      if (type == "yarn" && rope->contains("original_max_position_embeddings"))
        set_u32("rope.scaling.original_context_length",
                (*rope)["original_max_position_embeddings"].get<uint32_t>());
    } else if (type == "llama3") {
      throw Error(path + ": config.json: llama3 RoPE scaling (rope_freqs tensor) is not supported");
    }
  }

  if (arch.v_tiled) {
    std::vector<Value> sections;
    if (rope && rope->contains("mrope_section") && (*rope)["mrope_section"].is_array()) {
      for (const auto& s : (*rope)["mrope_section"])
        if (s.is_number_integer()) sections.push_back(Value::i32(s.get<int32_t>()));
    } else {
      for (int s : {11, 11, 10}) sections.push_back(Value::i32(s));
    }
    while (sections.size() < 4) sections.push_back(Value::i32(0));
    m.set(p + "rope.dimension_sections", Value::array(ValueType::I32, std::move(sections)));
  }

  if (arch.hybrid) {
    const uint32_t interval = r.u32("full_attention_interval").value_or(4);
    set_u32("full_attention_interval", interval);
    const uint32_t hv = r.need_u32("linear_num_value_heads");
    set_u32("ssm.conv_kernel", r.need_u32("linear_conv_kernel_dim"));
    set_u32("ssm.state_size", r.need_u32("linear_key_head_dim"));
    set_u32("ssm.group_count", r.need_u32("linear_num_key_heads"));
    set_u32("ssm.time_step_rank", hv);
    set_u32("ssm.inner_size", r.need_u32("linear_value_head_dim") * hv);
    // layer_types only becomes an explicit array when the interval rule would get it wrong.
    if (const json* lt = r.find("layer_types")) {
      if (!lt->is_array() || lt->size() != n_layer) r.bad("layer_types", "must list every layer");
      std::vector<bool> flags;
      for (const auto& t : *lt) {
        if (!t.is_string()) r.bad("layer_types", "entries must be strings");
        flags.push_back(t.get<std::string>() == "linear_attention");
      }
      if (flags != recurrent_by_interval(n_layer, interval)) {
        std::vector<Value> items;
        for (bool f : flags) items.push_back(Value::boolean(f));
        m.set(p + "attention.recurrent_layers", Value::array(ValueType::BOOL, std::move(items)));
      }
    }
  }

  if (arch.moe) {
    auto n_exp = r.u32("num_experts");
    if (!n_exp) n_exp = r.u32("num_local_experts");
    if (!n_exp) r.bad("num_experts", "is missing");
    set_u32("expert_count", *n_exp);
    set_u32("expert_used_count", r.need_u32("num_experts_per_tok"));
    if (auto v = r.u32("moe_intermediate_size")) set_u32("expert_feed_forward_length", *v);
    if (auto v = r.u32("shared_expert_intermediate_size")) set_u32("expert_shared_feed_forward_length", *v);
  }
  return m;
}

json metadata_to_config(const ModelFile& model, const HfArch& arch) {
  const Metadata& md = model.metadata;
  const std::string p = std::string(arch.gguf) + ".";
  auto get_int = [&](const std::string& key) { return md.get_int(p + key); };
  auto need_int = [&](const std::string& key) {
    auto v = md.get_int(p + key);
    if (!v) throw Error(fmt::format("cannot write config.json: metadata key '{}{}' is missing", p, key));
    return *v;
  };
  auto get_f32 = [&](const std::string& key) -> std::optional<float> {
    auto v = md.get_float(p + key);
    if (!v) return std::nullopt;
    return static_cast<float>(*v);
  };

  json c = json::object();
  c["architectures"] = json::array({std::string(arch.hf_class)});
  c["model_type"] = std::string(arch.model_type);

  const TensorInfo* embd = model.find_tensor("token_embd.weight");
  if (auto v = get_int("vocab_size")) c["vocab_size"] = *v;
  else if (embd) c["vocab_size"] = embd->ne[1];
  const int64_t n_embd = need_int("embedding_length");
  const int64_t n_layer = need_int("block_count");
  const int64_t n_head = need_int("attention.head_count");
  c["hidden_size"] = n_embd;
  c["num_hidden_layers"] = n_layer;
  if (auto v = get_int("feed_forward_length")) c["intermediate_size"] = *v;
  c["num_attention_heads"] = n_head;
  c["num_key_value_heads"] = get_int("attention.head_count_kv").value_or(n_head);
  if (auto v = get_int("context_length")) c["max_position_embeddings"] = *v;
  c["rms_norm_eps"] = float_to_json(get_f32("attention.layer_norm_rms_epsilon").value_or(1e-6f));
  const float theta = get_f32("rope.freq_base").value_or(10000.0f);
  c["rope_theta"] = float_to_json(theta);

  const auto key_length = get_int("attention.key_length");
  const int64_t head_dim = key_length.value_or(n_head ? n_embd / n_head : 0);
  const auto n_rot = get_int("rope.dimension_count");
  if (key_length || (!arch.hybrid && n_rot && *n_rot != head_dim)) c["head_dim"] = n_rot && !key_length ? *n_rot : head_dim;
  c["tie_word_embeddings"] = model.find_tensor("output.weight") == nullptr;
  c["hidden_act"] = "silu";

  // The most common 2-D weight type decides torch_dtype.
  std::map<GgmlType, int> counts;
  for (const auto& t : model.tensors)
    if (t.n_dims >= 2) ++counts[t.type];
  GgmlType main = GgmlType::F32;
  int best = -1;
  for (auto [t, n] : counts)
    if (n > best) best = n, main = t;
  c["torch_dtype"] = main == GgmlType::F16 ? "float16" : main == GgmlType::BF16 ? "bfloat16" : "float32";

  if (arch.gguf == "llama") {
    c["attention_bias"] = model.find_tensor("blk.0.attn_q.bias") != nullptr;
    c["mlp_bias"] = model.find_tensor("blk.0.ffn_up.bias") != nullptr;
  }

  if (auto type = md.get_string(p + "rope.scaling.type"); type && (*type == "linear" || *type == "yarn")) {
    json rs = {{"rope_type", *type}, {"factor", float_to_json(get_f32("rope.scaling.factor").value_or(1.0f))}};
    if (auto v = get_int("rope.scaling.original_context_length")) rs["original_max_position_embeddings"] = *v;
    c["rope_scaling"] = rs;
  }

  if (arch.hybrid) {
    const int64_t interval = get_int("full_attention_interval").value_or(4);
    const int64_t hv = need_int("ssm.time_step_rank");
    c["full_attention_interval"] = interval;
    c["linear_conv_kernel_dim"] = need_int("ssm.conv_kernel");
    c["linear_key_head_dim"] = need_int("ssm.state_size");
    c["linear_num_key_heads"] = need_int("ssm.group_count");
    c["linear_num_value_heads"] = hv;
    c["linear_value_head_dim"] = hv ? need_int("ssm.inner_size") / hv : 0;
    const double partial = head_dim && n_rot ? static_cast<double>(*n_rot) / static_cast<double>(head_dim) : 1.0;
    c["partial_rotary_factor"] = partial;
    c["attn_output_gate"] = true;
    std::vector<bool> recurrent = recurrent_by_interval(static_cast<uint32_t>(n_layer), static_cast<uint32_t>(interval));
    if (const Value* v = md.find(p + "attention.recurrent_layers"); v && v->is_array() && v->items.size() == recurrent.size())
      for (size_t i = 0; i < recurrent.size(); ++i) recurrent[i] = v->items[i].as_int().value_or(0) != 0;
    json types = json::array();
    for (bool r : recurrent) types.push_back(r ? "linear_attention" : "full_attention");
    c["layer_types"] = types;
    json rp = {{"rope_type", "default"}, {"rope_theta", float_to_json(theta)}, {"partial_rotary_factor", partial}};
    if (arch.v_tiled) {
      json sections = json::array();
      if (const Value* v = md.find(p + "rope.dimension_sections"); v && v->is_array())
        for (size_t i = 0; i < v->items.size() && i < 3; ++i) sections.push_back(v->items[i].as_int().value_or(0));
      rp["mrope_section"] = sections;
      rp["mrope_interleaved"] = true;
    }
    c["rope_parameters"] = rp;
  }

  if (arch.moe) {
    c["num_experts"] = need_int("expert_count");
    c["num_experts_per_tok"] = need_int("expert_used_count");
    if (auto v = get_int("expert_feed_forward_length")) c["moe_intermediate_size"] = *v;
    if (auto v = get_int("expert_shared_feed_forward_length")) c["shared_expert_intermediate_size"] = *v;
    c["norm_topk_prob"] = true;
  }
  if (auto v = md.get_int("tokenizer.ggml.bos_token_id")) c["bos_token_id"] = *v;
  if (auto v = md.get_int("tokenizer.ggml.eos_token_id")) c["eos_token_id"] = *v;
  return c;
}

}  // namespace layerlab
