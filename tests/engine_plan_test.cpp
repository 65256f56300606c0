// Plans in the engine: transplants from donor models, damped repeats, and the weight-byte
// accounting that shows a plan adds no weights.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include "layerlab/io/gguf_reader.h"
#include "layerlab/model/config.h"
#include "layerlab/plan/materialize.h"
#include "layerlab/runtime/engine.h"
#include "test_support.h"

using namespace layerlab;
namespace t = layerlab::testing;

namespace {

const std::vector<std::vector<int32_t>> kPrompt = {{1, 282, 375, 445, 470}};

std::vector<float> logits_of(const ModelFile& file, Plan plan, std::vector<const ModelFile*> donors = {}) {
  EngineOptions opt;
  opt.threads = 2;
  opt.mode = ActivationMode::kExact;
  opt.plan = std::move(plan);
  opt.donors = std::move(donors);
  Engine engine(file, read_model_config(file), opt);
  auto row = engine.prefill(kPrompt).last(0);
  return {row.begin(), row.end()};
}

}  // namespace

TEST(EnginePlan, TransplantFromEqualDonorEqualsMaterializedFile) {
  // A transplant run in memory equals the same transplant written to disk and run as trained.
  ModelFile host = read_gguf(t::fixture_model("llama-f16.gguf"));
  ModelFile donor = read_gguf(t::fixture_model("llama-q8_0.gguf"));
  Plan plan = parse_plan("0-1,donor:2-3,4-5", PlanLimits{6, {6}});
  std::vector<float> in_memory = logits_of(host, plan, {&donor});
  ModelFile materialized = materialize_plan(MaterializeInput{&host, {&donor}, "x"}, plan);
  std::vector<float> on_disk = logits_of(materialized, Plan{});
  EXPECT_EQ(in_memory, on_disk);
  EXPECT_NE(in_memory, logits_of(host, Plan{}));  // the donor layers did change the result
}

TEST(EnginePlan, ShapeMismatchedDonorIsRefused) {
  ModelFile host = read_gguf(t::fixture_model("llama-f16.gguf"));
  ModelFile donor = read_gguf(t::fixture_model("stories260K.gguf"));
  EngineOptions opt;
  opt.plan = parse_plan("0,donor:1,2-5", PlanLimits{6, {5}});
  opt.donors = {&donor};
  try {
    Engine engine(host, read_model_config(host), opt);
    FAIL() << "expected a refusal";
  } catch (const PlanError& e) {
    EXPECT_NE(std::string(e.what()).find("width (embedding_length): host 256 != donor 64"), std::string::npos) << e.what();
  }
  opt.donors.clear();
  EXPECT_THROW(Engine(host, read_model_config(host), opt), PlanError);  // names a donor that is missing
}

TEST(EnginePlan, RepeatScaleOneIsPlainRepetitionAndZeroSkipsTheRepeat) {
  ModelFile host = read_gguf(t::fixture_model("llama-f16.gguf"));
  Plan dup = parse_plan("dup:2,4", PlanLimits{6, {}});
  std::vector<float> plain = logits_of(host, dup);
  Plan one = dup;
  one.repeat_scale = 1.0f;
  EXPECT_EQ(logits_of(host, one), plain);
  // With scale 0 the second pass adds nothing to the residual stream: the base model's logits.
  Plan zero = dup;
  zero.repeat_scale = 0.0f;
  std::vector<float> base = logits_of(host, Plan{});
  std::vector<float> damped0 = logits_of(host, zero);
  ASSERT_EQ(base.size(), damped0.size());
  for (size_t i = 0; i < base.size(); ++i) EXPECT_NEAR(damped0[i], base[i], 1e-5f);
  // In between, the result moves away from the base as the scale grows.
  Plan half = dup;
  half.repeat_scale = 0.5f;
  std::vector<float> damped = logits_of(host, half);
  double d_half = 0, d_full = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    d_half += std::abs(damped[i] - base[i]);
    d_full += std::abs(plain[i] - base[i]);
  }
  EXPECT_GT(d_half, 0.0);
  EXPECT_LT(d_half, d_full);
}

TEST(EnginePlan, RepeatedLayersAddNoWeightBytes) {
  // Every weight byte the engine reads is accounted for: a plan that runs 30 slots over 6 layers
  // reads exactly the bytes of the model as trained, all of them views of the file mapping,
  // and only the KV cache grows with the number of slots.
  ModelFile host = read_gguf(t::fixture_model("llama-q8_0.gguf"));
  uint64_t tensor_bytes = 0;
  for (const auto& tensor : host.tensors) tensor_bytes += tensor.data.size();
  auto account = [&](const char* plan_text) {
    EngineOptions opt;
    opt.threads = 1;
    opt.n_ctx = 64;
    opt.plan = parse_plan(plan_text, PlanLimits{6, {}});
    Engine engine(host, read_model_config(host), opt);
    engine.prefill(kPrompt);
    return engine.memory_account();
  };
  MemoryAccount base = account("all");
  MemoryAccount looped = account("dup:0,6,x4");  // 30 slots
  EXPECT_EQ(base.weight_bytes, tensor_bytes);
  EXPECT_EQ(looped.weight_bytes, tensor_bytes);
  EXPECT_EQ(looped.weight_bytes_mapped, tensor_bytes);
  EXPECT_EQ(looped.weight_bytes_owned, 0u);
  EXPECT_EQ(looped.distinct_layers, 6);
  EXPECT_EQ(looped.kv_cache_bytes, 5 * base.kv_cache_bytes);  // one cache per slot
  MemoryAccount deleted = account("del:2-3");
  EXPECT_LT(deleted.weight_bytes, tensor_bytes);
}

TEST(EnginePlan, CommandLineTakesDonorsAndRepeatScale) {
  const std::string dir = t::scratch_dir();
  auto logits = [&](std::vector<std::string> extra, const std::string& out) {
    std::vector<std::string> args = {"logits", "--model", t::fixture_model("llama-f16.gguf"), "--tokens",
                                     "1,282,375,445,470", "--exact", "--threads", "2", "-o", dir + "/" + out};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = t::run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return t::read_file(dir + "/" + out);
  };
  const std::string base = logits({}, "base.bin");
  EXPECT_NE(logits({"--plan", "dup:2,4"}, "dup.bin"), base);
  EXPECT_NE(logits({"--plan", "0-1,donor:2-3,4-5", "--donor", t::fixture_model("llama-q8_0.gguf")}, "t.bin"), base);
  auto r = t::run_cli({"logits", "--model", t::fixture_model("llama-f16.gguf"), "--tokens", "1,2", "--plan",
                       "0,donor:1", "--donor", t::fixture_model("qwen3-f16.gguf")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("architecture: host llama != donor qwen3"), std::string::npos) << r.err;
}
