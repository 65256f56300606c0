#include "layerlab/model/model_summary.h"

#include <array>
#include <charconv>
#include <cmath>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "layerlab/io/error.h"

namespace layerlab {
namespace {

using nlohmann::json;

// "blk.12.attn_q.weight" -> 12; nullopt for names outside the decoder blocks.
std::optional<int> block_index(std::string_view name) {
  constexpr std::string_view kPrefix = "blk.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  name.remove_prefix(kPrefix.size());
  size_t dot = name.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 6) return std::nullopt;
  int index = 0;
  auto [ptr, ec] = std::from_chars(name.data(), name.data() + dot, index);
  if (ec != std::errc() || ptr != name.data() + dot) return std::nullopt;
  return index;
}

bool has_prefix(std::string_view name, std::string_view stem) {
  // "output" matches "output.weight" and "output.bias" but not "output_norm.weight".
  return name.size() > stem.size() && name.substr(0, stem.size()) == stem &&
         name[stem.size()] == '.';
}

// Roles of special-token ids in a fixed order, with their metadata keys.
constexpr std::array<std::pair<std::string_view, std::string_view>, 15> kSpecialRoles = {{
    {"bos", "bos_token_id"}, {"eos", "eos_token_id"}, {"eot", "eot_token_id"},
    {"eom", "eom_token_id"}, {"unk", "unknown_token_id"}, {"sep", "seperator_token_id"},
    {"pad", "padding_token_id"}, {"cls", "cls_token_id"}, {"mask", "mask_token_id"},
    {"fim_pre", "fim_pre_token_id"}, {"fim_suf", "fim_suf_token_id"},
    {"fim_mid", "fim_mid_token_id"}, {"fim_pad", "fim_pad_token_id"},
    {"fim_rep", "fim_rep_token_id"}, {"fim_sep", "fim_sep_token_id"},
}};

TokenizerSummary summarize_tokenizer(const Metadata& md) {
  TokenizerSummary t;
  t.model = md.get_string("tokenizer.ggml.model").value_or("");
  t.pre = md.get_string("tokenizer.ggml.pre").value_or("");
  const Value* tokens = md.find("tokenizer.ggml.tokens");
  if (tokens && tokens->is_array()) t.n_tokens = static_cast<int64_t>(tokens->items.size());
  t.present = !t.model.empty() || t.n_tokens > 0;
  t.add_bos = md.get_bool("tokenizer.ggml.add_bos_token");
  t.add_eos = md.get_bool("tokenizer.ggml.add_eos_token");
  for (const auto& [role, key] : kSpecialRoles) {
    auto id = md.get_int("tokenizer.ggml." + std::string(key));
    if (!id) continue;
    SpecialToken s{std::string(role), *id, std::nullopt};
    if (tokens && tokens->is_array() && *id >= 0 && *id < t.n_tokens) {
      Value item = tokens->items[static_cast<size_t>(*id)];
      if (item.type == ValueType::STRING) s.text = std::move(item.str);
    }
    t.special_tokens.push_back(std::move(s));
  }
  if (auto tmpl = md.get_string("tokenizer.chat_template")) {
    t.has_chat_template = true;
    t.chat_template_family = chat_template_family(*tmpl);
  }
  constexpr std::string_view kNamed = "tokenizer.chat_template.";
  for (const auto& [key, value] : md.items())
    if (key.size() > kNamed.size() && key.compare(0, kNamed.size(), kNamed) == 0)
      t.named_chat_templates.push_back(key.substr(kNamed.size()));
  return t;
}

// A float32 as the shortest decimal that reads back to the same float (1e-06, not
// 9.999999974752427e-07), so JSON consumers see the value that was written.
json float_json(double value) {
  float f = static_cast<float>(value);
  if (!std::isfinite(f)) return nullptr;
  return std::stod(fmt::format("{}", f));
}

json group_json(const TensorGroupStats& g) {
  return json{{"n_params", g.n_params}, {"n_bytes", g.n_bytes}, {"n_tensors", g.n_tensors},
              {"types", g.type_counts}};
}

json config_json(const ModelConfig& c) {
  json rope{{"type", rope_type_name(c.rope_type)},
            {"n_rot", c.n_rot},
            {"freq_base", float_json(c.rope_freq_base)},
            {"freq_scale", float_json(c.rope_freq_scale)},
            {"scaling", rope_scaling_name(c.rope_scaling)},
            {"n_ctx_orig", c.rope_n_ctx_orig},
            {"attn_factor", float_json(c.rope_attn_factor)},
            {"sections", c.rope_sections}};
  json j{{"arch", c.arch_name},
         {"n_embd", c.n_embd},
         {"n_layer", c.n_layer},
         {"n_layer_all", c.n_layer_all},
         {"n_vocab", c.n_vocab},
         {"n_ctx_train", c.n_ctx_train},
         {"n_head", c.n_head},
         {"n_head_kv", c.n_head_kv},
         {"head_dim_k", c.head_dim_k},
         {"head_dim_v", c.head_dim_v},
         {"n_ff", c.n_ff},
         {"rms_eps", float_json(c.rms_eps)},
         {"rope", rope},
         {"tied_embeddings", c.tied_embeddings},
         {"moe", nullptr},
         {"ssm", nullptr}};
  if (c.n_expert > 0)
    j["moe"] = json{{"n_expert", c.n_expert}, {"n_expert_used", c.n_expert_used},
                    {"n_ff_expert", c.n_ff_expert}, {"n_ff_shared_expert", c.n_ff_shared_expert}};
  if (c.ssm_state_size > 0)
    j["ssm"] = json{{"conv_kernel", c.ssm_conv_kernel}, {"state_size", c.ssm_state_size},
                    {"group_count", c.ssm_group_count}, {"time_step_rank", c.ssm_time_step_rank},
                    {"inner_size", c.ssm_inner_size},
                    {"full_attention_interval", c.full_attention_interval}};
  return j;
}

json value_json(const Value& v) {
  switch (v.type) {
    case ValueType::STRING: return v.str;
    case ValueType::BOOL: return v.u != 0;
    case ValueType::F32: return float_json(v.f);
    case ValueType::F64: return std::isfinite(v.f) ? json(v.f) : json(nullptr);
    case ValueType::ARRAY: return nullptr;  // handled by metadata_json
    case ValueType::U8: case ValueType::U16: case ValueType::U32: case ValueType::U64: return v.u;
    default: return v.i;
  }
}

// Arrays can be huge (a 150k-token vocabulary): only their first entries are listed.
json metadata_json(const Metadata& md) {
  constexpr size_t kArrayHead = 16;
  json out = json::object();
  for (const auto& [key, v] : md.items()) {
    json e{{"type", value_type_name(v.type)}};
    if (v.is_array()) {
      e["elem_type"] = value_type_name(v.elem_type);
      e["length"] = v.items.size();
      json head = json::array();
      for (size_t k = 0; k < v.items.size() && k < kArrayHead; ++k) head.push_back(value_json(v.items[k]));
      e["head"] = std::move(head);
    } else {
      e["value"] = value_json(v);
    }
    out[key] = std::move(e);
  }
  return out;
}

json tensors_json(const ModelFile& file) {
  json out = json::array();
  for (const auto& t : file.tensors) {
    json shape = json::array();
    for (uint32_t d = 0; d < t.n_dims; ++d) shape.push_back(t.ne[d]);
    out.push_back(json{{"name", t.name}, {"type", ggml_type_name(t.type)}, {"shape", shape},
                       {"n_elements", t.n_elements()}, {"n_bytes", t.n_bytes()}});
  }
  return out;
}

}  // namespace

