// The built-in table of real model shapes for `synth --like`, taken from each model's
// public config.json.
#include <algorithm>
#include <array>
#include <charconv>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "layerlab/io/error.h"
#include "layerlab/model/synth.h"

namespace layerlab {
namespace {

SynthShape qwen2(std::string name, int embd, int layers, int heads, int kv, int ff, int ctx) {
  SynthShape s;
  s.name = std::move(name);
  s.arch = "qwen2";
  s.n_embd = embd, s.n_layer = layers, s.n_head = heads, s.n_head_kv = kv, s.n_ff = ff;
  s.n_vocab = 151936, s.n_ctx = ctx;
  s.tied = true, s.qkv_bias = true, s.rope_base = 1e6f, s.rms_eps = 1e-6f;
  return s;
}

SynthShape smollm2(std::string name, int embd, int layers, int heads, int kv, int ff) {
  SynthShape s;
  s.name = std::move(name);
  s.arch = "llama";
  s.n_embd = embd, s.n_layer = layers, s.n_head = heads, s.n_head_kv = kv, s.n_ff = ff;
  s.n_vocab = 49152, s.n_ctx = 8192;
  s.tied = true, s.rope_base = 100000.0f, s.rms_eps = 1e-5f;
  return s;
}

std::vector<SynthShape> make_table() {
  std::vector<SynthShape> t;
  t.push_back(qwen2("qwen2.5-0.5b", 896, 24, 14, 2, 4864, 32768));
  t.push_back(qwen2("qwen2.5-1.5b", 1536, 28, 12, 2, 8960, 131072));

  SynthShape q3;
  q3.name = "qwen3-0.6b", q3.arch = "qwen3";
  q3.n_embd = 1024, q3.n_layer = 28, q3.n_head = 16, q3.n_head_kv = 8, q3.head_dim = 128;
  q3.n_ff = 3072, q3.n_vocab = 151936, q3.n_ctx = 40960;
  q3.tied = true, q3.qk_norm = true, q3.rope_base = 1e6f, q3.rms_eps = 1e-6f;
  t.push_back(q3);

  SynthShape l32;
  l32.name = "llama-3.2-1b", l32.arch = "llama";
  l32.n_embd = 2048, l32.n_layer = 16, l32.n_head = 32, l32.n_head_kv = 8, l32.head_dim = 64;
  l32.n_ff = 8192, l32.n_vocab = 128256, l32.n_ctx = 131072;
  l32.tied = true, l32.rope_base = 500000.0f, l32.rms_eps = 1e-5f;
  l32.llama3_rope = {.factor = 32.0f, .low_freq_factor = 1.0f, .high_freq_factor = 4.0f,
                     .original_context = 8192};
  t.push_back(l32);

  t.push_back(smollm2("smollm2-135m", 576, 30, 9, 3, 1536));
  t.push_back(smollm2("smollm2-360m", 960, 32, 15, 5, 2560));

  SynthShape moe;  // Qwen/Qwen3-30B-A3B
  moe.name = "qwen3-30b-a3b", moe.arch = "qwen3moe";
  moe.n_embd = 2048, moe.n_layer = 48, moe.n_head = 32, moe.n_head_kv = 4, moe.head_dim = 128;
  moe.n_ff = 6144, moe.n_vocab = 151936, moe.n_ctx = 40960;
  moe.n_expert = 128, moe.n_expert_used = 8, moe.n_ff_expert = 768;
  moe.tied = false, moe.qk_norm = true, moe.rope_base = 1e6f, moe.rms_eps = 1e-6f;
  t.push_back(moe);

  // Qwen/Qwen3.5-0.8B (text_config; the MTP block is not written, llama.cpp never runs it).
  SynthShape q35;
  q35.name = "qwen3.5-0.8b", q35.arch = "qwen35";
  q35.n_embd = 1024, q35.n_layer = 24, q35.n_head = 8, q35.n_head_kv = 2, q35.head_dim = 256;
  q35.n_ff = 3584, q35.n_vocab = 248320, q35.n_ctx = 262144;
  q35.full_attention_interval = 4;
  q35.ssm_conv_kernel = 4, q35.ssm_state_size = 128, q35.ssm_group_count = 16;
  q35.ssm_time_step_rank = 16;
  q35.n_rot = 64, q35.rope_sections = {11, 11, 10, 0};  // partial_rotary_factor 0.25, mrope_section
  q35.tied = true, q35.qk_norm = true, q35.rope_base = 1e7f, q35.rms_eps = 1e-6f;
  t.push_back(q35);
  return t;
}

const std::vector<SynthShape>& table() {
  static const std::vector<SynthShape> t = make_table();
  return t;
}

constexpr const char* kArchitectures = "llama, qwen2, qwen3, qwen3moe, qwen35";

template <typename T>
T parse_number(std::string_view key, std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end)
    throw Error(fmt::format("--dims: {}={} is not a valid number", key, text));
  return value;
}

}  // namespace

