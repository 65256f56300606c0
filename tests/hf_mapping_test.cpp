// Hugging Face mapping: HF names and config keys in written checkpoints, loading without the
// GGUF metadata sidecar (config.json alone), the value transforms (llama Q/K permutation,
// zero-centred norms, A_log, qwen35 V-head order, expert stacking) and a hand-built HF directory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/io/hf_transforms.h"
#include "layerlab/io/model_loader.h"
#include "layerlab/io/safetensors_reader.h"
#include "layerlab/io/safetensors_writer.h"
#include "layerlab/tensor/f16.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace layerlab;
using nlohmann::json;
namespace lt = layerlab::testing;

namespace {

// An exported checkpoint of a fixture, with its HF tensors read back under HF names.
struct Exported {
  ModelFile original;
  std::string dir;
  json config;
  SafetensorsSet hf;
};

Exported export_fixture(const std::string& fixture) {
  Exported e;
  e.original = read_gguf(lt::fixture_model(fixture));
  e.dir = lt::scratch_dir() + "/hf";
  save_model(e.original, e.dir);
  e.config = json::parse(lt::read_file(e.dir + "/config.json"));
  e.hf = read_safetensors_files({e.dir + "/model.safetensors"});
  return e;
}

const TensorInfo& hf_tensor(const Exported& e, const std::string& name) {
  const TensorInfo* t = e.hf.model.find_tensor(name);
  if (!t) throw std::runtime_error("missing HF tensor " + name);
  return *t;
}

double f32_at(const TensorInfo& t, int64_t k) {
  if (t.type == GgmlType::F64) {
    double v;
    std::memcpy(&v, t.data.data() + 8 * k, 8);
    return v;
  }
  if (t.type == GgmlType::F32) {
    float v;
    std::memcpy(&v, t.data.data() + 4 * k, 4);
    return v;
  }
  uint16_t h;
  std::memcpy(&h, t.data.data() + 2 * k, 2);
  return t.type == GgmlType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
}

void expect_same_tensors(const ModelFile& a, const ModelFile& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t k = 0; k < a.tensors.size(); ++k) {
    const auto& x = a.tensors[k];
    const auto& y = b.tensors[k];
    ASSERT_EQ(x.name, y.name);
    EXPECT_EQ(x.type, y.type) << x.name;
    EXPECT_EQ(x.ne, y.ne) << x.name;
    ASSERT_EQ(x.data.size(), y.data.size()) << x.name;
    EXPECT_EQ(0, std::memcmp(x.data.data(), y.data.data(), x.data.size())) << x.name;
  }
}

// Every key derived from config.json alone must agree with the original GGUF metadata.
void expect_config_metadata_matches(const ModelFile& original, const ModelFile& from_config) {
  size_t checked = 0;
  for (const auto& [key, value] : from_config.metadata.items()) {
    const Value* want = original.metadata.find(key);
    if (!want) continue;  // keys the converter writes but this fixture does not carry
    EXPECT_TRUE(*want == value) << key << ": " << value.to_display() << " vs " << want->to_display();
    ++checked;
  }
  EXPECT_GE(checked, 10u);
  for (const char* key : {"block_count", "embedding_length", "attention.head_count", "attention.head_count_kv",
                          "context_length", "rope.freq_base", "attention.layer_norm_rms_epsilon"})
    EXPECT_TRUE(from_config.metadata.contains(original.architecture() + "." + key)) << key;
}

}  // namespace

