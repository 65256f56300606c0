// Materializing plans: tensors renumbered byte for byte, per-layer metadata remapped,
// hybrid layer kinds written explicitly, transplants checked.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "layerlab/io/gguf_reader.h"
#include "layerlab/io/gguf_writer.h"
#include "layerlab/model/config.h"
#include "layerlab/plan/materialize.h"
#include "layerlab/plan/transplant_check.h"
#include "test_support.h"

using namespace layerlab;
namespace t = layerlab::testing;

namespace {

bool same_bytes(const TensorInfo& a, const TensorInfo& b) {
  return a.type == b.type && a.ne == b.ne && a.data.size() == b.data.size() &&
         std::memcmp(a.data.data(), b.data.data(), a.data.size()) == 0;
}

ModelFile materialize_and_reload(const ModelFile& host, const Plan& plan, const std::string& out_path) {
  ModelFile m = materialize_plan(MaterializeInput{&host, {}, "base.gguf"}, plan);
  write_gguf(m, out_path);
  return read_gguf(out_path);
}

}  // namespace

TEST(Apply, DuplicationCopiesEveryTensorByteForByte) {
  for (const char* file : {"llama-f16.gguf", "llama-q4_k_m.gguf", "qwen3-f16.gguf"}) {
    ModelFile host = read_gguf(t::fixture_model(file));
    Plan plan = parse_plan("dup:2,4", PlanLimits{6, {}});
    ModelFile out = materialize_and_reload(host, plan, t::scratch_dir() + "/out.gguf");
    const std::string arch = host.architecture();
    EXPECT_EQ(out.metadata.get_int(arch + ".block_count"), 8);
    EXPECT_EQ(out.metadata.get_string("layerlab.plan"), "0-3,2-5");
    EXPECT_EQ(out.metadata.get_string("layerlab.source"), "base.gguf");
    const std::vector<int> src = {0, 1, 2, 3, 2, 3, 4, 5};
    size_t checked = 0;
    for (const auto& tensor : out.tensors) {
      std::string name = tensor.name;
      if (name.rfind("blk.", 0) == 0) {
        size_t dot = name.find('.', 4);
        int j = std::stoi(name.substr(4, dot - 4));
        name = "blk." + std::to_string(src[static_cast<size_t>(j)]) + name.substr(dot);
      }
      const TensorInfo* orig = host.find_tensor(name);
      ASSERT_NE(orig, nullptr) << tensor.name;
      EXPECT_TRUE(same_bytes(*orig, tensor)) << file << " " << tensor.name;
      ++checked;
    }
    size_t per_layer = 0;
    for (const auto& tensor : host.tensors) per_layer += tensor.name.rfind("blk.2.", 0) == 0;
    EXPECT_EQ(checked, host.tensors.size() + 2 * per_layer);  // two extra layers
    ModelConfig cfg = read_model_config(out);
    EXPECT_EQ(cfg.n_layer, 8);
  }
}

TEST(Apply, HybridModelGetsExplicitRecurrentLayers) {
  ModelFile host = read_gguf(t::fixture_model("qwen35-f16.gguf"));
  struct Case {
    const char* plan;
    std::vector<bool> flags;  // from the fixtures README §2
  } cases[] = {
      {"dup:2,4", {1, 1, 1, 0, 1, 0, 1, 1, 1, 0}},
      {"del:5", {1, 1, 1, 0, 1, 1, 0}},
      {"dup:3,4", {1, 1, 1, 0, 0, 1, 1, 1, 0}},
  };
  for (const auto& c : cases) {
    Plan plan = parse_plan(c.plan, PlanLimits{8, {}});
    ModelFile out = materialize_and_reload(host, plan, t::scratch_dir() + "/q35.gguf");
    const Value* flags = out.metadata.find("qwen35.attention.recurrent_layers");
    ASSERT_NE(flags, nullptr);
    EXPECT_EQ(flags->elem_type, ValueType::BOOL);
    ASSERT_EQ(flags->items.size(), c.flags.size()) << c.plan;
    ModelConfig cfg = read_model_config(out);
    for (size_t j = 0; j < c.flags.size(); ++j) {
      EXPECT_EQ(flags->items[j].u != 0, c.flags[j]) << c.plan << " slot " << j;
      EXPECT_EQ(cfg.layers[j].mixer == MixerKind::kLinearAttention, c.flags[j]) << c.plan << " slot " << j;
    }
    // Every linear-attention slot carries its conv weights; every attention slot its q projection.
    for (size_t j = 0; j < c.flags.size(); ++j) {
      std::string conv = "blk." + std::to_string(j) + ".ssm_conv1d.weight";
      EXPECT_EQ(out.find_tensor(conv) != nullptr, c.flags[j]) << conv;
    }
  }
}

