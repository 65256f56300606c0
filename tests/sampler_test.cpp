// Sampler: greedy, determinism per seed, top-k / top-p cut-offs and the drawn distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "layerlab/generate/sampler.h"
#include "layerlab/io/error.h"
#include "test_support.h"

namespace layerlab {
namespace {

std::vector<float> random_logits(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

TEST(Sampler, ArgmaxLowestIdOnTies) {
  EXPECT_EQ(greedy_token(std::vector<float>{1, 3, 3, 2}), 1);
  EXPECT_EQ(greedy_token(std::vector<float>{-5}), 0);
  EXPECT_THROW(greedy_token(std::vector<float>{}), Error);
}

TEST(Sampler, ZeroTemperatureIsGreedy) {
  Sampler s({.temperature = 0.0f, .top_k = 40, .top_p = 0.9f, .seed = 7});
  std::vector<float> logits = {0.5f, 2.0f, 2.0f, -1.0f};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.sample(logits), 1);
}

TEST(Sampler, SameSeedSameTokens) {
  const std::vector<float> logits = random_logits(500, 1);
  SamplerParams p{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 1234};
  Sampler a(p), b(p);
  std::vector<int32_t> ta, tb;
  for (int i = 0; i < 200; ++i) {
    ta.push_back(a.sample(logits));
    tb.push_back(b.sample(logits));
  }
  EXPECT_EQ(ta, tb);
  EXPECT_GT(std::set<int32_t>(ta.begin(), ta.end()).size(), 10u);  // really random
  p.seed = 1235;
  Sampler c(p);
  std::vector<int32_t> tc;
  for (int i = 0; i < 200; ++i) tc.push_back(c.sample(logits));
  EXPECT_NE(ta, tc);
}

TEST(Sampler, TopKOneIsGreedy) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const std::vector<float> logits = random_logits(300, seed);
    Sampler s({.temperature = 1.5f, .top_k = 1, .top_p = 1.0f, .seed = seed});
    EXPECT_EQ(s.sample(logits), greedy_token(logits));
  }
}

TEST(Sampler, TopKLimitsCandidates) {
  const std::vector<float> logits = {5, 1, 4, 0, 3, 2};  // top-3 ids: 0, 2, 4
  Sampler s({.temperature = 5.0f, .top_k = 3, .top_p = 1.0f, .seed = 3});
  std::set<int32_t> seen;
  for (int i = 0; i < 2000; ++i) seen.insert(s.sample(logits));
  EXPECT_EQ(seen, (std::set<int32_t>{0, 2, 4}));
}

TEST(Sampler, TopPEdgeCases) {
  // probabilities (T=1) of ln(0.5), ln(0.3), ln(0.2): 0.5, 0.3, 0.2
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  auto seen_with = [&](float top_p) {
    Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = top_p, .seed = 11});
    std::set<int32_t> seen;
    for (int i = 0; i < 3000; ++i) seen.insert(s.sample(logits));
    return seen;
  };
  EXPECT_EQ(seen_with(0.0f), (std::set<int32_t>{0}));     // always keeps the top token
  EXPECT_EQ(seen_with(0.4f), (std::set<int32_t>{0}));
  EXPECT_EQ(seen_with(0.75f), (std::set<int32_t>{0, 1}));  // 0.5 < 0.75 <= 0.8
  EXPECT_EQ(seen_with(0.85f), (std::set<int32_t>{0, 1, 2}));
  EXPECT_EQ(seen_with(1.0f), (std::set<int32_t>{0, 1, 2}));
}

TEST(Sampler, BannedTokensNeverDrawn) {
  const std::vector<float> logits = {-INFINITY, 0.0f, NAN, 0.0f};
  Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 5});
  for (int i = 0; i < 500; ++i) {
    int32_t t = s.sample(logits);
    EXPECT_TRUE(t == 1 || t == 3);
  }
  EXPECT_THROW(s.sample(std::vector<float>{-INFINITY, NAN}), Error);
}

// With temperature T, token i must come up with probability softmax(logits / T)_i.
TEST(Sampler, DistributionMatchesSoftmax) {
  const std::vector<float> logits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f};
  const float temperature = 0.7f;
  std::vector<double> expected(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += expected[i] = std::exp(logits[i] / temperature);
  for (auto& e : expected) e /= sum;

  Sampler s({.temperature = temperature, .top_k = 0, .top_p = 1.0f, .seed = 2024});
  const int draws = 100000;
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[s.sample(logits)];
  double chi2 = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double e = expected[i] * draws;
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  // 4 degrees of freedom: P(chi2 > 30) < 1e-5, so a correct sampler passes for any seed.
  EXPECT_LT(chi2, 30.0);
}

// `layerlab run` end to end: greedy generation on the llama fixture reproduces llama.cpp's
// 24-token greedy text for the same prompt.
TEST(RunCommand, GreedyMatchesLlamaCppGolden) {
  const auto golden = nlohmann::json::parse(testing::read_file(testing::fixture_path("golden/llama-f16/p2.json")));
  const std::string prompt = golden["prompt"];
  ASSERT_EQ(prompt, "Once upon a time, there was");
  auto r = testing::run_cli({"run", "--model", testing::fixture_model("llama-f16.gguf"), "--prompt", prompt,
                             "--temp", "0", "-n", "24", "--raw", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, golden["greedy"]["text"].get<std::string>());
  EXPECT_NE(r.err.find("prompt: 15 tokens, "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("; generation: 24 tokens, "), std::string::npos) << r.err;
}

TEST(RunCommand, SampledRunsRepeatWithTheSameSeed) {
  const std::string model = testing::fixture_model("llama-f16.gguf");
  auto run = [&](const std::string& seed) {
    auto r = testing::run_cli({"run", "-m", model, "-p", "The little dog ran", "-n", "16", "--temp", "1.0",
                               "--top-k", "50", "--top-p", "0.95", "--seed", seed, "-t", "2"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  const std::string a = run("42");
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, run("42"));
  EXPECT_NE(a, run("43"));
}

// An unrecognised template falls back to the raw user text (with a warning), so the greedy
// text is the raw one; a known family changes the prompt and so the text.
TEST(RunCommand, ChatTemplateOverride) {
  const auto golden = nlohmann::json::parse(testing::read_file(testing::fixture_path("golden/llama-f16/p2.json")));
  const std::vector<std::string> base = {"run", "-m", testing::fixture_model("llama-f16.gguf"), "-p",
                                         golden["prompt"], "--temp", "0", "-n", "24", "-t", "2"};
  auto args = base;
  args.insert(args.end(), {"--chat-template", "{{ messages[0].content }}"});
  auto r = testing::run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: chat template not recognised"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, golden["greedy"]["text"].get<std::string>());

  args = base;
  args.insert(args.end(), {"--chat-template", "chatml"});
  r = testing::run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_NE(r.out, golden["greedy"]["text"].get<std::string>());
  EXPECT_GT(std::stoi(r.err.substr(r.err.find("prompt: ") + 8)), 15);  // the template's markup
}

TEST(RunCommand, ChatWithoutTemplateIsAnError) {
  auto r = testing::run_cli({"run", "-m", testing::fixture_model("llama-f16.gguf"), "-p", "Hi", "--chat"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("chat_template"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace layerlab
