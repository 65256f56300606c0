#include "layerlab/io/hf_names.h"

#include <fmt/format.h>

#include <charconv>
#include <utility>

#include "layerlab/io/error.h"

namespace layerlab {
namespace {

// Per-layer suffixes: HF (after "model.layers.N.") and GGUF (after "blk.N.").
// post_attention_layernorm is handled separately because its GGUF name depends on the arch.
constexpr std::pair<std::string_view, std::string_view> kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.gate_proj.bias", "ffn_gate.bias"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.up_proj.bias", "ffn_up.bias"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"mlp.down_proj.bias", "ffn_down.bias"},
    {"mlp.gate.weight", "ffn_gate_inp.weight"},
    {"mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"},
    {"mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight"},
    {"mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight"},
    {"mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight"},
    {"mlp.experts.down_proj", "ffn_down_exps.weight"},  // fused 3-D form, same bytes
    {"linear_attn.in_proj_qkv.weight", "attn_qkv.weight"},
    {"linear_attn.in_proj_z.weight", "attn_gate.weight"},
    {"linear_attn.in_proj_b.weight", "ssm_beta.weight"},
    {"linear_attn.in_proj_a.weight", "ssm_alpha.weight"},
    {"linear_attn.in_proj_ba.weight", "ssm_ba.weight"},
    {"linear_attn.conv1d.weight", "ssm_conv1d.weight"},
    {"linear_attn.dt_bias", "ssm_dt.bias"},
    {"linear_attn.A_log", "ssm_a"},
    {"linear_attn.norm.weight", "ssm_norm.weight"},
    {"linear_attn.out_proj.weight", "ssm_out.weight"},
};

constexpr std::pair<std::string_view, std::string_view> kGlobalNames[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

constexpr std::pair<std::string_view, std::string_view> kExpertNames[] = {
    {"gate_proj.weight", "ffn_gate_exps.weight"},
    {"up_proj.weight", "ffn_up_exps.weight"},
    {"down_proj.weight", "ffn_down_exps.weight"},
};

std::string_view post_attention_norm(const HfArch& arch) {
  return arch.hybrid ? "post_attention_norm.weight" : "ffn_norm.weight";
}

// Parses a decimal index at the start of `s`, returning it and the rest after the '.'.
std::optional<std::pair<int, std::string_view>> take_index(std::string_view s) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr == s.data() || value < 0 || ptr == s.data() + s.size() || *ptr != '.')
    return std::nullopt;
  return std::make_pair(value, s.substr(static_cast<size_t>(ptr - s.data()) + 1));
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

bool is_stacked_experts(std::string_view n) {
  return n.ends_with("ffn_gate_exps.weight") || n.ends_with("ffn_up_exps.weight") ||
         n.ends_with("ffn_down_exps.weight");
}

std::optional<GgufTensorName> hf_to_gguf_name(std::string_view hf, const HfArch& arch) {
  std::string name(hf);
  // Multimodal checkpoints keep the text model under language_model.
  for (auto [from, to] : {std::pair<std::string_view, std::string_view>{"model.language_model.", "model."},
                          {"language_model.model.", "model."},
                          {"language_model.lm_head.", "lm_head."}})
    if (starts_with(name, from)) name = std::string(to) + name.substr(from.size());
  for (std::string_view skip : {"model.visual.", "visual.", "mtp.", "model.mtp."})
    if (starts_with(name, skip)) return std::nullopt;

  for (auto [h, g] : kGlobalNames)
    if (name == h) return GgufTensorName{std::string(g)};

  std::string_view rest(name);
  if (starts_with(rest, "model.layers.")) {
    if (auto idx = take_index(rest.substr(13))) {
      auto [layer, suffix] = *idx;
      const std::string blk = fmt::format("blk.{}.", layer);
      if (suffix == "post_attention_layernorm.weight") return GgufTensorName{blk + std::string(post_attention_norm(arch))};
      for (auto [h, g] : kLayerNames)
        if (suffix == h) return GgufTensorName{blk + std::string(g)};
      if (suffix == "mlp.experts.gate_up_proj") return GgufTensorName{blk + "ffn_gate_exps.weight", -1, true};
      if (starts_with(suffix, "mlp.experts.")) {
        if (auto e = take_index(suffix.substr(12))) {
          for (auto [h, g] : kExpertNames)
            if (e->second == h) return GgufTensorName{blk + std::string(g), e->first};
        }
      }
    }
  }
  throw Error(fmt::format("tensor '{}' has no GGUF equivalent for architecture {}", hf, arch.gguf));
}

std::string gguf_to_hf_name(std::string_view g, const HfArch& arch, int expert) {
  for (auto [h, gg] : kGlobalNames)
    if (g == gg) return std::string(h);
  if (starts_with(g, "blk.")) {
    if (auto idx = take_index(g.substr(4))) {
      auto [layer, suffix] = *idx;
      const std::string prefix = fmt::format("model.layers.{}.", layer);
      if (expert >= 0) {
        for (auto [h, gg] : kExpertNames)
          if (suffix == gg) return fmt::format("{}mlp.experts.{}.{}", prefix, expert, h);
      } else {
        if (suffix == post_attention_norm(arch)) return prefix + "post_attention_layernorm.weight";
        for (auto [h, gg] : kLayerNames)
          if (suffix == gg) return prefix + std::string(h);
      }
    }
  }
  throw Error(fmt::format("tensor '{}' has no Hugging Face equivalent for architecture {}", g, arch.gguf));
}

}  // namespace layerlab
