// `layerlab apply` end to end: GGUF and safetensors outputs, llama.cpp-loadable metadata,
// in-memory plan logits equal to logits of the materialized file, clean refusals.
#include <gtest/gtest.h>

#include <filesystem>

#include "layerlab/io/gguf_reader.h"
#include "layerlab/io/model_loader.h"
#include "layerlab/model/config.h"
#include "layerlab/runtime/engine.h"
#include "test_support.h"

using namespace layerlab;
namespace t = layerlab::testing;
namespace fs = std::filesystem;

namespace {

std::vector<float> last_logits(const ModelFile& file, const Plan& plan) {
  ModelConfig cfg = read_model_config(file);
  EngineOptions options;
  options.threads = 2;
  options.plan = plan;
  Engine engine(file, cfg, options);
  const Logits& l = engine.prefill({{1, 282, 375, 445, 470}});
  auto row = l.last(0);
  return {row.begin(), row.end()};
}

}  // namespace

TEST(ApplyCli, InMemoryPlanEqualsMaterializedFileExactly) {
  for (const char* file : {"llama-f16.gguf", "llama-q4_k_m.gguf", "qwen3-f16.gguf"}) {
    std::string out = t::scratch_dir() + "/dup.gguf";
    auto r = t::run_cli({"apply", t::fixture_model(file), "--plan", "dup:2,4", "-o", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ModelFile base = read_gguf(t::fixture_model(file));
    ModelFile materialized = read_gguf(out);
    std::vector<float> in_memory = last_logits(base, Plan::from_layers({0, 1, 2, 3, 2, 3, 4, 5}));
    std::vector<float> on_disk = last_logits(materialized, Plan{});
    ASSERT_EQ(in_memory.size(), on_disk.size());
    for (size_t i = 0; i < in_memory.size(); ++i) ASSERT_EQ(in_memory[i], on_disk[i]) << file << " logit " << i;
  }
}

TEST(ApplyCli, SafetensorsOutputRewritesLayerCount) {
  std::string out = t::scratch_dir() + "/del3";
  auto r = t::run_cli({"apply", t::fixture_model("qwen3-f16.gguf"), "--plan", "del:3", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(fs::exists(out + "/config.json"));
  std::string config = t::read_file(out + "/config.json");
  EXPECT_NE(config.find("\"num_hidden_layers\": 5"), std::string::npos) << config;
  ModelFile back = load_model(out);
  EXPECT_EQ(read_model_config(back).n_layer, 5);
}

TEST(ApplyCli, QuantizedToSafetensorsNeedsDequantize) {
  std::string out = t::scratch_dir() + "/q";
  auto r = t::run_cli({"apply", t::fixture_model("llama-q8_0.gguf"), "--plan", "del:3", "-o", out});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_NE(r.err.find("Q8_0"), std::string::npos) << r.err;
  r = t::run_cli({"apply", t::fixture_model("llama-q8_0.gguf"), "--plan", "del:3", "-o", out, "--dequantize"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(ApplyCli, BadPlansAndTransplantsAreRefusedWithoutOutput) {
  std::string dir = t::scratch_dir();
  struct Case {
    std::vector<std::string> extra;
    std::string expect;
  } cases[] = {
      {{"--plan", "0-3,2-9"}, "column 5: '2-9': layer 9 is out of range"},
      {{"--plan", "0,donor:1"}, "no --donor was given"},
      {{"--plan", "dup:4,2"}, "J must be greater"},
      {{"--plan", "0-1,donor:2-3,4-5", "--donor", t::fixture_model("qwen3-f16.gguf")}, "architecture: host llama != donor qwen3"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"apply", t::fixture_model("llama-f16.gguf"), "-o", dir + "/x.gguf"};
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    auto r = t::run_cli(args);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir + "/x.gguf"));
  }
  EXPECT_TRUE(fs::is_empty(dir)) << "no temporary files left behind";
}

TEST(ApplyCli, TransplantOfEqualShapesAndMergekitExport) {
  std::string dir = t::scratch_dir();
  auto r = t::run_cli({"apply", t::fixture_model("llama-f16.gguf"), "--plan", "0-1,donor:2-3,4-5", "--donor",
                       t::fixture_model("llama-q8_0.gguf"), "-o", dir + "/t.gguf", "--export-mergekit", dir + "/t.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ModelFile out = read_gguf(dir + "/t.gguf");
  EXPECT_EQ(out.find_tensor("blk.3.ffn_up.weight")->type, GgmlType::Q8_0);
  // The exported YAML is a plan again: applying it reproduces the same tensors.
  r = t::run_cli({"apply", t::fixture_model("llama-f16.gguf"), "--plan", dir + "/t.yaml", "--donor",
                  t::fixture_model("llama-q8_0.gguf"), "-o", dir + "/t2.gguf"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ModelFile again = read_gguf(dir + "/t2.gguf");
  ASSERT_EQ(again.tensors.size(), out.tensors.size());
  for (size_t i = 0; i < out.tensors.size(); ++i) {
    EXPECT_EQ(again.tensors[i].name, out.tensors[i].name);
    EXPECT_EQ(again.tensors[i].type, out.tensors[i].type);
  }
}

TEST(ApplyCli, HybridSafetensorsGetsLayerTypes) {
  std::string out = t::scratch_dir() + "/q35";
  auto r = t::run_cli({"apply", t::fixture_model("qwen35-f16.gguf"), "--plan", "dup:2,4", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string config = t::read_file(out + "/config.json");
  // Slots 3, 5 and 9 run full attention (fixtures README §2); the interval rule would say 3 and 7.
  EXPECT_NE(config.find("\"num_hidden_layers\": 10"), std::string::npos) << config;
  EXPECT_NE(config.find("\"layer_types\""), std::string::npos) << config;
  ModelConfig cfg = read_model_config(load_model(out));
  std::vector<int> full;
  for (int j = 0; j < cfg.n_layer; ++j)
    if (cfg.layers[static_cast<size_t>(j)].mixer == MixerKind::kAttention) full.push_back(j);
  EXPECT_EQ(full, (std::vector<int>{3, 5, 9}));
}