void TensorGroupStats::add(const TensorInfo& t) {
  n_params += t.n_elements();
  n_bytes += t.n_bytes();
  n_tensors += 1;
  type_counts[std::string(ggml_type_name(t.type))] += 1;
}

std::string_view file_format_name(FileFormat format) {
  switch (format) {
    case FileFormat::GGUF: return "gguf";
    case FileFormat::SAFETENSORS: return "safetensors";
    case FileFormat::LLAMA2C: return "llama2c";
  }
  return "gguf";
}

std::string chat_template_family(const std::string& tmpl) {
  // The same markers llama.cpp's template detection keys on, most specific first.
  constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kMarkers = {{
      {"<|im_start|>", "chatml"},
      {"<|start_header_id|>", "llama3"},
      {"<start_of_turn>", "gemma"},
      {"[INST]", "mistral"},
      {"<|user|>", "phi3"},
  }};
  for (const auto& [marker, family] : kMarkers)
    if (tmpl.find(marker) != std::string::npos) return std::string(family);
  return "unknown";
}

ModelSummary summarize_model(const ModelFile& file) {
  ModelSummary s;
  s.paths = file.paths;
  s.format = file.format;
  s.gguf_version = file.gguf_version;
  s.alignment = file.alignment;
  s.file_bytes = file.file_bytes();
  s.n_metadata = file.metadata.size();
  s.arch_name = file.architecture();
  s.model_name = file.metadata.get_string("general.name").value_or("");
  try {
    s.config = read_model_config(file);
  } catch (const Error& e) {
    s.config_error = e.what();
  }

  // Group tensors; layer indices are keys of a map so that a hostile "blk.99999" allocates
  // nothing beyond its own entry.
  std::map<int, TensorGroupStats> blocks;
  if (s.config)
    for (int il = 0; il < s.config->n_layer_all; ++il) blocks[il];
  for (const auto& t : file.tensors) {
    s.total.add(t);
    if (auto il = block_index(t.name)) blocks[*il].add(t);
    else if (has_prefix(t.name, "token_embd")) s.embedding.add(t);
    else if (has_prefix(t.name, "output")) s.output.add(t);
    else if (has_prefix(t.name, "output_norm")) s.output_norm.add(t);
    else s.other.add(t);
  }
  s.tied_embeddings = file.find_tensor("output.weight") == nullptr;

  s.n_depth = s.config ? s.config->n_layer : (blocks.empty() ? 0 : blocks.rbegin()->first + 1);
  for (auto& [il, stats] : blocks) {
    LayerSummary l;
    l.index = il;
    l.executed = il < s.n_depth;
    if (l.executed) {
      l.depth_pct = 100.0 * il / s.n_depth;
      l.mid_depth_pct = 100.0 * (il + 0.5) / s.n_depth;
    }
    if (s.config && l.executed) {
      l.mixer = s.config->layers[static_cast<size_t>(il)].mixer;
      l.ffn = s.config->layers[static_cast<size_t>(il)].ffn;
    }
    l.stats = std::move(stats);
    s.layers.push_back(std::move(l));
  }
  s.tokenizer = summarize_tokenizer(file.metadata);
  return s;
}

