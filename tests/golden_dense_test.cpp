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
#include "golden_support.h"
#include "test_support.h"

namespace layerlab {
namespace {

using namespace golden;
using Json = nlohmann::json;

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