TEST(HfMapping, LlamaCheckpointLooksLikeHuggingFace) {
  Exported e = export_fixture("llama-f16.gguf");
  for (const char* name : {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
                           "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                           "model.layers.5.self_attn.o_proj.weight", "model.layers.0.mlp.gate_proj.weight",
                           "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight"})
    EXPECT_NE(e.hf.model.find_tensor(name), nullptr) << name;
  // HF shapes are [out, in].
  const TensorInfo& k = hf_tensor(e, "model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(k.ne[1], 128);
  EXPECT_EQ(k.ne[0], 256);
  EXPECT_EQ(e.config["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(e.config["model_type"], "llama");
  EXPECT_EQ(e.config["num_hidden_layers"], 6);
  EXPECT_EQ(e.config["hidden_size"], 256);
  EXPECT_EQ(e.config["intermediate_size"], 768);
  EXPECT_EQ(e.config["num_attention_heads"], 4);
  EXPECT_EQ(e.config["num_key_value_heads"], 2);
  EXPECT_EQ(e.config["vocab_size"], 512);
  EXPECT_EQ(e.config["rms_norm_eps"].get<double>(), 1e-5);
  EXPECT_EQ(e.config["rope_theta"].get<double>(), 10000.0);
  EXPECT_EQ(e.config["tie_word_embeddings"], false);
  EXPECT_EQ(e.config["torch_dtype"], "float16");
}

TEST(HfMapping, LlamaQkPermutationUndoneOnExport) {
  Exported e = export_fixture("llama-f16.gguf");
  for (const char* which : {"q", "k"}) {
    const TensorInfo& g = *e.original.find_tensor(std::string("blk.2.attn_") + which + ".weight");
    const TensorInfo& h = hf_tensor(e, std::string("model.layers.2.self_attn.") + which + "_proj.weight");
    const int64_t d = 64, rows = g.ne[1];
    const size_t rb = g.row_bytes();
    for (int64_t head = 0; head < rows / d; ++head)
      for (int64_t i = 0; i < d / 2; ++i) {
        // GGUF row 2i = HF row i; GGUF row 2i+1 = HF row i + d/2.
        EXPECT_EQ(0, std::memcmp(g.data.data() + (head * d + 2 * i) * rb, h.data.data() + (head * d + i) * rb, rb));
        EXPECT_EQ(0, std::memcmp(g.data.data() + (head * d + 2 * i + 1) * rb,
                                 h.data.data() + (head * d + i + d / 2) * rb, rb));
      }
  }
  // V is not permuted.
  const TensorInfo& gv = *e.original.find_tensor("blk.2.attn_v.weight");
  const TensorInfo& hv = hf_tensor(e, "model.layers.2.self_attn.v_proj.weight");
  EXPECT_EQ(0, std::memcmp(gv.data.data(), hv.data.data(), gv.data.size()));
}

TEST(HfMapping, PermutationRoundTripsExactly) {
  std::mt19937 rng(7);
  for (int64_t heads : {1, 2, 4, 8}) {
    const int64_t d = 16, rows = heads * d;
    const size_t rb = 12;
    std::vector<std::byte> data(static_cast<size_t>(rows) * rb);
    for (auto& b : data) b = static_cast<std::byte>(rng());
    auto copy = data;
    permute_qk_rows(copy, rows, rb, heads, true);
    EXPECT_NE(copy, data);
    permute_qk_rows(copy, rows, rb, heads, false);
    EXPECT_EQ(copy, data);
  }
  std::vector<std::byte> odd(3 * 4);
  EXPECT_THROW(permute_qk_rows(odd, 3, 4, 1, true), Error);
}

class ConfigOnly : public ::testing::TestWithParam<std::string> {};

// Without gguf_metadata.json the model comes from config.json + safetensors alone: tensors
// identical to the original GGUF's, metadata keys equal to what the GGUF has.
TEST_P(ConfigOnly, LoadsWithoutSidecar) {
  Exported e = export_fixture(GetParam());
  fs::remove(e.dir + "/gguf_metadata.json");
  const ModelFile loaded = load_model(e.dir);
  expect_same_tensors(e.original, loaded);
  expect_config_metadata_matches(e.original, loaded);
  EXPECT_FALSE(loaded.metadata.contains("tokenizer.ggml.tokens"));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ConfigOnly,
                         ::testing::Values("llama-f16.gguf", "stories260K.gguf", "qwen2-f16.gguf", "qwen3-f16.gguf",
                                           "qwen3moe-f16.gguf", "qwen35-f16.gguf"),
                         [](const auto& info) {
                           std::string n = info.param.substr(0, info.param.size() - 5);
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(HfMapping, EditedConfigValueWinsOverSidecar) {
  Exported e = export_fixture("qwen3-f16.gguf");
  e.config["rope_theta"] = 500000.0;
  lt::write_file(e.dir + "/config.json", e.config.dump());
  const ModelFile loaded = load_model(e.dir);
  EXPECT_EQ(loaded.metadata.get_float("qwen3.rope.freq_base"), 500000.0);
  EXPECT_EQ(loaded.metadata.find("qwen3.rope.freq_base")->type, ValueType::F32);
  EXPECT_TRUE(*loaded.metadata.find("tokenizer.ggml.tokens") == *e.original.metadata.find("tokenizer.ggml.tokens"));
}

TEST(HfMapping, Qwen3MoeExpertsAreUnstackedAndRestacked) {
  Exported e = export_fixture("qwen3moe-f16.gguf");
  EXPECT_EQ(e.config["num_experts"], 8);
  EXPECT_EQ(e.config["num_experts_per_tok"], 2);
  EXPECT_EQ(e.config["moe_intermediate_size"], 256);
  EXPECT_NE(e.hf.model.find_tensor("model.layers.1.mlp.gate.weight"), nullptr);
  for (const char* part : {"gate", "up", "down"}) {
    const TensorInfo& stacked = *e.original.find_tensor(std::string("blk.1.ffn_") + part + "_exps.weight");
    const size_t slice = stacked.data.size() / 8;
    for (int ex = 0; ex < 8; ++ex) {
      const TensorInfo& h = hf_tensor(e, "model.layers.1.mlp.experts." + std::to_string(ex) + "." + part + "_proj.weight");
      EXPECT_EQ(h.n_dims, 2u);
      ASSERT_EQ(h.data.size(), slice);
      EXPECT_EQ(0, std::memcmp(h.data.data(), stacked.data.data() + ex * slice, slice));
    }
  }
}

TEST(HfMapping, Qwen35TransformsFollowTheConverter) {
  Exported e = export_fixture("qwen35-f16.gguf");
  EXPECT_EQ(e.config["architectures"][0], "Qwen3_5ForCausalLM");
  EXPECT_EQ(e.config["linear_num_key_heads"], 2);
  EXPECT_EQ(e.config["linear_num_value_heads"], 4);
  EXPECT_EQ(e.config["linear_key_head_dim"], 32);
  EXPECT_EQ(e.config["linear_value_head_dim"], 32);
  EXPECT_EQ(e.config["full_attention_interval"], 4);
  ASSERT_EQ(e.config["layer_types"].size(), 8u);
  EXPECT_EQ(e.config["layer_types"][3], "full_attention");
  EXPECT_EQ(e.config["layer_types"][0], "linear_attention");
  EXPECT_EQ(e.config["rope_parameters"]["mrope_section"], json::array({3, 3, 2}));
  EXPECT_DOUBLE_EQ(e.config["partial_rotary_factor"].get<double>(), 0.25);

  // Zero-centred norms: HF w = GGUF w - 1; ssm_norm is stored as is.
  for (auto [g, h] : {std::pair<std::string, std::string>{"blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"},
                      {"blk.3.attn_q_norm.weight", "model.layers.3.self_attn.q_norm.weight"},
                      {"output_norm.weight", "model.norm.weight"}}) {
    const TensorInfo& gt = *e.original.find_tensor(g);
    const TensorInfo& ht = hf_tensor(e, h);
    for (int64_t k = 0; k < gt.ne[0]; ++k)
      EXPECT_EQ(static_cast<float>(f32_at(ht, k) + 1.0), f32_at(gt, k)) << g << "[" << k << "]";
  }
  const TensorInfo& sn = *e.original.find_tensor("blk.0.ssm_norm.weight");
  const TensorInfo& hn = hf_tensor(e, "model.layers.0.linear_attn.norm.weight");
  EXPECT_EQ(0, std::memcmp(sn.data.data(), hn.data.data(), sn.data.size()));

  // V heads: HF grouped order h = g*R + r <-> GGUF tiled order h' = r*Hk + g (Hk = 2, R = 2),
  // and A_log = log(-ssm_a).
  const int hk = 2, R = 2;
  const TensorInfo& a = *e.original.find_tensor("blk.0.ssm_a");
  const TensorInfo& alog = hf_tensor(e, "model.layers.0.linear_attn.A_log");
  const TensorInfo& beta = *e.original.find_tensor("blk.0.ssm_beta.weight");
  const TensorInfo& hb = hf_tensor(e, "model.layers.0.linear_attn.in_proj_b.weight");
  const TensorInfo& out = *e.original.find_tensor("blk.0.ssm_out.weight");
  const TensorInfo& hout = hf_tensor(e, "model.layers.0.linear_attn.out_proj.weight");
  for (int g = 0; g < hk; ++g)
    for (int r = 0; r < R; ++r) {
      const int grouped = g * R + r, tiled = r * hk + g;
      EXPECT_EQ(static_cast<float>(-std::exp(f32_at(alog, grouped))), f32_at(a, tiled))
          << "head " << grouped;
      EXPECT_NEAR(std::log(-f32_at(a, tiled)), f32_at(alog, grouped), 1e-6);
      EXPECT_EQ(0, std::memcmp(beta.data.data() + tiled * beta.row_bytes(), hb.data.data() + grouped * hb.row_bytes(),
                               beta.row_bytes()));
      // ssm_out columns: blocks of 32 values in each row.
      for (int64_t row = 0; row < out.ne[1]; ++row)
        EXPECT_EQ(0, std::memcmp(out.data.data() + row * out.row_bytes() + tiled * 32 * 2,
                                 hout.data.data() + row * hout.row_bytes() + grouped * 32 * 2, 32 * 2));
    }
  // conv1d: HF [C, 1, K].
  const TensorInfo& conv = hf_tensor(e, "model.layers.0.linear_attn.conv1d.weight");
  EXPECT_EQ(conv.n_dims, 3u);
  EXPECT_EQ(conv.ne[0], 4);
  EXPECT_EQ(conv.ne[1], 1);
  EXPECT_EQ(conv.ne[2], 256);
}

// A checkpoint in the form Qwen3.5 is published in: nested text_config, language_model prefix.
TEST(HfMapping, NestedTextConfigAndLanguageModelPrefix) {
  Exported e = export_fixture("qwen35-f16.gguf");
  json outer = {{"architectures", json::array({"Qwen3_5ForConditionalGeneration"})},
                {"model_type", "qwen3_5"},
                {"text_config", e.config},
                {"vision_config", {{"depth", 2}}}};
  outer["text_config"].erase("architectures");
  outer["text_config"]["model_type"] = "qwen3_5_text";
  std::vector<HfTensor> tensors;
  for (const auto& t : e.hf.model.tensors) {
    HfTensor h{t.name, t.type, {}, t.data};
    for (uint32_t d = t.n_dims; d-- > 0;) h.shape.push_back(t.ne[d]);
    if (h.name.rfind("model.", 0) == 0) h.name = "model.language_model." + h.name.substr(6);
    tensors.push_back(h);
  }
  std::vector<std::byte> vis(16);
  tensors.push_back({"model.visual.patch_embed.weight", GgmlType::F32, {4}, vis});  // ignored by a text model
  const std::string dir = lt::scratch_dir() + "/vl";
  fs::create_directories(dir);
  write_safetensors_file(dir + "/model.safetensors", tensors, {});
  lt::write_file(dir + "/config.json", outer.dump(2));
  const ModelFile loaded = load_model(dir + "/config.json");
  EXPECT_EQ(loaded.architecture(), "qwen35");
  expect_same_tensors(e.original, loaded);
  expect_config_metadata_matches(e.original, loaded);
}

// A small llama checkpoint written by hand in HF form (HF names, rotate-half Q/K layout).
TEST(HfMapping, HandBuiltLlamaDirectory) {
  const int64_t E = 8, H = 2, d = 4, F = 12, V = 16;
  std::vector<std::vector<float>> store;
  std::vector<HfTensor> tensors;
  auto add = [&](std::string name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) v[k] = static_cast<float>(tensors.size() * 1000 + k);
    store.push_back(std::move(v));
    auto& b = store.back();
    tensors.push_back({std::move(name), GgmlType::F32, shape,
                       {reinterpret_cast<const std::byte*>(b.data()), b.size() * 4}});
  };
  store.reserve(16);
  add("model.embed_tokens.weight", {V, E});
  add("model.layers.0.input_layernorm.weight", {E});
  add("model.layers.0.self_attn.q_proj.weight", {H * d, E});
  add("model.layers.0.self_attn.k_proj.weight", {H * d, E});
  add("model.layers.0.self_attn.v_proj.weight", {H * d, E});
  add("model.layers.0.self_attn.o_proj.weight", {E, H * d});
  add("model.layers.0.post_attention_layernorm.weight", {E});
  add("model.layers.0.mlp.gate_proj.weight", {F, E});
  add("model.layers.0.mlp.up_proj.weight", {F, E});
  add("model.layers.0.mlp.down_proj.weight", {E, F});
  add("model.norm.weight", {E});
  add("lm_head.weight", {V, E});
  const std::string dir = lt::scratch_dir() + "/hand";
  fs::create_directories(dir);
  write_safetensors_file(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  json config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", E},
                 {"intermediate_size", F}, {"num_hidden_layers", 1}, {"num_attention_heads", H},
                 {"num_key_value_heads", H}, {"max_position_embeddings", 128}, {"rms_norm_eps", 1e-5},
                 {"rope_theta", 10000.0}, {"vocab_size", V}, {"tie_word_embeddings", false}};
  lt::write_file(dir + "/config.json", config.dump());

  const ModelFile m = load_model(dir + "/model.safetensors");
  EXPECT_EQ(m.architecture(), "llama");
  EXPECT_EQ(m.metadata.get_int("llama.block_count"), 1);
  EXPECT_EQ(m.metadata.get_int("llama.embedding_length"), E);
  EXPECT_EQ(m.metadata.get_int("llama.rope.dimension_count"), d);
  EXPECT_EQ(m.metadata.find("llama.block_count")->type, ValueType::U32);
  EXPECT_FLOAT_EQ(static_cast<float>(*m.metadata.get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
  const TensorInfo* q = m.find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->ne[0], E);
  EXPECT_EQ(q->ne[1], H * d);
  // GGUF row 2i of head h = HF row i; row 2i+1 = HF row i + d/2 (values encode HF position).
  const float* qv = reinterpret_cast<const float*>(q->data.data());
  const float* hfq = store[2].data();
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < d / 2; ++i) {
      EXPECT_EQ(qv[(h * d + 2 * i) * E], hfq[(h * d + i) * E]);
      EXPECT_EQ(qv[(h * d + 2 * i + 1) * E], hfq[(h * d + i + d / 2) * E]);
    }
  EXPECT_NE(m.find_tensor("output.weight"), nullptr);
  EXPECT_NE(m.find_tensor("blk.0.ffn_norm.weight"), nullptr);

  // Written back in HF form, the permutation is undone exactly.
  const std::string again = lt::scratch_dir() + "/again";
  save_model(m, again);
  SafetensorsSet back = read_safetensors_files({again + "/model.safetensors"});
  for (const auto& t : tensors) {
    const TensorInfo* b = back.model.find_tensor(t.name);
    ASSERT_NE(b, nullptr) << t.name;
    ASSERT_EQ(b->data.size(), t.data.size());
    EXPECT_EQ(0, std::memcmp(b->data.data(), t.data.data(), t.data.size())) << t.name;
  }
}

TEST(HfMapping, UnsupportedInputsGiveClearErrors) {
  const std::string dir = lt::scratch_dir() + "/bad";
  fs::create_directories(dir);
  std::vector<std::byte> buf(16);
  write_safetensors_file(dir + "/model.safetensors", {{"model.layers.0.weird.weight", GgmlType::F32, {4}, buf}}, {});
  lt::write_file(dir + "/config.json", R"({"architectures":["GPT2LMHeadModel"],"model_type":"gpt2"})");
  try {
    load_model(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported architecture 'GPT2LMHeadModel'"), std::string::npos) << e.what();
  }
  lt::write_file(dir + "/config.json",
                 R"({"architectures":["LlamaForCausalLM"],"hidden_size":4,"num_hidden_layers":1,)"
                 R"("num_attention_heads":1,"rms_norm_eps":1e-5})");
  try {
    load_model(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'model.layers.0.weird.weight' has no GGUF equivalent"), std::string::npos)
        << e.what();
  }
  lt::write_file(dir + "/config.json", R"({"architectures":["LlamaForCausalLM"]})");
  EXPECT_THROW(load_model(dir), Error);
}
