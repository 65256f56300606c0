// `synth`: synthetic models have the real tensor names, shapes and metadata, read back as a
// valid model, and hold finite weights of the intended scale in every type.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/model/config.h"
#include "layerlab/model/synth.h"
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
  EXPECT_EQ(synth_shape_names().size(), 6u);
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
