// Mixture-of-experts FFN: grouped routing equals a naive per-token implementation for every
// k, k = n_expert is the dense softmax mixture, a bad k is refused, and the qwen3moe engine
// runs with any experts-per-token override.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <random>
#include <string>
#include <vector>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/model/config.h"
#include "layerlab/plan/plan.h"
#include "layerlab/runtime/engine.h"
#include "layerlab/runtime/moe_ffn.h"
#include "layerlab/util/thread_pool.h"
#include "test_support.h"

namespace layerlab {
namespace {

constexpr int64_t kE = 32, kF = 24;
constexpr int kExperts = 8;

std::vector<float> normal(size_t n, std::mt19937& rng, float sd) {
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

WeightView view(const std::vector<float>& m, int64_t n_in, int64_t n_out) {
  WeightView v;
  v.type = GgmlType::F32;
  v.n_in = n_in;
  v.n_out = n_out;
  v.data = reinterpret_cast<const std::byte*>(m.data());
  v.row_bytes = sizeof(float) * static_cast<size_t>(n_in);
  return v;
}

struct RandomMoe {
  std::vector<float> router, gate, up, down;  // stacked: expert e's rows follow expert e-1's
  MoeWeights w;

  RandomMoe() {
    std::mt19937 rng(21);
    router = normal(kE * kExperts, rng, 0.5f);
    gate = normal(kExperts * kF * kE, rng, 0.2f);
    up = normal(kExperts * kF * kE, rng, 0.2f);
    down = normal(kExperts * kE * kF, rng, 0.2f);
    w.router = view(router, kE, kExperts);
    w.gate = {view(gate, kE, kF * kExperts), kExperts, kF};
    w.up = {view(up, kE, kF * kExperts), kExperts, kF};
    w.down = {view(down, kF, kE * kExperts), kExperts, kE};
  }

  // Expert e applied to x, in double.
  std::vector<double> expert(int e, const float* x) const {
    std::vector<double> h(kF), y(kE, 0.0);
    for (int64_t f = 0; f < kF; ++f) {
      double g = 0, u = 0;
      for (int64_t i = 0; i < kE; ++i) {
        g += double(gate[(e * kF + f) * kE + i]) * x[i];
        u += double(up[(e * kF + f) * kE + i]) * x[i];
      }
      h[f] = g / (1 + std::exp(-g)) * u;
    }
    for (int64_t o = 0; o < kE; ++o)
      for (int64_t f = 0; f < kF; ++f) y[o] += double(down[(e * kE + o) * kF + f]) * h[f];
    return y;
  }

  std::vector<double> probs(const float* x) const {
    std::vector<double> z(kExperts);
    for (int e = 0; e < kExperts; ++e)
      for (int64_t i = 0; i < kE; ++i) z[e] += double(router[e * kE + i]) * x[i];
    const double m = *std::max_element(z.begin(), z.end());
    double sum = 0;
    for (double& v : z) sum += (v = std::exp(v - m));
    for (double& v : z) v /= sum;
    return z;
  }

  // The naive reference: per token, sort all experts by probability, take k, renormalise.
  std::vector<float> naive(const std::vector<float>& x, int64_t rows, int k) const {
    std::vector<float> out(rows * kE);
    for (int64_t r = 0; r < rows; ++r) {
      const std::vector<double> p = probs(&x[r * kE]);
      std::vector<int> order(kExperts);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
      double wsum = 0;
      for (int i = 0; i < k; ++i) wsum += p[order[i]];
      std::vector<double> acc(kE, 0.0);
      for (int i = 0; i < k; ++i) {
        const std::vector<double> y = expert(order[i], &x[r * kE]);
        for (int64_t o = 0; o < kE; ++o) acc[o] += p[order[i]] / wsum * y[o];
      }
      for (int64_t o = 0; o < kE; ++o) out[r * kE + o] = static_cast<float>(acc[o]);
    }
    return out;
  }
};

double max_abs(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}

TEST(MoeFfn, GroupedRoutingMatchesNaivePerToken) {
  RandomMoe moe;
  ThreadPool pool(2);
  std::mt19937 rng(4);
  const int64_t rows = 13;
  const std::vector<float> x = normal(rows * kE, rng, 1.0f);
  MoeScratch scratch;
  std::vector<float> out(rows * kE);
  for (int k = 1; k <= kExperts; ++k) {
    SCOPED_TRACE(k);
    moe_ffn(moe.w, k, x.data(), rows, out.data(), scratch, ActivationMode::kExact, pool);
    const std::vector<float> ref = moe.naive(x, rows, k);
    EXPECT_LE(max_abs(out, ref), 1e-5);
    // One row at a time (decode) gives the same rows as the batch.
    std::vector<float> row(kE);
    for (int64_t r = 0; r < rows; r += 5) {
      moe_ffn(moe.w, k, x.data() + r * kE, 1, row.data(), scratch, ActivationMode::kExact, pool);
      EXPECT_LE(max_abs(row, std::vector<float>(out.begin() + r * kE, out.begin() + (r + 1) * kE)), 1e-6);
    }
  }
}

TEST(MoeFfn, AllExpertsIsTheDenseSoftmaxMixture) {
  RandomMoe moe;
  ThreadPool pool(1);
  std::mt19937 rng(8);
  const int64_t rows = 6;
  const std::vector<float> x = normal(rows * kE, rng, 1.0f);
  MoeScratch scratch;
  std::vector<float> out(rows * kE), dense(rows * kE);
  moe_ffn(moe.w, kExperts, x.data(), rows, out.data(), scratch, ActivationMode::kExact, pool);
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<double> p = moe.probs(&x[r * kE]);
    std::vector<double> acc(kE, 0.0);
    for (int e = 0; e < kExperts; ++e) {
      const std::vector<double> y = moe.expert(e, &x[r * kE]);
      for (int64_t o = 0; o < kE; ++o) acc[o] += p[e] * y[o];
    }
    for (int64_t o = 0; o < kE; ++o) dense[r * kE + o] = static_cast<float>(acc[o]);
  }
  EXPECT_LE(max_abs(out, dense), 1e-5);
}

TEST(MoeFfn, RoutingPicksTheMostProbableAndRenormalises) {
  const float logits[2 * 4] = {0.0f, 2.0f, 1.0f, 2.0f,   // tie between 1 and 3: lower id first
                               -1.0f, -1.0f, 5.0f, 0.0f};
  float probs[8], weights[4];
  int32_t selected[4];
  moe_route(logits, 2, 4, 2, probs, selected, weights);
  EXPECT_EQ(selected[0], 1);
  EXPECT_EQ(selected[1], 3);
  EXPECT_FLOAT_EQ(weights[0], 0.5f);
  EXPECT_FLOAT_EQ(weights[1], 0.5f);
  EXPECT_EQ(selected[2], 2);
  EXPECT_EQ(selected[3], 3);
  EXPECT_NEAR(weights[2], 1.0 / (1.0 + std::exp(-5.0)), 1e-6);
  EXPECT_NEAR(weights[2] + weights[3], 1.0, 1e-6);
}

TEST(MoeFfn, TooManyExpertsPerTokenIsRefused) {
  RandomMoe moe;
  ThreadPool pool(1);
  std::vector<float> x(kE, 0.5f), out(kE);
  MoeScratch scratch;
  for (int k : {0, kExperts + 1}) {
    try {
      moe_ffn(moe.w, k, x.data(), 1, out.data(), scratch, ActivationMode::kExact, pool);
      FAIL() << "k = " << k << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("experts per token " + std::to_string(k)), std::string::npos) << e.what();
    }
  }
}

// --- The qwen3moe engine with an experts-per-token override --------------------------------------

TEST(Qwen3MoeEngine, EveryExpertsPerTokenRunsAndTooManyIsRefused) {
  const ModelFile file = read_gguf(testing::fixture_model("qwen3moe-f16.gguf"));
  const ModelConfig config = read_model_config(file);
  ASSERT_EQ(config.n_expert, kExperts);
  const std::vector<int32_t> tokens = {1, 77, 300, 12, 5};
  std::vector<std::vector<float>> by_k;
  for (int k = 0; k <= kExperts; ++k) {  // 0: the model's own count (2)
    EngineOptions opt;
    opt.threads = 2;
    opt.mode = ActivationMode::kExact;
    opt.experts_per_token = k;
    Engine engine(file, config, opt);
    auto row = engine.prefill({tokens}).last(0);
    for (float v : row) ASSERT_TRUE(std::isfinite(v)) << "k = " << k;
    by_k.emplace_back(row.begin(), row.end());
  }
  EXPECT_EQ(by_k[0], by_k[2]);      // the default is expert_used_count = 2
  EXPECT_GT(max_abs(by_k[1], by_k[2]), 1e-3);  // the override changes the computation
  EXPECT_GT(max_abs(by_k[8], by_k[2]), 1e-3);

  EngineOptions opt;
  opt.experts_per_token = kExperts + 1;
  try {
    Engine engine(file, config, opt);
    FAIL() << "9 experts per token were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("experts per token 9 exceeds the 8 experts"), std::string::npos) << e.what();
  }
}

TEST(Qwen3MoeEngine, CliExpertsPerTokenOption) {
  const std::string model = testing::fixture_model("qwen3moe-f16.gguf");
  const auto ok = testing::run_cli({"logits", "--model", model, "--tokens", "1,77,300", "--experts-per-token", "8"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("\"top_k\""), std::string::npos);
  const auto bad = testing::run_cli({"logits", "--model", model, "--tokens", "1,77,300", "--experts-per-token", "9"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("experts per token 9"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace layerlab
