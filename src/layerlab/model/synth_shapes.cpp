// The built-in table of real model shapes for `synth --like`, taken from each model's
// public config.json.
#include <array>
#include <charconv>
#include <string>

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
  return t;
}

const std::vector<SynthShape>& table() {
  static const std::vector<SynthShape> t = make_table();
  return t;
}

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

SynthShape parse_synth_dims(std::string_view spec, std::string_view arch) {
  SynthShape s;
  s.name = "custom";
  s.arch = std::string(arch);
  if (arch == "qwen2" || arch == "qwen3") {
    s.tied = true, s.rope_base = 1e6f, s.rms_eps = 1e-6f;
    s.qkv_bias = arch == "qwen2";
    s.qk_norm = arch == "qwen3";
  } else if (arch != "llama") {
    throw Error(fmt::format("synth: architecture '{}' is not one of llama, qwen2, qwen3", arch));
  }
  std::array<bool, 6> seen{};
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
    int* required[] = {&s.n_embd, &s.n_layer, &s.n_head, &s.n_head_kv, &s.n_ff, &s.n_vocab};
    const std::string_view required_names[] = {"n_embd", "n_layer", "n_head", "n_head_kv", "n_ff", "n_vocab"};
    bool done = false;
    for (size_t k = 0; k < 6; ++k) {
      if (key == required_names[k]) {
        *required[k] = parse_number<int>(key, value);
        seen[k] = done = true;
      }
    }
    if (done) continue;
    if (key == "head_dim") s.head_dim = parse_number<int>(key, value);
    else if (key == "n_ctx") s.n_ctx = parse_number<int>(key, value);
    else if (key == "tied") s.tied = parse_number<int>(key, value) != 0;
    else if (key == "rope_base") s.rope_base = parse_number<float>(key, value);
    else if (key == "eps") s.rms_eps = parse_number<float>(key, value);
    else throw Error(fmt::format("--dims: unknown key '{}'", key));
  }
  const char* names[] = {"n_embd", "n_layer", "n_head", "n_head_kv", "n_ff", "n_vocab"};
  for (size_t k = 0; k < 6; ++k) {
    if (!seen[k]) throw Error(fmt::format("--dims: missing {}", names[k]));
  }
  validate_synth_shape(s);
  return s;
}

void validate_synth_shape(const SynthShape& s) {
  if (s.arch != "llama" && s.arch != "qwen2" && s.arch != "qwen3")
    throw Error(fmt::format("synth: architecture '{}' is not one of llama, qwen2, qwen3", s.arch));
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
}

}  // namespace layerlab
