// The MoE (qwen3moe) and hybrid linear-attention (qwen35) engine paths against llama.cpp's
// goldens (fixtures/golden, exact profile: F32 KV cache, flash attention off), including layer
// plans that duplicate and delete DeltaNet and attention layers. Method and tolerances as
// tests/golden_dense_test.cpp; see docs/hybrid.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <span>
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

auto test_name = [](const auto& info) {
  std::string name = info.param.golden;
  for (char& ch : name)
    if (ch == '-' || ch == '.') ch = '_';
  return name;
};

// --- F32 math vs F32 goldens: max |d| <= 1e-3, top-10 ids equal, all greedy ids equal ---------

struct ExactCase {
  std::string file;       // fixture model
  std::string golden;     // golden set id
  std::vector<int> plan;  // empty: identity
};

class HybridExactGolden : public ::testing::TestWithParam<ExactCase> {};

TEST_P(HybridExactGolden, LogitsTop10AndGreedyMatch) {
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
    Hybrid, HybridExactGolden,
    ::testing::Values(ExactCase{"qwen3moe-f16.gguf", "qwen3moe-f32", {}},
                      ExactCase{"qwen35-f16.gguf", "qwen35-f32", {}},
                      ExactCase{"qwen35-f16.gguf", "qwen35-f32.dup_2_3", {0, 1, 2, 3, 2, 3, 4, 5, 6, 7}},
                      ExactCase{"qwen35-f16.gguf", "qwen35-f32.del_5", {0, 1, 2, 3, 4, 6, 7}},
                      ExactCase{"qwen35-f16.gguf", "qwen35-f32.dup_3", {0, 1, 2, 3, 3, 4, 5, 6, 7}}),
    test_name);

// --- F16 files in ggml mode vs their own golden: max |d| and top-1 ----------------------------

struct HalfCase {
  std::string file;
  std::string golden;
  std::vector<int> plan;
  double max_abs;
};

// Our argmax equals the golden's, except at a near tie: when the golden's two best logits are
// closer than kNearTie, either is accepted. (F16 activation rounding flips at ~1e-7 upstream
// differences and moves logits by ~1e-2; llama.cpp's own F16 and F32 runs of qwen35-f16.dup_3
// p3 already move that gap by 0.006.)
constexpr double kNearTie = 0.02;

void expect_same_top1(std::span<const float> ours, const std::vector<float>& golden) {
  const int32_t want = argmax(golden), got = argmax(ours);
  if (got == want) return;
  const std::vector<int32_t> top2 = top_k_ids(golden, 2);
  const double gap = golden[static_cast<size_t>(top2[0])] - golden[static_cast<size_t>(top2[1])];
  EXPECT_TRUE(got == top2[1] && gap < kNearTie)
      << "argmax " << got << ", golden argmax " << want << " (golden top-2 gap " << gap << ")";
  if (got == top2[1] && gap < kNearTie)
    std::printf("[measured] near tie accepted: argmax %d vs golden %d, golden gap %.4f\n", got, want, gap);
}

class HybridHalfGolden : public ::testing::TestWithParam<HalfCase> {};

TEST_P(HybridHalfGolden, LogitsCloseAndTop1Equal) {
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
    expect_same_top1(ours, cases[s].logits);
  }
  report(p.golden + " (ggml)", worst);
}

// qwen35 is the most sensitive fixture (fixtures README 4.3: F16 vs F32 twin differs by 0.10).
INSTANTIATE_TEST_SUITE_P(
    Hybrid, HybridHalfGolden,
    ::testing::Values(HalfCase{"qwen3moe-f16.gguf", "qwen3moe-f16", {}, 0.05},
                      HalfCase{"qwen35-f16.gguf", "qwen35-f16", {}, 0.15},
                      HalfCase{"qwen35-f16.gguf", "qwen35-f16.dup_2_3", {0, 1, 2, 3, 2, 3, 4, 5, 6, 7}, 0.15},
                      HalfCase{"qwen35-f16.gguf", "qwen35-f16.del_5", {0, 1, 2, 3, 4, 6, 7}, 0.15},
                      HalfCase{"qwen35-f16.gguf", "qwen35-f16.dup_3", {0, 1, 2, 3, 3, 4, 5, 6, 7}, 0.15}),
    test_name);

}  // namespace
}  // namespace layerlab
