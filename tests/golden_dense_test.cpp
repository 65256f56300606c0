// The dense engine against llama.cpp's goldens (fixtures/golden, exact profile: F32 KV cache,
// flash attention off). What is compared, and why these tolerances: docs/engine.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "layerlab/eval/compare.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/model/config.h"
#include "layerlab/runtime/engine.h"
#include "test_support.h"

namespace layerlab {
namespace {

using Json = nlohmann::json;
using TopK = std::vector<std::pair<int32_t, float>>;
constexpr int kThreads = 2;

struct GoldenCase {
  std::string id;
  std::vector<int32_t> prompt;
  std::vector<float> logits;            // last prompt position
  std::vector<int32_t> greedy;          // 24 ids
  std::vector<TopK> step_top10;         // distribution before choosing greedy[i]
};

TopK read_top_k(const Json& j) {
  TopK out;
  for (const Json& e : j) out.emplace_back(e[0].get<int32_t>(), e[1].get<float>());
  return out;
}

std::vector<float> read_logits(const std::string& path) {
  const std::string bytes = testing::read_file(path);
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// Every case of golden set `model_id` listed in golden/index.json.
std::vector<GoldenCase> load_golden(const std::string& model_id) {
  const std::string dir = testing::fixture_path("golden/");
  const Json index = Json::parse(testing::read_file(dir + "index.json"));
  std::vector<GoldenCase> cases;
  for (const Json& id : index.at("models").at(model_id).at("cases")) {
    const std::string base = dir + model_id + "/" + id.get<std::string>();
    const Json j = Json::parse(testing::read_file(base + ".json"));
    GoldenCase c;
    c.id = id.get<std::string>();
    c.prompt = j.at("prompt_tokens").get<std::vector<int32_t>>();
    c.logits = read_logits(dir + model_id + "/" + j.at("logits_file").get<std::string>());
    c.greedy = j.at("greedy").at("ids").get<std::vector<int32_t>>();
    for (const Json& step : j.at("greedy").at("step_top10")) c.step_top10.push_back(read_top_k(step));
    EXPECT_EQ(c.logits.size(), j.at("n_vocab").get<size_t>()) << base;
    cases.push_back(std::move(c));
  }
  EXPECT_FALSE(cases.empty()) << model_id;
  return cases;
}

struct LoadedModel {
  ModelFile file;
  ModelConfig config;
};

// Models are read once per test process.
const LoadedModel& model(const std::string& file_name) {
  static std::map<std::string, std::unique_ptr<LoadedModel>> cache;
  auto& slot = cache[file_name];
  if (!slot) {
    slot = std::make_unique<LoadedModel>();
    slot->file = read_gguf(testing::fixture_model(file_name));
    slot->config = read_model_config(slot->file);
  }
  return *slot;
}

std::unique_ptr<Engine> make_engine(const std::string& file_name, ActivationMode mode,
                                    const std::vector<int>& plan = {}) {
  const LoadedModel& m = model(file_name);
  EngineOptions opt;
  opt.threads = kThreads;
  opt.mode = mode;
  opt.plan = Plan::from_layers(plan);
  return std::make_unique<Engine>(m.file, m.config, opt);
}

// One line per test with the worst values seen, for docs/engine.md.
void report(const std::string& what, double worst_abs, double worst_kl = -1.0) {
  if (worst_kl >= 0)
    std::printf("[measured] %s: max |d| %.3g, max KL %.3g\n", what.c_str(), worst_abs, worst_kl);
  else
    std::printf("[measured] %s: max |d| %.3g\n", what.c_str(), worst_abs);
}

std::vector<std::vector<int32_t>> prompts(const std::vector<GoldenCase>& cases) {
  std::vector<std::vector<int32_t>> out;
  for (const GoldenCase& c : cases) out.push_back(c.prompt);
  return out;
}

// Per case: the prompt logits and the free-running greedy continuation (all cases batched).
struct GreedyRun {
  std::vector<std::vector<float>> prompt_logits;
  std::vector<std::vector<int32_t>> ids;
};

GreedyRun run_greedy(Engine& engine, const std::vector<GoldenCase>& cases, size_t n_steps) {
  GreedyRun run;
  const Logits* logits = &engine.prefill(prompts(cases));
  for (size_t s = 0; s < cases.size(); ++s) {
    auto last = logits->last(static_cast<int>(s));
    run.prompt_logits.emplace_back(last.begin(), last.end());
  }
  run.ids.resize(cases.size());
  std::vector<int32_t> step(cases.size());
  for (size_t i = 0; i < n_steps; ++i) {
    for (size_t s = 0; s < cases.size(); ++s) {
      step[s] = argmax(logits->last(static_cast<int>(s)));
      run.ids[s].push_back(step[s]);
    }
    if (i + 1 < n_steps) logits = &engine.decode(step);
  }
  return run;
}

// Per case and step: our logits given the prompt and the golden ids before that step.
std::vector<std::vector<std::vector<float>>> run_teacher_forced(Engine& engine,
                                                                const std::vector<GoldenCase>& cases) {
  const size_t n_steps = cases.front().step_top10.size();
  std::vector<std::vector<std::vector<float>>> out(cases.size());
  const Logits* logits = &engine.prefill(prompts(cases));
  std::vector<int32_t> step(cases.size());
  for (size_t i = 0; i < n_steps; ++i) {
    for (size_t s = 0; s < cases.size(); ++s) {
      auto row = logits->last(static_cast<int>(s));
      out[s].emplace_back(row.begin(), row.end());
      step[s] = cases[s].greedy[i];
    }
    if (i + 1 < n_steps) logits = &engine.decode(step);
  }
  return out;
}

// --- F32 math vs F32 goldens: max |d| <= 1e-3, top-10 ids equal, all greedy ids equal ---------

struct ExactCase {
  std::string file;       // fixture model
  std::string golden;     // golden set id
  std::vector<int> plan;  // empty: identity
};

class ExactGolden : public ::testing::TestWithParam<ExactCase> {};

TEST_P(ExactGolden, LogitsTop10AndGreedyMatch) {
  const ExactCase& p = GetParam();
  const std::vector<GoldenCase> cases = load_golden(p.golden);
  auto engine = make_engine(p.file, ActivationMode::kExact, p.plan);
  const GreedyRun run = run_greedy(*engine, cases, cases.front().greedy.size());
  double worst = 0;
  for (size_t s = 0; s < cases.size(); ++s) {
    const GoldenCase& c = cases[s];
    SCOPED_TRACE(p.golden + "/" + c.id);
    worst = std::max(worst, max_abs_diff(run.prompt_logits[s], c.logits));
    EXPECT_LE(max_abs_diff(run.prompt_logits[s], c.logits), 1e-3);
    EXPECT_EQ(top_k_ids(run.prompt_logits[s], 10), top_k_ids(c.logits, 10));
    EXPECT_EQ(run.ids[s], c.greedy);
  }
  report(p.golden + " (exact)", worst);
}

INSTANTIATE_TEST_SUITE_P(
    Dense, ExactGolden,
    ::testing::Values(ExactCase{"llama-f16.gguf", "llama-f32", {}},
                      ExactCase{"qwen2-f16.gguf", "qwen2-f32", {}},
                      ExactCase{"qwen3-f16.gguf", "qwen3-f32", {}},
                      ExactCase{"stories260K.gguf", "stories260K", {}},
                      ExactCase{"llama-f16.gguf", "llama-f32.dup_2_3", {0, 1, 2, 3, 2, 3, 4, 5}},
                      ExactCase{"llama-f16.gguf", "llama-f32.del_3", {0, 1, 2, 4, 5}},
                      ExactCase{"qwen3-f16.gguf", "qwen3-f32.dup_2_3", {0, 1, 2, 3, 2, 3, 4, 5}},
                      ExactCase{"qwen3-f16.gguf", "qwen3-f32.del_3", {0, 1, 2, 4, 5}}),
    [](const auto& info) {
      std::string name = info.param.golden;
      for (char& ch : name)
        if (ch == '-' || ch == '.') ch = '_';
      return name;
    });

// --- F16 / BF16 files in ggml mode vs their own golden: max |d| and top-1 ---------------------

struct HalfCase {
  std::string file;
  std::string golden;
  std::vector<int> plan;
  double max_abs;
};

class HalfGolden : public ::testing::TestWithParam<HalfCase> {};

TEST_P(HalfGolden, LogitsCloseAndTop1Equal) {
  const HalfCase& p = GetParam();
  const std::vector<GoldenCase> cases = load_golden(p.golden);
  auto engine = make_engine(p.file, ActivationMode::kGgml, p.plan);
  const Logits& logits = engine->prefill(prompts(cases));
  double worst = 0;
  for (size_t s = 0; s < cases.size(); ++s) {
    SCOPED_TRACE(p.golden + "/" + cases[s].id);
    auto ours = logits.last(static_cast<int>(s));
    worst = std::max(worst, max_abs_diff(ours, cases[s].logits));
    EXPECT_LE(max_abs_diff(ours, cases[s].logits), p.max_abs);
    EXPECT_EQ(argmax(ours), argmax(cases[s].logits));
  }
  report(p.golden + " (ggml)", worst);
}

INSTANTIATE_TEST_SUITE_P(
    Dense, HalfGolden,
    ::testing::Values(HalfCase{"llama-f16.gguf", "llama-f16", {}, 0.05},
                      HalfCase{"qwen2-f16.gguf", "qwen2-f16", {}, 0.05},
                      HalfCase{"qwen3-f16.gguf", "qwen3-f16", {}, 0.05},
                      HalfCase{"llama-bf16.gguf", "llama-bf16", {}, 0.4},
                      HalfCase{"llama-f16.gguf", "llama-f16.dup_2_3", {0, 1, 2, 3, 2, 3, 4, 5}, 0.05},
                      HalfCase{"llama-f16.gguf", "llama-f16.del_3", {0, 1, 2, 4, 5}, 0.05},
                      HalfCase{"qwen3-f16.gguf", "qwen3-f16.dup_2_3", {0, 1, 2, 3, 2, 3, 4, 5}, 0.05},
                      HalfCase{"qwen3-f16.gguf", "qwen3-f16.del_3", {0, 1, 2, 4, 5}, 0.05}),
    [](const auto& info) {
      std::string name = info.param.golden;
      for (char& ch : name)
        if (ch == '-' || ch == '.') ch = '_';
      return name;
    });

// --- Block-quantized llama files -------------------------------------------------------------

class QuantGolden : public ::testing::TestWithParam<std::string> {};

// kExact reproduces llama.cpp run on the exactly dequantized weights.
TEST_P(QuantGolden, ExactModeMatchesDequantizedF32) {
  const std::string q = GetParam();
  const std::vector<GoldenCase> cases = load_golden("llama-" + q + "-dequant-f32");
  auto engine = make_engine("llama-" + q + ".gguf", ActivationMode::kExact);
  const Logits& logits = engine->prefill(prompts(cases));
  double worst = 0;
  for (size_t s = 0; s < cases.size(); ++s) {
    SCOPED_TRACE(q + "/" + cases[s].id);
    worst = std::max(worst, max_abs_diff(logits.last(static_cast<int>(s)), cases[s].logits));
    EXPECT_LE(max_abs_diff(logits.last(static_cast<int>(s)), cases[s].logits), 1e-3);
  }
  report("llama-" + q + "-dequant-f32 (exact)", worst);
}

// kGgml follows the file's own golden at the distribution level, prompt and teacher-forced steps.
void check_ggml_against_own_golden(const std::string& file, const std::string& golden,
                                   const std::vector<int>& plan) {
  const std::vector<GoldenCase> cases = load_golden(golden);
  auto engine = make_engine(file, ActivationMode::kGgml, plan);
  const auto steps = run_teacher_forced(*engine, cases);
  int n_steps = 0, n_top1 = 0;
  double worst_abs = 0, worst_kl = 0, worst_step_kl = 0;
  for (size_t s = 0; s < cases.size(); ++s) {
    const GoldenCase& c = cases[s];
    SCOPED_TRACE(golden + "/" + c.id);
    worst_abs = std::max(worst_abs, max_abs_diff(steps[s][0], c.logits));
    worst_kl = std::max(worst_kl, kl_divergence(c.logits, steps[s][0]));
    EXPECT_LE(kl_divergence(c.logits, steps[s][0]), 0.06);
    EXPECT_LE(max_abs_diff(steps[s][0], c.logits), 1.5);
    for (size_t i = 0; i < c.step_top10.size(); ++i) {
      const double kl = kl_divergence_on_support(c.step_top10[i], steps[s][i]);
      worst_step_kl = std::max(worst_step_kl, kl);
      EXPECT_LE(kl, 0.06) << "step " << i;
      ++n_steps;
      n_top1 += argmax(steps[s][i]) == c.step_top10[i].front().first;
    }
  }
  std::printf("[measured] %s (ggml): prompt max |d| %.3g, prompt KL %.3g, worst step KL %.3g, "
              "top-1 equal %d/%d\n", golden.c_str(), worst_abs, worst_kl, worst_step_kl, n_top1, n_steps);
  EXPECT_GE(n_top1, 0.95 * n_steps) << golden << ": top-1 equal at " << n_top1 << " of " << n_steps
                                    << " teacher-forced steps";
}

TEST_P(QuantGolden, GgmlModeFollowsOwnGolden) {
  const std::string q = GetParam();
  check_ggml_against_own_golden("llama-" + q + ".gguf", "llama-" + q, {});
}

INSTANTIATE_TEST_SUITE_P(Llama, QuantGolden,
                         ::testing::Values("q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k_m",
                                           "q4_k_m", "q5_k_m", "q6_k"),
                         [](const auto& info) { return info.param; });

TEST(QuantPlanGolden, Q4KDuplicatedAndDeletedLayers) {
  check_ggml_against_own_golden("llama-q4_k_m.gguf", "llama-q4_k_m.dup_2_3", {0, 1, 2, 3, 2, 3, 4, 5});
  check_ggml_against_own_golden("llama-q4_k_m.gguf", "llama-q4_k_m.del_3", {0, 1, 2, 4, 5});
}

}  // namespace
}  // namespace layerlab