const SynthShape* find_synth_shape(std::string_view name) {
  for (const auto& s : table()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<std::string> synth_shape_names() {
  std::vector<std::string> names;
  for (const auto& s : table()) names.push_back(s.name);
  return names;
}

namespace {

// IMROPE sections for text: n_rot / 2 rotated pairs split as evenly as possible over the
// first three sections (16 -> 3:3:2, 64 -> 11:11:10, as Qwen3.5's mrope_section).
std::array<int, 4> default_rope_sections(int n_rot) {
  const int half = n_rot / 2;
  return {(half + 2) / 3, (half + 1) / 3, half / 3, 0};
}

std::array<int, 4> parse_sections(std::string_view key, std::string_view text) {
  std::array<int, 4> out = {0, 0, 0, 0};
  size_t k = 0, pos = 0;
  while (true) {
    const size_t colon = std::min(text.find(':', pos), text.size());
    if (k == 4) throw Error(fmt::format("--dims: {}={} has more than 4 sections", key, text));
    out[k++] = parse_number<int>(key, text.substr(pos, colon - pos));
    if (colon == text.size()) break;
    pos = colon + 1;
  }
  return out;
}

}  // namespace

SynthShape parse_synth_dims(std::string_view spec, std::string_view arch) {
  SynthShape s;
  s.name = "custom";
  s.arch = std::string(arch);
  if (arch == "qwen2" || arch == "qwen3" || arch == "qwen3moe" || arch == "qwen35") {
    s.tied = arch != "qwen3moe", s.rope_base = arch == "qwen35" ? 1e7f : 1e6f, s.rms_eps = 1e-6f;
    s.qkv_bias = arch == "qwen2";
    s.qk_norm = arch != "qwen2";
  } else if (arch != "llama") {
    throw Error(fmt::format("synth: architecture '{}' is not one of {}", arch, kArchitectures));
  }
  if (arch == "qwen35") s.full_attention_interval = 4, s.ssm_conv_kernel = 4;
  bool sections_given = false;
  // Keys every architecture needs, then the ones its family needs.
  std::vector<std::pair<std::string_view, int*>> required = {
      {"n_embd", &s.n_embd}, {"n_layer", &s.n_layer}, {"n_head", &s.n_head},
      {"n_head_kv", &s.n_head_kv}, {"n_ff", &s.n_ff}, {"n_vocab", &s.n_vocab}};
  if (arch == "qwen3moe") {
    required.insert(required.end(), {{"n_expert", &s.n_expert}, {"n_expert_used", &s.n_expert_used},
                                     {"n_ff_expert", &s.n_ff_expert}});
  }
  if (arch == "qwen35") {
    required.insert(required.end(), {{"ssm_state_size", &s.ssm_state_size},
                                     {"ssm_group_count", &s.ssm_group_count},
                                     {"ssm_time_step_rank", &s.ssm_time_step_rank}});
  }
  std::vector<bool> seen(required.size(), false);
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    std::string_view item = spec.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      throw Error(fmt::format("--dims: '{}' is not key=value", item));
    std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    bool done = false;
    for (size_t k = 0; k < required.size(); ++k) {
      if (key == required[k].first) {
        *required[k].second = parse_number<int>(key, value);
        seen[k] = done = true;
      }
    }
    if (done) continue;
    if (key == "head_dim") s.head_dim = parse_number<int>(key, value);
    else if (key == "n_ctx") s.n_ctx = parse_number<int>(key, value);
    else if (key == "tied") s.tied = parse_number<int>(key, value) != 0;
    else if (key == "rope_base") s.rope_base = parse_number<float>(key, value);
    else if (key == "eps") s.rms_eps = parse_number<float>(key, value);
    else if (arch == "qwen35" && key == "ssm_conv_kernel") s.ssm_conv_kernel = parse_number<int>(key, value);
    else if (arch == "qwen35" && key == "full_attention_interval")
      s.full_attention_interval = parse_number<int>(key, value);
    else if (arch == "qwen35" && key == "n_rot") s.n_rot = parse_number<int>(key, value);
    else if (arch == "qwen35" && key == "rope_sections") {
      s.rope_sections = parse_sections(key, value);
      sections_given = true;
    } else {
      throw Error(fmt::format("--dims: unknown key '{}' for {}", key, arch));
    }
  }
  for (size_t k = 0; k < required.size(); ++k) {
    if (!seen[k]) throw Error(fmt::format("--dims: missing {} (needed for {})", required[k].first, arch));
  }
  if (arch == "qwen35") {
    // Qwen3.5 rotates a quarter of each head (partial_rotary_factor 0.25).
    if (s.n_rot == 0 && s.n_head > 0) s.n_rot = s.head_dim_or_default() / 4;
    if (!sections_given) s.rope_sections = default_rope_sections(s.n_rot);
  }
  validate_synth_shape(s);
  return s;
}

void validate_synth_shape(const SynthShape& s) {
  if (s.arch != "llama" && s.arch != "qwen2" && s.arch != "qwen3" && s.arch != "qwen3moe" &&
      s.arch != "qwen35")
    throw Error(fmt::format("synth: architecture '{}' is not one of {}", s.arch, kArchitectures));
  // Bounds keep a typo from asking for terabytes; real models sit far inside them.
  auto check = [](const char* what, int64_t v, int64_t max) {
    if (v < 1 || v > max) throw Error(fmt::format("synth: {} = {} is outside 1..{}", what, v, max));
  };
  check("n_embd", s.n_embd, 1 << 16);
  check("n_layer", s.n_layer, 1024);
  check("n_head", s.n_head, 1024);
  check("n_head_kv", s.n_head_kv, 1024);
  check("n_ff", s.n_ff, 1 << 18);
  check("n_vocab", s.n_vocab, 1 << 21);
  check("n_ctx", s.n_ctx, 1 << 24);
  if (s.n_vocab < 3) throw Error("synth: n_vocab must be at least 3 (<unk>, <s>, </s>)");
  if (s.n_head % s.n_head_kv != 0)
    throw Error(fmt::format("synth: n_head {} is not a multiple of n_head_kv {}", s.n_head, s.n_head_kv));
  if (s.head_dim == 0 && s.n_embd % s.n_head != 0)
    throw Error(fmt::format("synth: n_embd {} is not a multiple of n_head {}; give head_dim",
                            s.n_embd, s.n_head));
  const int hd = s.head_dim_or_default();
  if (hd < 2 || hd % 2 != 0 || hd > 4096)
    throw Error(fmt::format("synth: head_dim {} must be even and in 2..4096", hd));
  if (!(s.rope_base > 0) || !(s.rms_eps > 0))
    throw Error("synth: rope_base and eps must be positive");
  if (s.is_moe()) {
    check("n_expert", s.n_expert, 4096);
    check("n_expert_used", s.n_expert_used, s.n_expert);
    check("n_ff_expert", s.n_ff_expert, 1 << 18);
  }
  if (s.is_hybrid()) {
    check("full_attention_interval", s.full_attention_interval, 1024);
    check("ssm_conv_kernel", s.ssm_conv_kernel, 64);
    check("ssm_state_size", s.ssm_state_size, 4096);
    check("ssm_group_count", s.ssm_group_count, 1024);
    check("ssm_time_step_rank", s.ssm_time_step_rank, 1024);
    if (s.ssm_time_step_rank % s.ssm_group_count != 0)
      throw Error(fmt::format("synth: ssm_time_step_rank {} is not a multiple of ssm_group_count {}",
                              s.ssm_time_step_rank, s.ssm_group_count));
    // Every model needs at least one attention layer: the attention hyperparameters describe it.
    if (s.n_layer < s.full_attention_interval)
      throw Error(fmt::format("synth: a qwen35 model needs at least full_attention_interval = {} "
                              "layers (layer {} is the first attention layer), not {}",
                              s.full_attention_interval, s.full_attention_interval - 1, s.n_layer));
    const int n_rot = s.n_rot_or_default();
    if (n_rot < 2 || n_rot % 2 != 0 || n_rot > hd)
      throw Error(fmt::format("synth: n_rot {} must be even and in 2..head_dim {}", n_rot, hd));
    int sum = 0;
    for (int v : s.rope_sections) {
      if (v < 0) throw Error("synth: rope_sections must not be negative");
      sum += v;
    }
    // Text positions are (p, p, p, 0): a fourth section would rotate pairs by position 0.
    if (s.rope_sections[3] != 0 || sum != n_rot / 2)
      throw Error(fmt::format("synth: rope_sections {}:{}:{}:{} must cover n_rot / 2 = {} pairs "
                              "in the first three sections",
                              s.rope_sections[0], s.rope_sections[1], s.rope_sections[2],
                              s.rope_sections[3], n_rot / 2));
  }
}

}  // namespace layerlab
