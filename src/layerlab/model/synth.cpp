#include "layerlab/model/synth.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numbers>
#include <random>

#include <fmt/format.h>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_writer.h"
#include "layerlab/io/mapped_file.h"
#include "layerlab/io/model_file.h"
#include "layerlab/tensor/f16.h"
#include "layerlab/tensor/quant_blocks.h"

namespace layerlab {
namespace {

constexpr double kSigma = 0.02;  // std of every random weight value

// Random source of one tensor: a Box-Muller normal over mt19937_64, written out so the
// values are the same with every standard library.
class Random {
 public:
  explicit Random(uint64_t seed) : rng_(seed) {}
  uint64_t bits() { return rng_(); }
  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
  int uniform_int(int lo, int hi) { return lo + static_cast<int>(rng_() % static_cast<uint64_t>(hi - lo + 1)); }
  double sign() { return (rng_() & 1) ? 1.0 : -1.0; }
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = (static_cast<double>(rng_() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * std::numbers::pi * u2);
  }
  void fill(void* dst, size_t n) {
    auto* p = static_cast<uint8_t*>(dst);
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t v = rng_();
      std::memcpy(p + i, &v, std::min<size_t>(8, n - i));
    }
  }

 private:
  std::mt19937_64 rng_;
  bool has_spare_ = false;
  double spare_ = 0;
};

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Each tensor's values depend only on the seed and its name.
uint64_t tensor_seed(uint64_t seed, const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return splitmix64(seed ^ splitmix64(h));
}

uint16_t f16(double v) { return fp32_to_fp16(static_cast<float>(v)); }

// Root mean square of the scale magnitudes 8..15 used by the 4-bit-scale blocks, and of
// 32..63 used by the 6-bit-scale blocks.
constexpr double kRms8to15 = 11.726;
constexpr double kRms32to63 = 48.389;

// Packs 8 (scale, min) pairs of 6 bits into Q4_K/Q5_K's 12 scale bytes.
void pack_scale_min_k4(const int* sc, const int* m, uint8_t* q) {
  for (int j = 0; j < 4; ++j) {
    q[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    q[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    q[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
}

// Packs 16 scales of 6 bits (stored +32) into Q3_K's 12 scale bytes.
void pack_scales_q3k(const int* s, uint8_t* b) {
  std::memset(b, 0, 12);
  for (int j = 0; j < 16; ++j) {
    const int low = s[j] & 0xF, high = (s[j] >> 4) & 3;
    if (j < 8) b[j] |= static_cast<uint8_t>(low);
    else b[j - 8] |= static_cast<uint8_t>(low << 4);
    b[8 + j % 4] |= static_cast<uint8_t>(high << (2 * (j / 4)));
  }
}

// One block of random quants with scales chosen for std ~ kSigma. The quant bytes are uniform
// random bits, so each quant is uniform over its range; symmetric types get a random-sign
// scale (zero mean), types with a min get min = -mean(q)*d.
template <typename Block>
void random_block(Block& b, Random& r);

template <> void random_block(BlockQ4_0& b, Random& r) {
  r.fill(b.qs, sizeof b.qs);
  b.d = f16(r.sign() * kSigma / 4.637);
}
template <> void random_block(BlockQ4_1& b, Random& r) {
  r.fill(b.qs, sizeof b.qs);
  const double d = kSigma / 4.610;
  b.d = f16(d), b.m = f16(-7.5 * d);
}
template <> void random_block(BlockQ5_0& b, Random& r) {
  r.fill(b.qs, sizeof b.qs), r.fill(b.qh, sizeof b.qh);
  b.d = f16(r.sign() * kSigma / 9.247);
}
template <> void random_block(BlockQ5_1& b, Random& r) {
  r.fill(b.qs, sizeof b.qs), r.fill(b.qh, sizeof b.qh);
  const double d = kSigma / 9.233;
  b.d = f16(d), b.m = f16(-15.5 * d);
}
template <> void random_block(BlockQ8_0& b, Random& r) {
  r.fill(b.qs, sizeof b.qs);
  b.d = f16(r.sign() * kSigma / 73.90);
}
template <> void random_block(BlockIQ4_NL& b, Random& r) {
  r.fill(b.qs, sizeof b.qs);
  b.d = f16(r.sign() * kSigma / 67.44);  // rms of the 16 non-linear levels
}
template <> void random_block(BlockQ2_K& b, Random& r) {
  r.fill(b.qs, sizeof b.qs);
  for (auto& s : b.scales) {
    const int sc = r.uniform_int(8, 15);
    s = static_cast<uint8_t>(sc | (sc << 4));  // min = scale: y = d*sc*(q - 1.5)
  }
  const double d = kSigma / (1.118 * kRms8to15);
  b.d = f16(d), b.dmin = f16(1.5 * d);
}
template <> void random_block(BlockQ3_K& b, Random& r) {
  r.fill(b.qs, sizeof b.qs), r.fill(b.hmask, sizeof b.hmask);
  int s[16];
  for (int& x : s) x = 32 + static_cast<int>(r.sign()) * r.uniform_int(8, 15);
  pack_scales_q3k(s, b.scales);
  b.d = f16(kSigma / (2.345 * kRms8to15));
}
template <> void random_block(BlockQ4_K& b, Random& r) {
  r.fill(b.qs, sizeof b.qs);
  int sc[8];
  for (int& x : sc) x = r.uniform_int(32, 63);
  pack_scale_min_k4(sc, sc, b.scales);  // min = scale: y = d*sc*(q - 7.5)
  const double d = kSigma / (4.610 * kRms32to63);
  b.d = f16(d), b.dmin = f16(7.5 * d);
}
template <> void random_block(BlockQ5_K& b, Random& r) {
  r.fill(b.qs, sizeof b.qs), r.fill(b.qh, sizeof b.qh);
  int sc[8];
  for (int& x : sc) x = r.uniform_int(32, 63);
  pack_scale_min_k4(sc, sc, b.scales);  // y = d*sc*(q - 15.5)
  const double d = kSigma / (9.233 * kRms32to63);
  b.d = f16(d), b.dmin = f16(15.5 * d);
}
template <> void random_block(BlockQ6_K& b, Random& r) {
  r.fill(b.ql, sizeof b.ql), r.fill(b.qh, sizeof b.qh);
  for (auto& s : b.scales) s = static_cast<int8_t>(r.sign() * r.uniform_int(8, 15));
  b.d = f16(kSigma / (18.48 * kRms8to15));
}

template <typename Block>
void fill_blocks(std::byte* dst, int64_t n_blocks, Random& r) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    Block b;
    random_block(b, r);
    std::memcpy(dst + i * sizeof(Block), &b, sizeof(Block));
  }
}

// One value of a float tensor.
double float_value(SynthTensor::Init init, Random& r) {
  switch (init) {
    case SynthTensor::Init::kNorm: return 1.0 + kSigma * r.normal();
    // Gated DeltaNet: a few small conv taps, a small time-step bias, and a decay rate
    // A = exp(A_log) with A_log ~ U(0, 2), stored negated as the converter does.
    case SynthTensor::Init::kConvTaps: return 0.1 * r.normal();
    case SynthTensor::Init::kDtBias: return 0.1 * r.normal();
    case SynthTensor::Init::kSsmA: return -std::exp(2.0 * r.uniform());
    default: return kSigma * r.normal();
  }
}

// Fills `n` elements (a whole number of blocks) of `type` into dst.
void fill_values(GgmlType type, SynthTensor::Init init, std::byte* dst, int64_t n, Random& r) {
  switch (type) {
    case GgmlType::F32:
      for (int64_t i = 0; i < n; ++i) {
        const float v = static_cast<float>(float_value(init, r));
        std::memcpy(dst + 4 * i, &v, 4);
      }
      return;
    case GgmlType::F16:
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const float v = static_cast<float>(float_value(init, r));
        const uint16_t h = type == GgmlType::F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case GgmlType::Q4_0: return fill_blocks<BlockQ4_0>(dst, n / 32, r);
    case GgmlType::Q4_1: return fill_blocks<BlockQ4_1>(dst, n / 32, r);
    case GgmlType::Q5_0: return fill_blocks<BlockQ5_0>(dst, n / 32, r);
    case GgmlType::Q5_1: return fill_blocks<BlockQ5_1>(dst, n / 32, r);
    case GgmlType::Q8_0: return fill_blocks<BlockQ8_0>(dst, n / 32, r);
    case GgmlType::IQ4_NL: return fill_blocks<BlockIQ4_NL>(dst, n / 32, r);
    case GgmlType::Q2_K: return fill_blocks<BlockQ2_K>(dst, n / 256, r);
    case GgmlType::Q3_K: return fill_blocks<BlockQ3_K>(dst, n / 256, r);
    case GgmlType::Q4_K: return fill_blocks<BlockQ4_K>(dst, n / 256, r);
    case GgmlType::Q5_K: return fill_blocks<BlockQ5_K>(dst, n / 256, r);
    case GgmlType::Q6_K: return fill_blocks<BlockQ6_K>(dst, n / 256, r);
    default:
      throw Error(fmt::format("synth: cannot generate weights of type {}", ggml_type_name(type)));
  }
}

uint32_t file_type_label(GgmlType t) {  // llama_ftype, a label only
  switch (t) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1;
    case GgmlType::Q4_0: return 2;
    case GgmlType::Q4_1: return 3;
    case GgmlType::Q8_0: return 7;
    case GgmlType::Q5_0: return 8;
    case GgmlType::Q5_1: return 9;
    case GgmlType::Q2_K: return 10;
    case GgmlType::Q3_K: return 12;  // Q3_K_M
    case GgmlType::Q4_K: return 15;  // Q4_K_M
    case GgmlType::Q5_K: return 17;  // Q5_K_M
    case GgmlType::Q6_K: return 18;
    case GgmlType::BF16: return 32;
    default: return 0;
  }
}

uint32_t block_size(GgmlType t) { return ggml_type_info(static_cast<uint32_t>(t))->block_size; }

// Removes the temporary data file however write_synth_model ends.
struct TempFile {
  std::string path;
  std::FILE* f = nullptr;
  ~TempFile() {
    if (f) std::fclose(f);
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

}  // namespace

bool is_synth_weight_type(GgmlType t) {
  switch (t) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0:
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q5_0: case GgmlType::Q5_1:
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K:
    case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

GgmlType synth_matrix_type(GgmlType type, int64_t row_length) {
  if (row_length % block_size(type) == 0) return type;
  GgmlType fallback = GgmlType::F16;
  switch (type) {  // llama-quantize's fallbacks for rows that are not whole super-blocks
    case GgmlType::Q2_K: case GgmlType::Q3_K: fallback = GgmlType::IQ4_NL; break;
    case GgmlType::Q4_K: fallback = GgmlType::Q5_0; break;
    case GgmlType::Q5_K: fallback = GgmlType::Q5_1; break;
    case GgmlType::Q6_K: fallback = GgmlType::Q8_0; break;
    default: break;
  }
  return row_length % block_size(fallback) == 0 ? fallback : GgmlType::F16;
}

std::vector<SynthTensor> synth_tensors(const SynthShape& s, GgmlType wt) {
  validate_synth_shape(s);
  if (!is_synth_weight_type(wt))
    throw Error(fmt::format("synth: type {} is not supported", ggml_type_name(wt)));
  using Init = SynthTensor::Init;
  const int64_t E = s.n_embd, F = s.n_ff, V = s.n_vocab, hd = s.head_dim_or_default();
  const int64_t q_dim = hd * s.n_head, kv_dim = hd * s.n_head_kv;
  std::vector<SynthTensor> t;
  // A weight {n_in, n_out} or a stack of them {n_in, n_out, n}; rows of n_in values.
  auto matrix = [&](std::string name, int64_t n_in, int64_t n_out, int64_t n_stack = 0) {
    std::vector<int64_t> ne = {n_in, n_out};
    if (n_stack > 0) ne.push_back(n_stack);
    t.push_back({std::move(name), synth_matrix_type(wt, n_in), std::move(ne), Init::kMatrix});
  };
  // Tensors the converter always keeps in F32 (norms, biases, router, conv taps, ...).
  auto f32 = [&](std::string name, std::vector<int64_t> ne, Init init) {
    t.push_back({std::move(name), GgmlType::F32, std::move(ne), init});
  };
  auto vec = [&](std::string name, int64_t n, Init init) { f32(std::move(name), {n}, init); };

  matrix("token_embd.weight", E, V);
  if (s.llama3_rope.factor > 0) vec("rope_freqs.weight", hd / 2, Init::kRopeFreqs);
  for (int i = 0; i < s.n_layer; ++i) {
    const std::string p = fmt::format("blk.{}.", i);
    vec(p + "attn_norm.weight", E, Init::kNorm);
    // The hybrid family names the pre-FFN norm post_attention_norm and lists it first.
    if (s.is_hybrid()) vec(p + "post_attention_norm.weight", E, Init::kNorm);
    if (!s.is_attention_layer(i)) {  // Gated DeltaNet
      const int64_t S = s.ssm_state_size, Hk = s.ssm_group_count, Hv = s.ssm_time_step_rank;
      const int64_t C = 2 * S * Hk + S * Hv;  // q, k, v channels of the conv
      matrix(p + "attn_qkv.weight", E, C);
      matrix(p + "attn_gate.weight", E, S * Hv);
      f32(p + "ssm_conv1d.weight", {s.ssm_conv_kernel, C}, Init::kConvTaps);
      vec(p + "ssm_dt.bias", Hv, Init::kDtBias);
      vec(p + "ssm_a", Hv, Init::kSsmA);
      matrix(p + "ssm_beta.weight", E, Hv);
      matrix(p + "ssm_alpha.weight", E, Hv);
      vec(p + "ssm_norm.weight", S, Init::kNorm);
      matrix(p + "ssm_out.weight", S * Hv, E);
    } else {
      // Gated attention (qwen35): attn_q gives per head [q | gate].
      matrix(p + "attn_q.weight", E, s.is_hybrid() ? 2 * q_dim : q_dim);
      if (s.qkv_bias) vec(p + "attn_q.bias", q_dim, Init::kBias);
      matrix(p + "attn_k.weight", E, kv_dim);
      if (s.qkv_bias) vec(p + "attn_k.bias", kv_dim, Init::kBias);
      matrix(p + "attn_v.weight", E, kv_dim);
      if (s.qkv_bias) vec(p + "attn_v.bias", kv_dim, Init::kBias);
      if (s.qk_norm) {
        vec(p + "attn_q_norm.weight", hd, Init::kNorm);
        vec(p + "attn_k_norm.weight", hd, Init::kNorm);
      }
      matrix(p + "attn_output.weight", q_dim, E);
    }
    if (!s.is_hybrid()) vec(p + "ffn_norm.weight", E, Init::kNorm);
    if (s.is_moe()) {
      const int64_t Fe = s.n_ff_expert, n = s.n_expert;
      f32(p + "ffn_gate_inp.weight", {E, n}, Init::kMatrix);
      matrix(p + "ffn_gate_exps.weight", E, Fe, n);
      matrix(p + "ffn_up_exps.weight", E, Fe, n);
      matrix(p + "ffn_down_exps.weight", Fe, E, n);
    } else {
      matrix(p + "ffn_gate.weight", E, F);
      matrix(p + "ffn_up.weight", E, F);
      matrix(p + "ffn_down.weight", F, E);
    }
  }
  vec("output_norm.weight", E, Init::kNorm);
  if (!s.tied) matrix("output.weight", E, V);
  return t;
}

uint64_t synth_tensor_bytes(const std::vector<SynthTensor>& tensors) {
  uint64_t total = 0;
  for (const auto& t : tensors) {
    const auto info = ggml_type_info(static_cast<uint32_t>(t.type));
    uint64_t n = 1;
    for (int64_t d : t.ne) n *= static_cast<uint64_t>(d);
    total += n / info->block_size * info->type_size;
  }
  return total;
}

std::vector<float> llama3_rope_factors(const SynthShape& s) {
  const auto& r = s.llama3_rope;
  const int hd = s.head_dim_or_default();
  std::vector<float> ff(static_cast<size_t>(hd / 2), 1.0f);
  if (r.factor <= 0) return ff;
  const double low_wavelen = r.original_context / r.low_freq_factor;
  const double high_wavelen = r.original_context / r.high_freq_factor;
  for (int i = 0; i < hd / 2; ++i) {
    const double freq = 1.0 / std::pow(static_cast<double>(s.rope_base), 2.0 * i / hd);
    const double wavelen = 2.0 * std::numbers::pi / freq;
    double f;
    if (wavelen < high_wavelen) {
      f = 1.0;
    } else if (wavelen > low_wavelen) {
      f = r.factor;
    } else {
      const double smooth = (r.original_context / wavelen - r.low_freq_factor) /
                            (r.high_freq_factor - r.low_freq_factor);
      f = 1.0 / ((1.0 - smooth) / r.factor + smooth);
    }
    ff[static_cast<size_t>(i)] = static_cast<float>(f);
  }
  return ff;
}

Metadata synth_metadata(const SynthShape& s, GgmlType wt) {
  validate_synth_shape(s);
  Metadata m;
  const std::string a = s.arch + ".";
  const uint32_t hd = static_cast<uint32_t>(s.head_dim_or_default());
  m.set("general.architecture", Value::string(s.arch));
  m.set("general.name", Value::string("synthetic " + s.name));
  m.set("general.file_type", Value::u32(file_type_label(wt)));
  m.set("general.quantization_version", Value::u32(2));
  m.set(a + "block_count", Value::u32(static_cast<uint32_t>(s.n_layer)));
  m.set(a + "context_length", Value::u32(static_cast<uint32_t>(s.n_ctx)));
  m.set(a + "embedding_length", Value::u32(static_cast<uint32_t>(s.n_embd)));
  m.set(a + "feed_forward_length", Value::u32(static_cast<uint32_t>(s.n_ff)));
  m.set(a + "attention.head_count", Value::u32(static_cast<uint32_t>(s.n_head)));
  m.set(a + "attention.head_count_kv", Value::u32(static_cast<uint32_t>(s.n_head_kv)));
  m.set(a + "rope.freq_base", Value::f32(s.rope_base));
  m.set(a + "attention.layer_norm_rms_epsilon", Value::f32(s.rms_eps));
  // The converter writes the head size when config.json has head_dim (always for qwen3*).
  if (s.head_dim > 0 || s.arch != "llama") {
    m.set(a + "attention.key_length", Value::u32(hd));
    m.set(a + "attention.value_length", Value::u32(hd));
  }
  if (s.arch == "llama" || s.is_moe() || s.is_hybrid())
    m.set(a + "rope.dimension_count", Value::u32(static_cast<uint32_t>(s.n_rot_or_default())));
  if (s.arch == "llama" || s.is_hybrid())
    m.set(a + "vocab_size", Value::u32(static_cast<uint32_t>(s.n_vocab)));
  if (s.is_moe()) {
    m.set(a + "expert_count", Value::u32(static_cast<uint32_t>(s.n_expert)));
    m.set(a + "expert_used_count", Value::u32(static_cast<uint32_t>(s.n_expert_used)));
    m.set(a + "expert_feed_forward_length", Value::u32(static_cast<uint32_t>(s.n_ff_expert)));
  }
  if (s.is_hybrid()) {
    std::vector<Value> sections;
    for (int v : s.rope_sections) sections.push_back(Value::i32(v));
    m.set(a + "rope.dimension_sections", Value::array(ValueType::I32, std::move(sections)));
    m.set(a + "full_attention_interval", Value::u32(static_cast<uint32_t>(s.full_attention_interval)));
    m.set(a + "ssm.conv_kernel", Value::u32(static_cast<uint32_t>(s.ssm_conv_kernel)));
    m.set(a + "ssm.state_size", Value::u32(static_cast<uint32_t>(s.ssm_state_size)));
    m.set(a + "ssm.group_count", Value::u32(static_cast<uint32_t>(s.ssm_group_count)));
    m.set(a + "ssm.time_step_rank", Value::u32(static_cast<uint32_t>(s.ssm_time_step_rank)));
    m.set(a + "ssm.inner_size",
          Value::u32(static_cast<uint32_t>(s.ssm_state_size * s.ssm_time_step_rank)));
  }

  // Minimal SPM vocabulary: specials, byte fallback tokens if they fit, then <tok_N>.
  const int n = s.n_vocab;
  const bool bytes = n >= 3 + 256 + 1;
  std::vector<Value> tokens, scores, types;
  tokens.reserve(n), scores.reserve(n), types.reserve(n);
  for (int id = 0; id < n; ++id) {
    std::string text;
    int32_t type = 1;  // NORMAL
    float score = 0;
    if (id == 0) text = "<unk>", type = 2;
    else if (id == 1) text = "<s>", type = 3;
    else if (id == 2) text = "</s>", type = 3;
    else if (bytes && id < 259) text = fmt::format("<0x{:02X}>", id - 3), type = 6;
    else text = fmt::format("<tok_{}>", id), score = -static_cast<float>(id);
    tokens.push_back(Value::string(std::move(text)));
    scores.push_back(Value::f32(score));
    types.push_back(Value::i32(type));
  }
  m.set("tokenizer.ggml.model", Value::string("llama"));
  m.set("tokenizer.ggml.tokens", Value::array(ValueType::STRING, std::move(tokens)));
  m.set("tokenizer.ggml.scores", Value::array(ValueType::F32, std::move(scores)));
  m.set("tokenizer.ggml.token_type", Value::array(ValueType::I32, std::move(types)));
  m.set("tokenizer.ggml.bos_token_id", Value::u32(1));
  m.set("tokenizer.ggml.eos_token_id", Value::u32(2));
  m.set("tokenizer.ggml.unknown_token_id", Value::u32(0));
  m.set("tokenizer.ggml.add_bos_token", Value::boolean(true));
  m.set("tokenizer.ggml.add_eos_token", Value::boolean(false));
  return m;
}

void write_synth_model(const SynthShape& shape, GgmlType weight_type, uint64_t seed,
                       const std::string& path) {
  const std::vector<SynthTensor> specs = synth_tensors(shape, weight_type);
  ModelFile model;
  model.metadata = synth_metadata(shape, weight_type);

  // Pass 1: tensor infos and their offsets in the temporary data file.
  std::vector<uint64_t> offsets;
  uint64_t total = 0;
  for (const auto& spec : specs) {
    TensorInfo info;
    info.name = spec.name;
    info.type = spec.type;
    info.n_dims = static_cast<uint32_t>(spec.ne.size());
    for (size_t d = 0; d < spec.ne.size(); ++d) info.ne[d] = spec.ne[d];
    offsets.push_back(total);
    total += (info.n_bytes() + 31) / 32 * 32;
    model.tensors.push_back(std::move(info));
  }

  // Pass 2: generate each tensor, row block by row block, into the temporary file.
  TempFile tmp{path + ".synth-data.tmp"};
  tmp.f = std::fopen(tmp.path.c_str(), "wb");
  if (!tmp.f) throw Error(fmt::format("synth: cannot create temporary file {}", tmp.path));
  std::vector<std::byte> buffer;
  for (size_t k = 0; k < specs.size(); ++k) {
    const SynthTensor& spec = specs[k];
    const TensorInfo& info = model.tensors[k];
    Random rng(tensor_seed(seed, spec.name));
    if (spec.init == SynthTensor::Init::kRopeFreqs) {
      const std::vector<float> ff = llama3_rope_factors(shape);
      buffer.resize(ff.size() * 4);
      std::memcpy(buffer.data(), ff.data(), buffer.size());
    } else {
      buffer.clear();
    }
    const int64_t rows = info.n_elements() / info.ne[0];
    const int64_t rows_per_chunk = std::max<int64_t>(1, (int64_t{1} << 22) / static_cast<int64_t>(info.row_bytes()));
    for (int64_t r0 = 0; r0 < rows && spec.init != SynthTensor::Init::kRopeFreqs; r0 += rows_per_chunk) {
      const int64_t nr = std::min(rows_per_chunk, rows - r0);
      buffer.resize(static_cast<size_t>(nr * static_cast<int64_t>(info.row_bytes())));
      fill_values(info.type, spec.init, buffer.data(), nr * info.ne[0], rng);
      if (std::fwrite(buffer.data(), 1, buffer.size(), tmp.f) != buffer.size())
        throw Error(fmt::format("synth: cannot write {} (disk full?)", tmp.path));
    }
    if (spec.init == SynthTensor::Init::kRopeFreqs &&
        std::fwrite(buffer.data(), 1, buffer.size(), tmp.f) != buffer.size())
      throw Error(fmt::format("synth: cannot write {} (disk full?)", tmp.path));
    const uint64_t pad = (k + 1 < specs.size() ? offsets[k + 1] : total) - offsets[k] - info.n_bytes();
    static const std::byte zeros[32] = {};
    if (pad && std::fwrite(zeros, 1, pad, tmp.f) != pad)
      throw Error(fmt::format("synth: cannot write {} (disk full?)", tmp.path));
  }
  if (std::fclose(tmp.f) != 0) {
    tmp.f = nullptr;
    throw Error(fmt::format("synth: cannot write {} (disk full?)", tmp.path));
  }
  tmp.f = nullptr;

  // Pass 3: map the data and let the GGUF writer stream it into place.
  auto mapping = std::make_shared<const MappedFile>(tmp.path);
  for (size_t k = 0; k < specs.size(); ++k) {
    model.tensors[k].data = mapping->bytes().subspan(offsets[k], model.tensors[k].n_bytes());
  }
  model.mappings.push_back(mapping);
  write_gguf(model, path);
}

}  // namespace layerlab
