// Scans reuse the baseline's residual stream for the slots a configuration shares with it:
// Engine::prefill_slots + Engine::prefill_from must equal a full prefill bit for bit, for the
// dense, MoE and hybrid families.
#include <gtest/gtest.h>

#include "layerlab/io/error.h"
#include "layerlab/io/model_loader.h"
#include "layerlab/model/config.h"
#include "layerlab/plan/plan.h"
#include "layerlab/runtime/engine.h"
#include "test_support.h"

namespace layerlab {
namespace {

void expect_prefix_resume_exact(const std::string& model, const std::string& plan_text, int boundary) {
  const ModelFile file = load_model(testing::fixture_model(model));
  const ModelConfig config = read_model_config(file);
  const Plan plan = parse_plan(plan_text, {config.n_layer, {}});
  const std::vector<std::vector<int32_t>> seqs = {{1, 5, 9, 12, 40, 7, 3}, {1, 22, 8}, {1, 30, 31, 32, 33}};

  EngineOptions full_opt;
  full_opt.plan = plan;
  full_opt.threads = 2;
  Engine full(file, config, full_opt);
  const Logits& want = full.prefill(seqs, /*all_positions=*/true);
  std::vector<float> expected;
  for (int s = 0; s < want.n_sequences(); ++s)
    for (int64_t i = 0; i < want.n_rows(s); ++i) expected.insert(expected.end(), want.row(s, i).begin(), want.row(s, i).end());

  // The baseline computes the shared slots in two steps (as a scan advances its boundary).
  EngineOptions base_opt;
  base_opt.threads = 2;
  Engine baseline(file, config, base_opt);
  std::vector<float> x;
  baseline.prefill_slots(seqs, 0, boundary / 2, x);
  baseline.prefill_slots(seqs, boundary / 2, boundary, x);
  EXPECT_EQ(x.size(), 15u * static_cast<size_t>(config.n_embd));

  EngineOptions resume_opt = full_opt;
  Engine resumed(file, config, resume_opt);
  const Logits& got = resumed.prefill_from(seqs, boundary, x, /*all_positions=*/true);
  std::vector<float> actual;
  for (int s = 0; s < got.n_sequences(); ++s)
    for (int64_t i = 0; i < got.n_rows(s); ++i) actual.insert(actual.end(), got.row(s, i).begin(), got.row(s, i).end());
  ASSERT_EQ(actual.size(), expected.size());
  EXPECT_EQ(actual, expected) << model << " " << plan_text;

  // Those sequences cannot continue (the skipped slots hold no cache) until a reset.
  const int32_t next[3] = {4, 4, 4};
  EXPECT_THROW(resumed.decode(next), Error);
  resumed.reset();
  EXPECT_NO_THROW(resumed.prefill(seqs));
  // A residual stream of the wrong size is refused.
  std::vector<float> short_x(x.begin(), x.end() - 1);
  EXPECT_THROW(resumed.prefill_from(seqs, boundary, short_x), Error);
}

TEST(SharedPrefix, DenseDuplicationResumesExactly) {
  expect_prefix_resume_exact("organism.gguf", "dup:6,9", 9);
  expect_prefix_resume_exact("llama-q8_0.gguf", "del:3", 3);
}

TEST(SharedPrefix, MoeAndHybridResumeExactly) {
  expect_prefix_resume_exact("qwen3moe-f16.gguf", "dup:1,2", 2);
  expect_prefix_resume_exact("qwen35-f16.gguf", "dup:2,6", 6);  // crosses a full-attention layer
}

}  // namespace
}  // namespace layerlab
