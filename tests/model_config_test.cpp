// read_model_config and summarize_model: hand-built ModelFiles for the defaults, per-layer
// arrays, layer kinds and errors, then every fixture model against the fixtures' manifest.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/model/config.h"
#include "layerlab/model/model_summary.h"
#include "test_support.h"

namespace layerlab {
namespace {

using testing::fixture_model;
using testing::fixture_path;

TensorInfo tensor(const std::string& name, GgmlType type, std::vector<int64_t> shape) {
  TensorInfo t;
  t.name = name;
  t.type = type;
  t.n_dims = static_cast<uint32_t>(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) t.ne[d] = shape[d];
  return t;
}

Value u32_array(const std::vector<uint32_t>& v) {
  std::vector<Value> items;
  for (uint32_t x : v) items.push_back(Value::u32(x));
  return Value::array(ValueType::U32, items);
}

// A minimal llama: E=64, 2 layers, 4 heads (no head_count_kv, key_length or rope keys).
ModelFile tiny_llama() {
  ModelFile f;
  Metadata& m = f.metadata;
  m.set("general.architecture", Value::string("llama"));
  m.set("llama.context_length", Value::u32(128));
  m.set("llama.embedding_length", Value::u32(64));
  m.set("llama.block_count", Value::u32(2));
  m.set("llama.feed_forward_length", Value::u32(96));
  m.set("llama.attention.head_count", Value::u32(4));
  m.set("llama.attention.layer_norm_rms_epsilon", Value::f32(1e-5f));
  m.set("tokenizer.ggml.tokens", Value::string_array(std::vector<std::string>(32, "x")));
  f.tensors.push_back(tensor("token_embd.weight", GgmlType::F16, {64, 32}));
  for (int il = 0; il < 2; ++il) {
    std::string p = "blk." + std::to_string(il) + ".";
    f.tensors.push_back(tensor(p + "attn_norm.weight", GgmlType::F32, {64}));
    f.tensors.push_back(tensor(p + "attn_q.weight", GgmlType::F16, {64, 64}));
    f.tensors.push_back(tensor(p + "attn_k.weight", GgmlType::F16, {64, 64}));
    f.tensors.push_back(tensor(p + "ffn_up.weight", GgmlType::F16, {64, 96}));
  }
  f.tensors.push_back(tensor("output_norm.weight", GgmlType::F32, {64}));
  return f;
}

// A qwen35 with 8 layers and no recurrent_layers key (interval 4 applies).
ModelFile tiny_qwen35() {
  ModelFile f;
  Metadata& m = f.metadata;
  m.set("general.architecture", Value::string("qwen35"));
  m.set("qwen35.context_length", Value::u32(128));
  m.set("qwen35.embedding_length", Value::u32(64));
  m.set("qwen35.block_count", Value::u32(8));
  m.set("qwen35.feed_forward_length", Value::u32(96));
  m.set("qwen35.attention.head_count", Value::u32(2));
  m.set("qwen35.attention.head_count_kv", Value::u32(1));
  m.set("qwen35.attention.key_length", Value::u32(32));
  m.set("qwen35.attention.value_length", Value::u32(32));
  m.set("qwen35.attention.layer_norm_rms_epsilon", Value::f32(1e-6f));
  m.set("qwen35.rope.dimension_count", Value::u32(16));
  m.set("qwen35.rope.dimension_sections",
        Value::array(ValueType::I32, {Value::i32(3), Value::i32(3), Value::i32(2), Value::i32(0)}));
  m.set("qwen35.ssm.conv_kernel", Value::u32(4));
  m.set("qwen35.ssm.state_size", Value::u32(16));
  m.set("qwen35.ssm.group_count", Value::u32(2));
  m.set("qwen35.ssm.time_step_rank", Value::u32(4));
  m.set("qwen35.ssm.inner_size", Value::u32(64));
  m.set("qwen35.vocab_size", Value::u32(32));
  return f;
}

std::vector<MixerKind> mixers(const ModelConfig& c) {
  std::vector<MixerKind> out;
  for (const auto& l : c.layers) out.push_back(l.mixer);
  return out;
}

std::vector<MixerKind> kinds_from_recurrent(const std::vector<int>& recurrent) {
  std::vector<MixerKind> out;
  for (int r : recurrent) out.push_back(r ? MixerKind::kLinearAttention : MixerKind::kAttention);
  return out;
}

// Expects read_model_config to throw an Error whose message contains `needle`.
void expect_error_naming(const ModelFile& f, const std::string& needle) {
  try {
    read_model_config(f);
    FAIL() << "no error; expected one naming " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ModelConfig, LlamaDefaults) {
  ModelConfig c = read_model_config(tiny_llama());
  EXPECT_EQ(c.arch, Arch::kLlama);
  EXPECT_EQ(c.n_layer, 2);
  EXPECT_EQ(c.n_layer_all, 2);
  EXPECT_EQ(c.n_head_kv, 4);       // defaults to head_count
  EXPECT_EQ(c.head_dim_k, 16);     // n_embd / n_head
  EXPECT_EQ(c.head_dim_v, 16);
  EXPECT_EQ(c.n_rot, 16);          // defaults to key_length
  EXPECT_FLOAT_EQ(c.rope_freq_base, 10000.0f);
  EXPECT_FLOAT_EQ(c.rope_freq_scale, 1.0f);
  EXPECT_EQ(c.rope_type, RopeType::kNorm);
  EXPECT_EQ(c.n_vocab, 32);        // from tokenizer.ggml.tokens
  EXPECT_EQ(c.n_ctx_train, 128);
  EXPECT_EQ(c.rope_n_ctx_orig, 128);
  EXPECT_TRUE(c.tied_embeddings);  // no output.weight
  ASSERT_EQ(c.layers.size(), 2u);
  for (const auto& l : c.layers) {
    EXPECT_EQ(l.mixer, MixerKind::kAttention);
    EXPECT_EQ(l.ffn, FfnKind::kDense);
    EXPECT_EQ(l.n_ff, 96);
  }
}

TEST(ModelConfig, PerLayerArrays) {
  ModelFile f = tiny_llama();
  f.metadata.set("llama.attention.head_count", u32_array({4, 4}));
  f.metadata.set("llama.attention.head_count_kv", Value::array(ValueType::I32, {Value::i32(4), Value::i32(2)}));
  f.metadata.set("llama.feed_forward_length", u32_array({96, 128}));
  f.tensors[2] = tensor("blk.0.attn_k.weight", GgmlType::F16, {64, 64});
  f.tensors[6] = tensor("blk.1.attn_k.weight", GgmlType::F16, {64, 32});
  ModelConfig c = read_model_config(f);
  EXPECT_EQ(c.layers[0].n_head_kv, 4);
  EXPECT_EQ(c.layers[1].n_head_kv, 2);
  EXPECT_EQ(c.layers[0].n_ff, 96);
  EXPECT_EQ(c.layers[1].n_ff, 128);
  EXPECT_EQ(c.n_ff, 96);

  f.metadata.set("llama.feed_forward_length", u32_array({96, 128, 128}));
  expect_error_naming(f, "llama.feed_forward_length");
}

TEST(ModelConfig, VocabFallsBackToEmbeddingRows) {
  ModelFile f = tiny_llama();
  f.metadata.erase("tokenizer.ggml.tokens");
  EXPECT_EQ(read_model_config(f).n_vocab, 32);
  f.metadata.set("llama.vocab_size", Value::u32(32));
  EXPECT_EQ(read_model_config(f).n_vocab, 32);
  f.metadata.set("llama.vocab_size", Value::u32(40));  // disagrees with token_embd {64, 32}
  expect_error_naming(f, "token_embd.weight");
}

TEST(ModelConfig, RopeScaling) {
  ModelFile f = tiny_llama();
  f.metadata.set("llama.rope.freq_base", Value::f32(500000.0f));
  f.metadata.set("llama.rope.scaling.type", Value::string("linear"));
  f.metadata.set("llama.rope.scaling.factor", Value::f32(4.0f));
  ModelConfig c = read_model_config(f);
  EXPECT_FLOAT_EQ(c.rope_freq_base, 500000.0f);
  EXPECT_FLOAT_EQ(c.rope_freq_scale, 0.25f);
  EXPECT_EQ(c.rope_scaling, RopeScaling::kLinear);
  f.metadata.set("llama.rope.scaling.type", Value::string("none"));
  EXPECT_FLOAT_EQ(read_model_config(f).rope_freq_scale, 1.0f);
  f.metadata.set("llama.rope.scaling.type", Value::string("spiral"));
  expect_error_naming(f, "llama.rope.scaling.type");
}

TEST(ModelConfig, MissingAndWrongKeysAreNamed) {
  for (const char* key : {"llama.embedding_length", "llama.block_count", "llama.context_length",
                          "llama.attention.head_count", "llama.attention.layer_norm_rms_epsilon"}) {
    ModelFile f = tiny_llama();
    f.metadata.erase(key);
    expect_error_naming(f, key);
  }
  ModelFile f = tiny_llama();
  f.metadata.set("llama.embedding_length", Value::string("64"));
  expect_error_naming(f, "llama.embedding_length");
  f = tiny_llama();
  f.metadata.set("llama.rope.dimension_count", Value::u32(8));  // llama must rotate the whole head
  expect_error_naming(f, "llama.rope.dimension_count");
  f = tiny_llama();
  f.metadata.set("llama.attention.head_count_kv", Value::u32(3));
  expect_error_naming(f, "llama.attention.head_count_kv");
  f = tiny_llama();
  f.metadata.set("llama.attention.head_count_kv", Value::u32(2));  // attn_k has 4 x 16 rows
  expect_error_naming(f, "blk.0.attn_k.weight");
  f = tiny_llama();
  f.metadata.set("llama.block_count", Value::u64(uint64_t{1} << 40));
  expect_error_naming(f, "llama.block_count");
}

TEST(ModelConfig, UnknownArchitectureIsNamed) {
  ModelFile f = tiny_llama();
  f.metadata.set("general.architecture", Value::string("gpt-neox"));
  expect_error_naming(f, "gpt-neox");
  // The summary still describes the file.
  ModelSummary s = summarize_model(f);
  EXPECT_FALSE(s.config.has_value());
  EXPECT_NE(s.config_error.find("gpt-neox"), std::string::npos);
  EXPECT_EQ(s.total.n_tensors, 10);
  EXPECT_EQ(s.layers.size(), 2u);
  EXPECT_EQ(s.n_depth, 2);
  EXPECT_FALSE(s.layers[0].mixer.has_value());
  EXPECT_EQ(s.layers[1].stats.n_params, 64 + 64 * 64 + 64 * 64 + 64 * 96);
  EXPECT_EQ(s.embedding.n_params, 64 * 32);
  EXPECT_EQ(s.output_norm.n_params, 64);
  EXPECT_EQ(s.total.type_counts.at("F16"), 7);
  EXPECT_EQ(s.total.type_counts.at("F32"), 3);
}

TEST(ModelConfig, MixtralStyleLlamaIsMoe) {
  ModelFile f = tiny_llama();
  f.metadata.set("llama.expert_count", Value::u32(4));
  f.metadata.set("llama.expert_used_count", Value::u32(2));
  f.tensors.push_back(tensor("blk.0.ffn_gate_inp.weight", GgmlType::F32, {64, 4}));
  f.tensors.push_back(tensor("blk.1.ffn_gate_inp.weight", GgmlType::F32, {64, 4}));
  ModelConfig c = read_model_config(f);
  EXPECT_EQ(c.layers[0].ffn, FfnKind::kMoe);
  EXPECT_EQ(c.layers[1].ffn, FfnKind::kMoe);
  EXPECT_EQ(c.n_ff_expert, 48);  // feed_forward_length / expert_used_count
  f.metadata.erase("llama.expert_count");
  expect_error_naming(f, "llama.expert_count");
}

TEST(ModelConfig, Qwen35IntervalAndNextn) {
  ModelFile f = tiny_qwen35();
  ModelConfig c = read_model_config(f);
  EXPECT_EQ(c.rope_type, RopeType::kImrope);
  EXPECT_EQ(c.full_attention_interval, 4);
  EXPECT_EQ(mixers(c), kinds_from_recurrent({1, 1, 1, 0, 1, 1, 1, 0}));
  EXPECT_EQ((c.rope_sections), (std::array<int, 4>{3, 3, 2, 0}));

  f.metadata.set("qwen35.full_attention_interval", Value::u32(2));
  EXPECT_EQ(mixers(read_model_config(f)), kinds_from_recurrent({1, 0, 1, 0, 1, 0, 1, 0}));

  // The last block is an MTP block: 7 executed layers.
  f = tiny_qwen35();
  f.metadata.set("qwen35.nextn_predict_layers", Value::u32(1));
  c = read_model_config(f);
  EXPECT_EQ(c.n_layer, 7);
  EXPECT_EQ(c.n_layer_all, 8);
  EXPECT_EQ(mixers(c), kinds_from_recurrent({1, 1, 1, 0, 1, 1, 1}));

  f = tiny_qwen35();
  f.metadata.erase("qwen35.rope.dimension_sections");
  expect_error_naming(f, "qwen35.rope.dimension_sections");
  f = tiny_qwen35();
  f.metadata.set("qwen35.ssm.inner_size", Value::u32(60));
  expect_error_naming(f, "qwen35.ssm.inner_size");
}

TEST(ModelConfig, Qwen35ExplicitRecurrentLayers) {
  // The dup_2_3 plan's flags: the array wins over the interval.
  const std::vector<int> flags = {1, 1, 1, 0, 1, 0, 1, 1};
  ModelFile f = tiny_qwen35();
  std::vector<Value> b, i32, u32;
  for (int x : flags) {
    b.push_back(Value::boolean(x != 0));
    i32.push_back(Value::i32(x));
    u32.push_back(Value::u32(static_cast<uint32_t>(x)));
  }
  for (auto [type, items] : {std::pair{ValueType::BOOL, b}, std::pair{ValueType::I32, i32},
                             std::pair{ValueType::U32, u32}}) {
    f.metadata.set("qwen35.attention.recurrent_layers", Value::array(type, items));
    EXPECT_EQ(mixers(read_model_config(f)), kinds_from_recurrent(flags)) << value_type_name(type);
  }
  f.metadata.set("qwen35.attention.recurrent_layers",
                 Value::array(ValueType::BOOL, std::vector<Value>(b.begin(), b.begin() + 7)));
  expect_error_naming(f, "qwen35.attention.recurrent_layers");
  f.metadata.set("qwen35.attention.recurrent_layers",
                 Value::array(ValueType::F32, std::vector<Value>(8, Value::f32(1.0f))));
  expect_error_naming(f, "qwen35.attention.recurrent_layers");
}

// ---- Fixture models ------------------------------------------------------------------------

const nlohmann::json& manifest() {
  static const nlohmann::json m = [] {
    std::ifstream in(fixture_path("models/MANIFEST.fixtures.json"));
    return nlohmann::json::parse(in);
  }();
  return m;
}

// Layer kinds stated in fixtures/README.md (section 1): qwen35 layers 3 and 7 are full
// attention; qwen3moe is MoE in every layer; the rest are dense softmax attention.
void expect_fixture_kinds(const std::string& file, const ModelConfig& c) {
  for (int il = 0; il < c.n_layer; ++il) {
    const LayerSpec& l = c.layers[static_cast<size_t>(il)];
    bool full = c.arch != Arch::kQwen35 || il == 3 || il == 7;
    EXPECT_EQ(l.mixer, full ? MixerKind::kAttention : MixerKind::kLinearAttention) << file << " " << il;
    EXPECT_EQ(l.ffn, c.arch == Arch::kQwen3Moe ? FfnKind::kMoe : FfnKind::kDense) << file << " " << il;
  }
}

TEST(FixtureModels, ConfigAndCountsMatchManifest) {
  const auto files = testing::fixture_model_files();
  ASSERT_GE(files.size(), 17u);
  int checked = 0;
  for (const auto& [file, entry] : manifest().items()) {
    SCOPED_TRACE(file);
    ModelFile mf = read_gguf(fixture_model(file));
    ModelConfig c = read_model_config(mf);
    const auto& hp = entry["hparams"];
    EXPECT_EQ(c.arch_name, entry["architecture"].get<std::string>());
    EXPECT_EQ(c.n_layer, hp["block_count"].get<int>());
    EXPECT_EQ(c.n_embd, hp["embedding_length"].get<int>());
    EXPECT_EQ(c.n_ctx_train, hp["context_length"].get<int>());
    EXPECT_EQ(c.n_head, hp["attention.head_count"].get<int>());
    EXPECT_EQ(c.n_head_kv, hp.value("attention.head_count_kv", c.n_head));
    EXPECT_EQ(c.n_ff, hp["feed_forward_length"].get<int>());
    EXPECT_EQ(c.n_vocab, hp.value("vocab_size", 512));
    EXPECT_FLOAT_EQ(c.rms_eps, hp["attention.layer_norm_rms_epsilon"].get<float>());
    EXPECT_FLOAT_EQ(c.rope_freq_base, hp.value("rope.freq_base", 10000.0f));
    EXPECT_EQ(c.n_rot, hp["rope.dimension_count"].get<int>());
    EXPECT_EQ(c.head_dim_k, hp.value("attention.key_length", c.n_embd / c.n_head));
    EXPECT_EQ(c.n_expert, hp.value("expert_count", 0));
    EXPECT_EQ(c.n_expert_used, hp.value("expert_used_count", 0));
    EXPECT_EQ(c.n_ff_expert, hp.value("expert_feed_forward_length", 0));
    EXPECT_EQ(c.ssm_state_size, hp.value("ssm.state_size", 0));
    EXPECT_EQ(c.tied_embeddings, !entry["tensors"].contains("output.weight"));
    expect_fixture_kinds(file, c);

    ModelSummary s = summarize_model(mf);
    EXPECT_EQ(s.total.n_tensors, entry["n_tensors"].get<int>());
    EXPECT_EQ(s.total.type_counts, (entry["tensor_type_counts"].get<std::map<std::string, int>>()));
    // Per-layer counts add up to the manifest's shapes.
    int64_t manifest_params = 0;
    for (const auto& [name, t] : entry["tensors"].items()) {
      int64_t n = 1;
      for (const auto& d : t[1]) n *= d.get<int64_t>();
      manifest_params += n;
    }
    EXPECT_EQ(s.total.n_params, manifest_params);
    int64_t sum = s.embedding.n_params + s.output.n_params + s.output_norm.n_params + s.other.n_params;
    for (const auto& l : s.layers) sum += l.stats.n_params;
    EXPECT_EQ(sum, s.total.n_params);
    EXPECT_EQ(s.other.n_tensors, 0);
    ++checked;
  }
  EXPECT_EQ(checked, 17);
}

TEST(FixtureModels, ReadmeFacts) {
  // fixtures/README.md 1.3-1.8: layer counts and kinds, plus the llama parameter count.
  struct Fact { const char* file; Arch arch; int n_layer; int n_tensors; };
  const Fact facts[] = {
      {"llama-f16.gguf", Arch::kLlama, 6, 57},     {"qwen2-f16.gguf", Arch::kQwen2, 6, 74},
      {"qwen3-f16.gguf", Arch::kQwen3, 6, 68},     {"qwen3moe-f16.gguf", Arch::kQwen3Moe, 2, 27},
      {"qwen35-f16.gguf", Arch::kQwen35, 8, 108},  {"stories260K.gguf", Arch::kLlama, 5, 47},
  };
  for (const Fact& f : facts) {
    SCOPED_TRACE(f.file);
    ModelFile mf = read_gguf(fixture_model(f.file));
    ModelConfig c = read_model_config(mf);
    EXPECT_EQ(c.arch, f.arch);
    EXPECT_EQ(c.n_layer, f.n_layer);
    EXPECT_EQ(static_cast<int>(mf.tensors.size()), f.n_tensors);
  }
  ModelConfig q35 = read_model_config(read_gguf(fixture_model("qwen35-f16.gguf")));
  EXPECT_EQ(mixers(q35), kinds_from_recurrent({1, 1, 1, 0, 1, 1, 1, 0}));
  EXPECT_EQ(q35.ssm_group_count, 2);
  EXPECT_EQ(q35.ssm_time_step_rank, 4);
  // The same file with an explicit array (the dup_3 plan's flags cut to 8 layers): the array wins.
  ModelFile q35_file = read_gguf(fixture_model("qwen35-f16.gguf"));
  const std::vector<int> flags = {1, 1, 1, 0, 0, 1, 1, 1};
  std::vector<Value> items;
  for (int x : flags) items.push_back(Value::boolean(x != 0));
  q35_file.metadata.set("qwen35.attention.recurrent_layers", Value::array(ValueType::BOOL, items));
  EXPECT_EQ(mixers(read_model_config(q35_file)), kinds_from_recurrent(flags));
  ModelConfig moe = read_model_config(read_gguf(fixture_model("qwen3moe-f16.gguf")));
  EXPECT_EQ(moe.layers[0].ffn, FfnKind::kMoe);
  EXPECT_EQ(moe.layers[1].ffn, FfnKind::kMoe);
  EXPECT_FALSE(moe.tied_embeddings);
  EXPECT_TRUE(read_model_config(read_gguf(fixture_model("qwen2-f16.gguf"))).tied_embeddings);
  EXPECT_EQ(read_model_config(read_gguf(fixture_model("qwen2-f16.gguf"))).rope_type, RopeType::kNeox);
  // "4.98 M parameters"
  ModelSummary s = summarize_model(read_gguf(fixture_model("llama-f16.gguf")));
  EXPECT_NEAR(static_cast<double>(s.total.n_params), 4.98e6, 0.005e6);
}

TEST(FixtureModels, Organism) {
  // fixtures/organism/README.md: 16 layers, width 192, 6/3 heads, ff 512, vocab 2048,
  // 7,280,832 parameters, all F32 (the Q8_0 twin keeps the 1-D norms in F32).
  for (const char* file : {"organism.gguf", "organism-q8_0.gguf"}) {
    SCOPED_TRACE(file);
    ModelFile mf = read_gguf(fixture_model(file));
    ModelConfig c = read_model_config(mf);
    EXPECT_EQ(c.arch, Arch::kLlama);
    EXPECT_EQ(c.n_layer, 16);
    EXPECT_EQ(c.n_embd, 192);
    EXPECT_EQ(c.n_head, 6);
    EXPECT_EQ(c.n_head_kv, 3);
    EXPECT_EQ(c.n_rot, 32);
    EXPECT_EQ(c.n_ff, 512);
    EXPECT_EQ(c.n_vocab, 2048);
    EXPECT_EQ(c.n_ctx_train, 256);
    EXPECT_FALSE(c.tied_embeddings);
    expect_fixture_kinds(file, c);
    ModelSummary s = summarize_model(mf);
    EXPECT_EQ(s.total.n_params, 7280832);
    EXPECT_EQ(s.total.n_tensors, 16 * 9 + 3);
    EXPECT_EQ(s.total.type_counts.at("F32"), std::string(file) == "organism.gguf" ? 147 : 33);
  }
}

}  // namespace
}  // namespace layerlab