nlohmann::json summary_to_json(const ModelSummary& s, const ModelFile& file,
                               const SummaryJsonOptions& options) {
  json layers = json::array();
  TensorGroupStats layer_total;
  for (const auto& l : s.layers) {
    json mixer = l.mixer ? json(mixer_kind_name(*l.mixer)) : json(nullptr);
    json ffn = l.ffn ? json(ffn_kind_name(*l.ffn)) : json(nullptr);
    json depth = l.executed ? json(l.depth_pct) : json(nullptr);
    json mid = l.executed ? json(l.mid_depth_pct) : json(nullptr);
    layers.push_back(json{{"index", l.index}, {"executed", l.executed}, {"depth_pct", depth},
                          {"mid_depth_pct", mid}, {"mixer", mixer}, {"ffn", ffn},
                          {"n_params", l.stats.n_params}, {"n_bytes", l.stats.n_bytes},
                          {"n_tensors", l.stats.n_tensors}, {"types", l.stats.type_counts}});
    layer_total.n_params += l.stats.n_params;
    layer_total.n_bytes += l.stats.n_bytes;
    layer_total.n_tensors += l.stats.n_tensors;
  }

  const TokenizerSummary& t = s.tokenizer;
  json specials = json::object();
  for (const auto& sp : t.special_tokens)
    specials[sp.role] = json{{"id", sp.id}, {"text", sp.text ? json(*sp.text) : json(nullptr)}};
  json tokenizer{
      {"present", t.present},
      {"model", t.model.empty() ? json(nullptr) : json(t.model)},
      {"pre", t.pre.empty() ? json(nullptr) : json(t.pre)},
      {"n_tokens", t.n_tokens},
      {"add_bos", t.add_bos ? json(*t.add_bos) : json(nullptr)},
      {"add_eos", t.add_eos ? json(*t.add_eos) : json(nullptr)},
      {"special_tokens", specials},
      {"chat_template",
       json{{"present", t.has_chat_template},
            {"family", t.has_chat_template ? json(t.chat_template_family) : json(nullptr)},
            {"named", t.named_chat_templates}}}};

  json j{{"schema", "layerlab.inspect/1"},
         {"files", s.paths},
         {"format", file_format_name(s.format)},
         {"gguf_version", s.format == FileFormat::GGUF ? json(s.gguf_version) : json(nullptr)},
         {"file_bytes", s.file_bytes},
         {"n_metadata", s.n_metadata},
         {"architecture", s.arch_name.empty() ? json(nullptr) : json(s.arch_name)},
         {"name", s.model_name.empty() ? json(nullptr) : json(s.model_name)},
         {"config", s.config ? config_json(*s.config) : json(nullptr)},
         {"config_error", s.config ? json(nullptr) : json(s.config_error)},
         {"n_depth", s.n_depth},
         {"layers", layers},
         {"non_layer", json{{"embedding", group_json(s.embedding)},
                            {"output", group_json(s.output)},
                            {"output_norm", group_json(s.output_norm)},
                            {"other", group_json(s.other)}}},
         {"totals", json{{"n_params", s.total.n_params},
                         {"n_bytes", s.total.n_bytes},
                         {"n_tensors", s.total.n_tensors},
                         {"layer_params", layer_total.n_params},
                         {"layer_bytes", layer_total.n_bytes},
                         {"non_layer_params", s.total.n_params - layer_total.n_params},
                         {"non_layer_bytes", s.total.n_bytes - layer_total.n_bytes}}},
         {"tensor_type_counts", s.total.type_counts},
         {"tied_embeddings", s.tied_embeddings},
         {"tokenizer", tokenizer}};
  if (options.tensors) j["tensors"] = tensors_json(file);
  if (options.metadata) j["metadata"] = metadata_json(file.metadata);
  return j;
}

}  // namespace layerlab
