// `synth`: synthetic models have the real tensor names, shapes and metadata, read back as a
// valid model, and hold finite weights of the intended scale in every type.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <fstream>
#include <span>
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/model/config.h"
#include "layerlab/model/synth.h"
#include "layerlab/runtime/engine.h"
#include "layerlab/tensor/dequantize.h"
#include "test_support.h"

namespace layerlab {
namespace {

using testing::run_cli;
using testing::scratch_dir;

std::vector<int64_t> shape_of(const TensorInfo& t) {
  return std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims);
}

const char* kSmallDims = "n_embd=256,n_layer=2,n_head=4,n_head_kv=2,n_ff=512,n_vocab=300";

void expect_small_llama(const ModelFile& file, GgmlType type) {
  const ModelConfig c = read_model_config(file);
  EXPECT_EQ(c.arch, Arch::kLlama);
  EXPECT_EQ(c.n_embd, 256);
  EXPECT_EQ(c.n_layer, 2);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.head_dim_k, 64);
  EXPECT_EQ(c.n_ff, 512);
  EXPECT_EQ(c.n_vocab, 300);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-5f);
  EXPECT_EQ(file.tensors.size(), 2u * 9 + 3);
  std::map<std::string, std::vector<int64_t>> expected = {
      {"token_embd.weight", {256, 300}},      {"output.weight", {256, 300}},
      {"output_norm.weight", {256}},          {"blk.1.attn_norm.weight", {256}},
      {"blk.1.attn_q.weight", {256, 256}},    {"blk.1.attn_k.weight", {256, 128}},
      {"blk.1.attn_v.weight", {256, 128}},    {"blk.1.attn_output.weight", {256, 256}},
      {"blk.1.ffn_gate.weight", {256, 512}},  {"blk.1.ffn_up.weight", {256, 512}},
      {"blk.1.ffn_down.weight", {512, 256}},  {"blk.1.ffn_norm.weight", {256}}};
  for (const auto& [name, ne] : expected) {
    const TensorInfo* t = file.find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(shape_of(*t), ne) << name;
    EXPECT_EQ(t->type, ne.size() == 1 ? GgmlType::F32 : type) << name;
  }
  EXPECT_EQ(file.metadata.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(file.metadata.find("tokenizer.ggml.tokens")->items.size(), 300u);
  EXPECT_EQ(file.metadata.find("tokenizer.ggml.tokens")->items[3].str, "<0x00>");
  EXPECT_EQ(file.metadata.find("tokenizer.ggml.tokens")->items[299].str, "<tok_299>");
  EXPECT_EQ(file.metadata.get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(file.metadata.get_int("tokenizer.ggml.eos_token_id"), 2);
}

TEST(Synth, CustomDimsF16AndQ8_0ReadBack) {
  const std::string dir = scratch_dir();
  for (const char* type : {"F16", "Q8_0"}) {
    const std::string out = dir + "/small-" + type + ".gguf";
    auto r = run_cli({"synth", "--dims", kSmallDims, "--type", type, "-o", out, "--seed", "3"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_small_llama(read_gguf(out), ggml_type_by_name(type)->type);
  }
}

// Every weight type: finite values with std near 0.02 and mean near 0 after dequantization.
TEST(Synth, EveryTypeDequantizesToSensibleValues) {
  const std::string dir = scratch_dir();
  for (const char* type : {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K",
                           "Q3_K", "Q4_K", "Q5_K", "Q6_K"}) {
    SCOPED_TRACE(type);
    const std::string out = dir + "/t-" + type + ".gguf";
    const GgmlType t = ggml_type_by_name(type)->type;
    write_synth_model(parse_synth_dims("n_embd=256,n_layer=1,n_head=4,n_head_kv=4,n_ff=512,n_vocab=512", "llama"),
                      t, 11, out);
    const ModelFile file = read_gguf(out);
    for (const auto& info : file.tensors) {
      std::vector<float> v(static_cast<size_t>(info.n_elements()));
      dequantize_row(info.type, info.data.data(), v.data(), info.n_elements());
      double sum = 0, sq = 0;
      for (float x : v) {
        ASSERT_TRUE(std::isfinite(x)) << info.name;
        sum += x, sq += static_cast<double>(x) * x;
      }
      const double mean = sum / v.size(), sd = std::sqrt(sq / v.size() - mean * mean);
      if (info.n_dims == 1) {  // norms ~ 1
        EXPECT_EQ(info.type, GgmlType::F32);
        EXPECT_NEAR(mean, 1.0, 0.01) << info.name;
      } else {
        EXPECT_EQ(info.type, t) << info.name;
        EXPECT_NEAR(mean, 0.0, 0.002) << info.name;
        EXPECT_GT(sd, 0.015) << info.name;
        EXPECT_LT(sd, 0.025) << info.name;
      }
    }
  }
}

TEST(Synth, LikeQwen25TwoLayersHasRealShapes) {
  const std::string out = scratch_dir() + "/qwen.gguf";
  auto r = run_cli({"synth", "--like", "qwen2.5-0.5b", "--layers", "2", "--type", "Q4_0", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ModelFile file = read_gguf(out);
  const ModelConfig c = read_model_config(file);
  EXPECT_EQ(c.arch, Arch::kQwen2);
  EXPECT_EQ(c.n_embd, 896);
  EXPECT_EQ(c.n_layer, 2);
  EXPECT_EQ(c.n_head, 14);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.n_ff, 4864);
  EXPECT_EQ(c.n_vocab, 151936);
  EXPECT_EQ(c.head_dim_k, 64);
  EXPECT_EQ(c.rope_type, RopeType::kNeox);
  EXPECT_FLOAT_EQ(c.rope_freq_base, 1e6f);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-6f);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(file.find_tensor("output.weight"), nullptr);
  EXPECT_EQ(file.find_tensor("blk.2.attn_q.weight"), nullptr);
  std::map<std::string, std::vector<int64_t>> expected = {
      {"token_embd.weight", {896, 151936}}, {"blk.1.attn_q.weight", {896, 896}},
      {"blk.1.attn_q.bias", {896}},         {"blk.1.attn_k.weight", {896, 128}},
      {"blk.1.attn_k.bias", {128}},         {"blk.1.attn_v.weight", {896, 128}},
      {"blk.1.attn_v.bias", {128}},         {"blk.1.attn_output.weight", {896, 896}},
      {"blk.1.ffn_gate.weight", {896, 4864}}, {"blk.1.ffn_up.weight", {896, 4864}},
      {"blk.1.ffn_down.weight", {4864, 896}}, {"output_norm.weight", {896}}};
  for (const auto& [name, ne] : expected) {
    const TensorInfo* t = file.find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(shape_of(*t), ne) << name;
  }
  EXPECT_EQ(file.metadata.get_int("qwen2.context_length"), 32768);
  EXPECT_EQ(file.metadata.find("tokenizer.ggml.tokens")->items.size(), 151936u);
}

TEST(Synth, TableShapes) {
  const SynthShape* q3 = find_synth_shape("qwen3-0.6b");
  ASSERT_NE(q3, nullptr);
  std::map<std::string, SynthTensor> by_name;
  for (auto& t : synth_tensors(*q3, GgmlType::F16)) by_name.emplace(t.name, t);
  EXPECT_EQ(by_name.at("blk.27.attn_q.weight").ne, (std::vector<int64_t>{1024, 2048}));
  EXPECT_EQ(by_name.at("blk.27.attn_k.weight").ne, (std::vector<int64_t>{1024, 1024}));
  EXPECT_EQ(by_name.at("blk.27.attn_q_norm.weight").ne, (std::vector<int64_t>{128}));
  EXPECT_EQ(by_name.at("blk.27.attn_output.weight").ne, (std::vector<int64_t>{2048, 1024}));
  EXPECT_EQ(by_name.at("blk.0.ffn_down.weight").ne, (std::vector<int64_t>{3072, 1024}));
  EXPECT_EQ(by_name.count("output.weight"), 0u);
  EXPECT_EQ(by_name.count("blk.0.attn_q.bias"), 0u);
  const Metadata m = synth_metadata(*q3, GgmlType::F16);
  EXPECT_EQ(m.get_int("qwen3.attention.key_length"), 128);
  EXPECT_EQ(m.get_int("qwen3.block_count"), 28);

  const SynthShape* smol = find_synth_shape("smollm2-360m");
  ASSERT_NE(smol, nullptr);
  EXPECT_EQ(smol->head_dim_or_default(), 64);
  EXPECT_EQ(synth_tensors(*smol, GgmlType::F16).size(), 32u * 9 + 2);
  EXPECT_EQ(synth_shape_names().size(), 8u);
}

TEST(Synth, Llama32RopeFreqs) {
  const SynthShape* l = find_synth_shape("llama-3.2-1b");
  ASSERT_NE(l, nullptr);
  const std::vector<float> ff = llama3_rope_factors(*l);
  ASSERT_EQ(ff.size(), 32u);
  EXPECT_FLOAT_EQ(ff.front(), 1.0f);   // short wavelengths unscaled
  EXPECT_FLOAT_EQ(ff.back(), 32.0f);   // long wavelengths divided by the factor
  for (size_t i = 1; i < ff.size(); ++i) EXPECT_GE(ff[i], ff[i - 1]);
  bool rope_freqs = false;
  for (const auto& t : synth_tensors(*l, GgmlType::Q8_0)) {
    if (t.name == "rope_freqs.weight") {
      rope_freqs = true;
      EXPECT_EQ(t.ne, (std::vector<int64_t>{32}));
      EXPECT_EQ(t.type, GgmlType::F32);
    }
    EXPECT_NE(t.name, "output.weight");
  }
  EXPECT_TRUE(rope_freqs);
}

TEST(Synth, KQuantFallbacksLikeLlamaQuantize) {
  EXPECT_EQ(synth_matrix_type(GgmlType::Q4_K, 4864), GgmlType::Q4_K);
  EXPECT_EQ(synth_matrix_type(GgmlType::Q4_K, 896), GgmlType::Q5_0);
  EXPECT_EQ(synth_matrix_type(GgmlType::Q5_K, 896), GgmlType::Q5_1);
  EXPECT_EQ(synth_matrix_type(GgmlType::Q6_K, 576), GgmlType::Q8_0);
  EXPECT_EQ(synth_matrix_type(GgmlType::Q2_K, 960), GgmlType::IQ4_NL);
  EXPECT_EQ(synth_matrix_type(GgmlType::Q8_0, 100), GgmlType::F16);
  EXPECT_EQ(synth_matrix_type(GgmlType::F16, 100), GgmlType::F16);
}

TEST(Synth, SeedDeterminesBytesAndLayersAreStable) {
  const std::string dir = scratch_dir();
  const SynthShape two = parse_synth_dims(kSmallDims, "qwen3");
  SynthShape one = two;
  one.n_layer = 1;
  write_synth_model(two, GgmlType::Q4_K, 5, dir + "/a.gguf");
  write_synth_model(two, GgmlType::Q4_K, 5, dir + "/b.gguf");
  write_synth_model(two, GgmlType::Q4_K, 6, dir + "/c.gguf");
  write_synth_model(one, GgmlType::Q4_K, 5, dir + "/d.gguf");
  EXPECT_EQ(testing::read_file(dir + "/a.gguf"), testing::read_file(dir + "/b.gguf"));
  EXPECT_NE(testing::read_file(dir + "/a.gguf"), testing::read_file(dir + "/c.gguf"));
  const ModelFile a = read_gguf(dir + "/a.gguf"), d = read_gguf(dir + "/d.gguf");
  for (const char* name : {"blk.0.attn_q.weight", "blk.0.attn_k_norm.weight", "token_embd.weight"}) {
    const TensorInfo *ta = a.find_tensor(name), *td = d.find_tensor(name);
    ASSERT_TRUE(ta && td) << name;
    EXPECT_TRUE(std::equal(ta->data.begin(), ta->data.end(), td->data.begin(), td->data.end())) << name;
  }
  EXPECT_EQ(read_model_config(a).arch, Arch::kQwen3);
}

// The small MoE and hybrid fixtures (fixtures/README.md §1.6-1.7) as --dims.
const char* kMoeDims =
    "n_embd=256,n_layer=2,n_head=4,n_head_kv=2,head_dim=64,n_ff=768,n_vocab=512,"
    "n_expert=8,n_expert_used=2,n_ff_expert=256";
const char* kHybridDims =
    "n_embd=256,n_layer=8,n_head=4,n_head_kv=2,head_dim=64,n_ff=512,n_vocab=512,"
    "ssm_state_size=32,ssm_group_count=2,ssm_time_step_rank=4";

// Same tensor names and shapes as the fixture llama.cpp ran, 2-D+ weights in `type`.
void expect_like_fixture(const ModelFile& file, const std::string& fixture, GgmlType type) {
  const ModelFile ref = read_gguf(testing::fixture_model(fixture));
  ASSERT_EQ(file.tensors.size(), ref.tensors.size());
  for (const auto& r : ref.tensors) {
    const TensorInfo* t = file.find_tensor(r.name);
    ASSERT_NE(t, nullptr) << r.name;
    EXPECT_EQ(shape_of(*t), shape_of(r)) << r.name;
    if (r.type == GgmlType::F32) EXPECT_EQ(t->type, GgmlType::F32) << r.name;  // norms, router, conv
    else EXPECT_EQ(t->type, type) << r.name;
  }
}

// Prefill then decode a few tokens; every logit must be finite and they must not all agree.
void expect_runs(const ModelFile& file, const ModelConfig& config) {
  EngineOptions opt;
  opt.threads = 2;
  opt.n_ctx = 64;
  Engine engine(file, config, opt);
  const std::vector<int32_t> prompt = {1, 282, 375, 445, 470, 20, 21, 300, 301, 7};
  std::span<const float> row = engine.prefill({prompt}).last(0);
  ASSERT_EQ(static_cast<int64_t>(row.size()), config.n_vocab);
  for (int step = 0; step < 3; ++step) {
    float lo = row[0], hi = row[0];
    for (float x : row) {
      ASSERT_TRUE(std::isfinite(x)) << "step " << step;
      lo = std::min(lo, x), hi = std::max(hi, x);
    }
    EXPECT_GT(hi - lo, 1e-3f) << "step " << step;
    const int32_t next = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    row = engine.decode(std::span<const int32_t>(&next, 1)).last(0);
  }
}

std::vector<float> f32_values(const TensorInfo& t) {
  std::vector<float> v(static_cast<size_t>(t.n_elements()));
  dequantize_row(t.type, t.data.data(), v.data(), t.n_elements());
  return v;
}

TEST(Synth, MoeCustomDimsReadBackAndRun) {
  const std::string dir = scratch_dir();
  for (const char* type : {"F16", "Q8_0"}) {
    SCOPED_TRACE(type);
    const std::string out = dir + "/moe-" + type + ".gguf";
    auto r = run_cli({"synth", "--arch", "qwen3moe", "--dims", kMoeDims, "--type", type, "-o", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const ModelFile file = read_gguf(out);
    const ModelConfig c = read_model_config(file);
    EXPECT_EQ(c.arch, Arch::kQwen3Moe);
    EXPECT_EQ(c.n_expert, 8);
    EXPECT_EQ(c.n_expert_used, 2);
    EXPECT_EQ(c.n_ff_expert, 256);
    EXPECT_EQ(c.n_ff, 768);
    EXPECT_EQ(c.head_dim_k, 64);
    EXPECT_EQ(c.n_rot, 64);
    EXPECT_EQ(c.rope_type, RopeType::kNeox);
    EXPECT_FALSE(c.tied_embeddings);
    ASSERT_EQ(c.layers.size(), 2u);
    for (const auto& l : c.layers) {
      EXPECT_EQ(l.mixer, MixerKind::kAttention);
      EXPECT_EQ(l.ffn, FfnKind::kMoe);
    }
    expect_like_fixture(file, "qwen3moe-f16.gguf", ggml_type_by_name(type)->type);
    expect_runs(file, c);
  }
}

TEST(Synth, HybridCustomDimsReadBackAndRun) {
  const std::string dir = scratch_dir();
  for (const char* type : {"F16", "Q8_0"}) {
    SCOPED_TRACE(type);
    const std::string out = dir + "/q35-" + type + ".gguf";
    auto r = run_cli({"synth", "--arch", "qwen35", "--dims", kHybridDims, "--type", type, "-o", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const ModelFile file = read_gguf(out);
    const ModelConfig c = read_model_config(file);
    EXPECT_EQ(c.arch, Arch::kQwen35);
    EXPECT_EQ(c.full_attention_interval, 4);
    EXPECT_EQ(c.ssm_conv_kernel, 4);
    EXPECT_EQ(c.ssm_state_size, 32);
    EXPECT_EQ(c.ssm_group_count, 2);
    EXPECT_EQ(c.ssm_time_step_rank, 4);
    EXPECT_EQ(c.ssm_inner_size, 128);
    EXPECT_EQ(c.rope_type, RopeType::kImrope);
    EXPECT_EQ(c.n_rot, 16);  // a quarter of the head
    EXPECT_EQ(c.rope_sections, (std::array<int, 4>{3, 3, 2, 0}));
    EXPECT_FLOAT_EQ(c.rope_freq_base, 1e7f);
    EXPECT_TRUE(c.tied_embeddings);
    ASSERT_EQ(c.layers.size(), 8u);
    for (int il = 0; il < 8; ++il) {
      const bool attention = il == 3 || il == 7;
      EXPECT_EQ(c.layers[il].mixer, attention ? MixerKind::kAttention : MixerKind::kLinearAttention) << il;
      EXPECT_EQ(c.layers[il].ffn, FfnKind::kDense) << il;
    }
    expect_like_fixture(file, "qwen35-f16.gguf", ggml_type_by_name(type)->type);

    // DeltaNet vectors: decay rates -exp(U(0, 2)), small dt bias and conv taps.
    for (float a : f32_values(*file.find_tensor("blk.0.ssm_a"))) {
      EXPECT_LE(a, -1.0f);
      EXPECT_GE(a, -std::exp(2.0f));
    }
    for (float b : f32_values(*file.find_tensor("blk.0.ssm_dt.bias"))) EXPECT_LT(std::fabs(b), 0.6f);
    double sq = 0;
    const std::vector<float> conv = f32_values(*file.find_tensor("blk.0.ssm_conv1d.weight"));
    for (float w : conv) sq += static_cast<double>(w) * w;
    EXPECT_NEAR(std::sqrt(sq / conv.size()), 0.1, 0.02);
    expect_runs(file, c);
  }
}

TEST(Synth, LikeQwen3MoeRealShapesFromTensorList) {
  const SynthShape* known = find_synth_shape("qwen3-30b-a3b");
  ASSERT_NE(known, nullptr);
  SynthShape s = *known;
  s.n_layer = 2;  // as --layers 2
  std::map<std::string, SynthTensor> by_name;
  for (auto& t : synth_tensors(s, GgmlType::Q4_0)) by_name.emplace(t.name, t);
  EXPECT_EQ(by_name.size(), 2u * 12 + 3);
  std::map<std::string, std::vector<int64_t>> expected = {
      {"token_embd.weight", {2048, 151936}},        {"output.weight", {2048, 151936}},
      {"blk.1.attn_q.weight", {2048, 4096}},        {"blk.1.attn_k.weight", {2048, 512}},
      {"blk.1.attn_v.weight", {2048, 512}},         {"blk.1.attn_output.weight", {4096, 2048}},
      {"blk.1.attn_q_norm.weight", {128}},          {"blk.1.attn_k_norm.weight", {128}},
      {"blk.1.ffn_norm.weight", {2048}},            {"blk.1.ffn_gate_inp.weight", {2048, 128}},
      {"blk.1.ffn_gate_exps.weight", {2048, 768, 128}}, {"blk.1.ffn_up_exps.weight", {2048, 768, 128}},
      {"blk.1.ffn_down_exps.weight", {768, 2048, 128}}};
  for (const auto& [name, ne] : expected) {
    ASSERT_EQ(by_name.count(name), 1u) << name;
    EXPECT_EQ(by_name.at(name).ne, ne) << name;
  }
  EXPECT_EQ(by_name.at("blk.1.ffn_gate_inp.weight").type, GgmlType::F32);
  EXPECT_EQ(by_name.at("blk.1.ffn_down_exps.weight").type, GgmlType::Q4_0);
  EXPECT_EQ(by_name.count("blk.2.attn_q.weight"), 0u);
  // Q4_0: 18 bytes per 32 values.
  uint64_t values = 2 * 2048ull * 151936;  // embedding + output
  values += 2 * (2048ull * (4096 + 512 + 512) + 4096ull * 2048 + 3 * 2048ull * 768 * 128);
  const uint64_t floats = 2048 + 2 * (2 * 2048 + 2 * 128 + 2048ull * 128);
  EXPECT_EQ(synth_tensor_bytes(synth_tensors(s, GgmlType::Q4_0)), values / 32 * 18 + floats * 4);

  const Metadata m = synth_metadata(s, GgmlType::Q4_0);
  EXPECT_EQ(m.get_int("qwen3moe.expert_count"), 128);
  EXPECT_EQ(m.get_int("qwen3moe.expert_used_count"), 8);
  EXPECT_EQ(m.get_int("qwen3moe.expert_feed_forward_length"), 768);
  EXPECT_EQ(m.get_int("qwen3moe.feed_forward_length"), 6144);
  EXPECT_EQ(m.get_int("qwen3moe.attention.head_count_kv"), 4);
  EXPECT_EQ(m.get_int("qwen3moe.context_length"), 40960);

  // The CLI's dry run prints the same list without writing anything.
  const std::string out = scratch_dir() + "/never.gguf";
  auto r = run_cli({"synth", "--like", "qwen3-30b-a3b", "--layers", "2", "--type", "Q4_0",
                    "--dry-run", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("blk.1.ffn_down_exps.weight           Q4_0   {768, 2048, 128}"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("27 tensors"), std::string::npos) << r.out;
  EXPECT_FALSE(std::ifstream(out).good());
}

TEST(Synth, LikeQwen35FourLayersHasRealShapesAndRuns) {
  const std::string out = scratch_dir() + "/q35.gguf";
  auto r = run_cli({"synth", "--like", "qwen3.5-0.8b", "--layers", "4", "--type", "Q4_0", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ModelFile file = read_gguf(out);
  const ModelConfig c = read_model_config(file);
  EXPECT_EQ(c.arch, Arch::kQwen35);
  EXPECT_EQ(c.n_embd, 1024);
  EXPECT_EQ(c.n_vocab, 248320);
  EXPECT_EQ(c.n_head, 8);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.head_dim_k, 256);
  EXPECT_EQ(c.n_ff, 3584);
  EXPECT_EQ(c.n_rot, 64);
  EXPECT_EQ(c.rope_sections, (std::array<int, 4>{11, 11, 10, 0}));
  EXPECT_EQ(c.ssm_state_size, 128);
  EXPECT_EQ(c.ssm_group_count, 16);
  EXPECT_EQ(c.ssm_time_step_rank, 16);
  EXPECT_EQ(c.n_ctx_train, 262144);
  EXPECT_TRUE(c.tied_embeddings);
  ASSERT_EQ(c.layers.size(), 4u);
  for (int il = 0; il < 4; ++il)
    EXPECT_EQ(c.layers[il].mixer, il == 3 ? MixerKind::kAttention : MixerKind::kLinearAttention) << il;
  std::map<std::string, std::vector<int64_t>> expected = {
      {"token_embd.weight", {1024, 248320}},     {"blk.0.attn_qkv.weight", {1024, 6144}},
      {"blk.0.attn_gate.weight", {1024, 2048}},  {"blk.0.ssm_conv1d.weight", {4, 6144}},
      {"blk.0.ssm_dt.bias", {16}},               {"blk.0.ssm_a", {16}},
      {"blk.0.ssm_beta.weight", {1024, 16}},     {"blk.0.ssm_alpha.weight", {1024, 16}},
      {"blk.0.ssm_norm.weight", {128}},          {"blk.0.ssm_out.weight", {2048, 1024}},
      {"blk.2.post_attention_norm.weight", {1024}},
      {"blk.3.attn_q.weight", {1024, 4096}},     {"blk.3.attn_k.weight", {1024, 512}},
      {"blk.3.attn_v.weight", {1024, 512}},      {"blk.3.attn_output.weight", {2048, 1024}},
      {"blk.3.attn_q_norm.weight", {256}},       {"blk.3.ffn_gate.weight", {1024, 3584}},
      {"blk.3.ffn_down.weight", {3584, 1024}}};
  for (const auto& [name, ne] : expected) {
    const TensorInfo* t = file.find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(shape_of(*t), ne) << name;
  }
  EXPECT_EQ(file.find_tensor("output.weight"), nullptr);
  EXPECT_EQ(file.find_tensor("blk.3.attn_qkv.weight"), nullptr);
  EXPECT_EQ(file.find_tensor("blk.0.attn_q.weight"), nullptr);
  expect_runs(file, c);
}

TEST(Synth, MoeAndHybridBadArguments) {
  // Missing family keys, a bad interval or sections, too few hybrid layers.
  EXPECT_THROW(parse_synth_dims(kSmallDims, "qwen3moe"), Error);
  EXPECT_THROW(parse_synth_dims(kSmallDims, "qwen35"), Error);
  EXPECT_THROW(parse_synth_dims(std::string(kMoeDims) + ",n_expert_used=9", "qwen3moe"), Error);
  EXPECT_THROW(parse_synth_dims(std::string(kHybridDims) + ",ssm_time_step_rank=3", "qwen35"), Error);
  EXPECT_THROW(parse_synth_dims(std::string(kHybridDims) + ",rope_sections=3:3:3:0", "qwen35"), Error);
  EXPECT_THROW(parse_synth_dims(std::string(kHybridDims) + ",rope_sections=3:3:0:2", "qwen35"), Error);
  EXPECT_THROW(parse_synth_dims(std::string(kHybridDims) + ",n_layer=3", "qwen35"), Error);
  EXPECT_THROW(parse_synth_dims(std::string(kSmallDims) + ",n_expert=8", "llama"), Error);
  const SynthShape ok = parse_synth_dims(std::string(kHybridDims) + ",n_rot=32,rope_sections=6:5:5:0", "qwen35");
  EXPECT_EQ(ok.n_rot, 32);
  EXPECT_EQ(ok.rope_sections, (std::array<int, 4>{6, 5, 5, 0}));
  const std::string out = scratch_dir() + "/x.gguf";
  auto r = run_cli({"synth", "--like", "qwen3.5-0.8b", "--layers", "2", "--type", "Q4_0", "-o", out});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("full_attention_interval"), std::string::npos) << r.err;
  r = run_cli({"synth", "--like", "qwen3-30b-a3b", "--arch", "qwen35", "--type", "Q4_0", "-o", out});
  EXPECT_EQ(r.exit_code, 1);
}

TEST(Synth, BadArgumentsAreOneLineErrors) {
  EXPECT_THROW(parse_synth_dims("n_embd=256,n_layer=2", "llama"), Error);
  EXPECT_THROW(parse_synth_dims(std::string(kSmallDims) + ",bogus=1", "llama"), Error);
  EXPECT_THROW(parse_synth_dims("n_embd=250,n_layer=2,n_head=4,n_head_kv=2,n_ff=512,n_vocab=300", "llama"), Error);
  EXPECT_THROW(parse_synth_dims(kSmallDims, "gpt2"), Error);
  const std::string out = scratch_dir() + "/x.gguf";
  auto r = run_cli({"synth", "--like", "nonesuch", "--type", "F16", "-o", out});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown model"), std::string::npos);
  r = run_cli({"synth", "--dims", kSmallDims, "--type", "IQ2_XXS", "-o", out});
  EXPECT_EQ(r.exit_code, 1);
  r = run_cli({"synth", "--type", "F16", "-o", out});
  EXPECT_EQ(r.exit_code, 1);
}

}  // namespace
}  // namespace layerlab