TEST(Apply, PerLayerArraysAreRemapped) {
  ModelFile host = read_gguf(t::fixture_model("llama-f16.gguf"));
  std::vector<Value> heads;
  for (int l = 0; l < 6; ++l) heads.push_back(Value::u32(static_cast<uint32_t>(100 + l)));
  ModelFile edited = host;
  edited.metadata.set("llama.test_per_layer", Value::array(ValueType::U32, heads));
  ModelFile out = materialize_plan(MaterializeInput{&edited, {}, "x"}, parse_plan("del:1-2", PlanLimits{6, {}}));
  const Value* v = out.metadata.find("llama.test_per_layer");
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->items.size(), 4u);
  EXPECT_EQ(v->items[1].u, 103u);
  // A fixed-size array is never per layer, even when its length equals the block count.
  Value sections = Value::array(ValueType::I32, {Value::i32(1), Value::i32(2), Value::i32(3), Value::i32(4)});
  EXPECT_FALSE(is_per_layer_key("qwen35.rope.dimension_sections", sections, "qwen35", 4));
  EXPECT_TRUE(is_per_layer_key("qwen35.attention.head_count", sections, "qwen35", 4));
  EXPECT_FALSE(is_per_layer_key("general.something", sections, "qwen35", 4));
}

TEST(Apply, TransplantBetweenEqualShapesRunsAndUnequalIsRefused) {
  ModelFile llama = read_gguf(t::fixture_model("llama-f16.gguf"));
  ModelFile llama_q8 = read_gguf(t::fixture_model("llama-q8_0.gguf"));
  ModelFile qwen3 = read_gguf(t::fixture_model("qwen3-f16.gguf"));
  ModelConfig host = read_model_config(llama);
  Plan plan = parse_plan("0-1,donor:2-3,4-5", PlanLimits{6, {6}});
  EXPECT_NO_THROW(check_transplants(plan, host, {read_model_config(llama_q8)}));
  ModelFile out = materialize_plan(MaterializeInput{&llama, {&llama_q8}, "x"}, plan);
  EXPECT_EQ(out.find_tensor("blk.2.attn_q.weight")->type, GgmlType::Q8_0);
  EXPECT_EQ(out.find_tensor("blk.4.attn_q.weight")->type, GgmlType::F16);

  try {
    check_transplants(plan, host, {read_model_config(qwen3)});
    FAIL() << "expected a refusal";
  } catch (const PlanError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("architecture: host llama != donor qwen3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rope type"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rope base"), std::string::npos) << msg;
    EXPECT_NE(msg.find("norm epsilon"), std::string::npos) << msg;
  }
  ModelFile stories = read_gguf(t::fixture_model("stories260K.gguf"));
  EXPECT_THROW(check_transplants(parse_plan("0,donor:1", PlanLimits{6, {5}}), host, {read_model_config(stories)}), PlanError);
}

// The fixtures' goldens were made by running llama.cpp on files written by the fixtures' own
// materializer (shared/fixtures/tools/surgery.py). With that tool's provenance keys in place of
// layerlab's, apply writes the very same bytes: the files llama.cpp loaded.
TEST(Apply, ByteIdenticalToTheReferenceMaterializer) {
  struct Case {
    const char* file;
    const char* plan;
    std::vector<int> layers;
  } cases[] = {
      {"llama-f16.gguf", "dup:2,4", {0, 1, 2, 3, 2, 3, 4, 5}},
      {"llama-q4_k_m.gguf", "del:3", {0, 1, 2, 4, 5}},
      {"qwen35-f16.gguf", "dup:3,4", {0, 1, 2, 3, 3, 4, 5, 6, 7}},
  };
  for (const auto& c : cases) {
    const std::string dir = t::scratch_dir();
    std::string list;
    for (int l : c.layers) list += (list.empty() ? "" : ",") + std::to_string(l);
    const std::string ref = dir + "/ref.gguf";
    const std::string cmd = "/usr/bin/python3 " + t::fixture_path("tools/surgery.py") + " " + t::fixture_model(c.file) +
                            " " + ref + " " + list + " > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

    ModelFile host = read_gguf(t::fixture_model(c.file));
    Plan plan = parse_plan(c.plan, PlanLimits{read_model_config(host).n_layer, {}});
    ModelFile m = materialize_plan(MaterializeInput{&host, {}, c.file}, plan);
    m.metadata.erase("layerlab.plan");
    m.metadata.erase("layerlab.source");
    std::vector<Value> layers;
    for (int l : c.layers) layers.push_back(Value::i32(l));
    m.metadata.set("surgery.source_layers", Value::array(ValueType::I32, layers));
    m.metadata.set("surgery.source_file", Value::string(c.file));
    write_gguf(m, dir + "/ours.gguf");
    EXPECT_TRUE(t::read_file(ref) == t::read_file(dir + "/ours.gguf")) << c.file << " " << c.plan;
  }
}
