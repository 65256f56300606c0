// Gated DeltaNet: the chunked prefill form equals the token-by-token recurrence, the conv and
// SSM states carry a sequence across calls, and the qwen35 engine continues a prompt with
// decode exactly as a longer prefill would.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "layerlab/io/gguf_reader.h"
#include "layerlab/model/config.h"
#include "layerlab/plan/plan.h"
#include "layerlab/runtime/engine.h"
#include "layerlab/runtime/gated_deltanet.h"
#include "layerlab/util/thread_pool.h"
#include "test_support.h"

namespace layerlab {
namespace {

std::vector<float> normal(size_t n, std::mt19937& rng, float sd = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Largest |a - b| relative to the largest |b|.
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return diff / std::max(scale, 1e-30);
}

// Random inputs of one head: unit-norm k, scaled unit-norm q, decays in (-1.5, 0], beta in (0, 1).
struct HeadInputs {
  int S;
  int64_t T;
  std::vector<float> q, k, v, g, beta, state0;
};

HeadInputs random_head(int S, int64_t T, unsigned seed) {
  std::mt19937 rng(seed);
  HeadInputs h{S, T, normal(T * S, rng), normal(T * S, rng), normal(T * S, rng), {}, {}, normal(S * S, rng, 0.3f)};
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int64_t t = 0; t < T; ++t) {
    for (auto* x : {&h.q, &h.k}) {
      double n = 0;
      for (int i = 0; i < S; ++i) n += (*x)[t * S + i] * (*x)[t * S + i];
      const float scale = static_cast<float>(1.0 / std::sqrt(n)) * (x == &h.q ? 1.0f / std::sqrt(float(S)) : 1.0f);
      for (int i = 0; i < S; ++i) (*x)[t * S + i] *= scale;
    }
    h.g.push_back(-1.5f * u(rng) * u(rng));
    h.beta.push_back(u(rng));
  }
  return h;
}

// Runs the head with `form` over the tokens split into calls of the given sizes.
void run_head(const HeadInputs& h, bool chunked, const std::vector<int64_t>& calls, std::vector<float>& out,
              std::vector<float>& state, int64_t chunk = kDeltaChunk) {
  out.assign(h.T * h.S, 0.0f);
  state = h.state0;
  int64_t t0 = 0;
  for (int64_t n : calls) {
    DeltaHeadArgs a;
    a.q = h.q.data() + t0 * h.S;
    a.k = h.k.data() + t0 * h.S;
    a.qk_stride = h.S;
    a.v = h.v.data() + t0 * h.S;
    a.v_stride = h.S;
    a.g = h.g.data() + t0;
    a.beta = h.beta.data() + t0;
    a.gb_stride = 1;
    a.n_tokens = n;
    a.state_size = h.S;
    a.state = state.data();
    a.out = out.data() + t0 * h.S;
    a.out_stride = h.S;
    if (chunked)
      delta_rule_chunked(a, chunk);
    else
      delta_rule_recurrent(a);
    t0 += n;
  }
  ASSERT_EQ(t0, h.T);
}

TEST(DeltaRule, ChunkedEqualsRecurrentOverSeveralChunks) {
  for (int64_t T : {1, 63, 64, 65, 300}) {
    SCOPED_TRACE(T);
    const HeadInputs h = random_head(32, T, 7 + static_cast<unsigned>(T));
    std::vector<float> out_r, state_r, out_c, state_c;
    run_head(h, false, {T}, out_r, state_r);
    run_head(h, true, {T}, out_c, state_c);
    EXPECT_LE(rel_diff(out_c, out_r), 1e-5);
    EXPECT_LE(rel_diff(state_c, state_r), 1e-5);
    // A smaller chunk (more boundaries) gives the same answer too.
    run_head(h, true, {T}, out_c, state_c, 16);
    EXPECT_LE(rel_diff(out_c, out_r), 1e-5);
    EXPECT_LE(rel_diff(state_c, state_r), 1e-5);
  }
}

TEST(DeltaRule, StateCarriesAcrossCalls) {
  const HeadInputs h = random_head(16, 200, 3);
  std::vector<float> out_a, state_a, out_b, state_b;
  run_head(h, true, {200}, out_a, state_a);
  run_head(h, true, {70, 1, 1, 128}, out_b, state_b);
  EXPECT_LE(rel_diff(out_b, out_a), 1e-5);
  EXPECT_LE(rel_diff(state_b, state_a), 1e-5);
}

// --- The whole block with random F32 weights: conv state + SSM state across calls ---------------

struct RandomBlock {
  DeltaNetDims d;
  int64_t E = 48;
  std::vector<float> qkv, gate, beta, alpha, out, conv, dt_bias, a, norm;
  DeltaNetWeights w;

  static WeightView view(const std::vector<float>& m, int64_t n_in, int64_t n_out) {
    WeightView v;
    v.type = GgmlType::F32;
    v.n_in = n_in;
    v.n_out = n_out;
    v.data = reinterpret_cast<const std::byte*>(m.data());
    v.row_bytes = sizeof(float) * static_cast<size_t>(n_in);
    return v;
  }

  explicit RandomBlock(bool tiled) {
    d.state = 16;
    d.n_k_heads = 2;
    d.n_v_heads = 4;
    d.conv_kernel = 4;
    d.tiled_heads = tiled;
    std::mt19937 rng(11);
    const int64_t C = d.channels(), Vd = d.value_dim(), Hv = d.n_v_heads;
    qkv = normal(E * C, rng, 0.2f);
    gate = normal(E * Vd, rng, 0.2f);
    beta = normal(E * Hv, rng, 0.2f);
    alpha = normal(E * Hv, rng, 0.2f);
    out = normal(Vd * E, rng, 0.1f);
    conv = normal(C * d.conv_kernel, rng, 0.5f);
    dt_bias = normal(Hv, rng, 0.5f);
    a = normal(Hv, rng, 1.0f);
    for (float& x : a) x = -std::exp(x);
    norm = normal(d.state, rng, 0.1f);
    for (float& x : norm) x += 1.0f;
    w.qkv = view(qkv, E, C);
    w.gate = view(gate, E, Vd);
    w.beta = view(beta, E, Hv);
    w.alpha = view(alpha, E, Hv);
    w.out = view(out, Vd, E);
    w.conv = conv.data();
    w.dt_bias = dt_bias.data();
    w.a = a.data();
    w.norm = norm.data();
  }

  // Outputs of n tokens of x, fed in calls of the given sizes.
  std::vector<float> run(const std::vector<float>& x, const std::vector<int64_t>& calls, DeltaRuleForm form,
                         ThreadPool& pool) const {
    std::vector<float> conv_state(d.conv_state_size(), 0.0f), ssm_state(d.ssm_state_size(), 0.0f);
    std::vector<float> y(x.size());
    DeltaNetScratch scratch;
    int64_t t0 = 0;
    for (int64_t n : calls) {
      DeltaNetSequence seq{0, n, conv_state.data(), ssm_state.data()};
      gated_deltanet_block(w, d, 1e-6f, x.data() + t0 * E, n, {&seq, 1}, y.data() + t0 * E, scratch,
                           ActivationMode::kExact, pool, form);
      t0 += n;
    }
    return y;
  }
};

TEST(GatedDeltaNetBlock, PrefillEqualsTokenByTokenAndSplitCalls) {
  ThreadPool pool(2);
  for (bool tiled : {true, false}) {
    SCOPED_TRACE(tiled ? "tiled" : "grouped");
    RandomBlock b(tiled);
    std::mt19937 rng(5);
    const int64_t T = 150;
    const std::vector<float> x = normal(T * b.E, rng);
    const std::vector<float> whole = b.run(x, {T}, DeltaRuleForm::kChunked, pool);
    const std::vector<float> steps = b.run(x, std::vector<int64_t>(T, 1), DeltaRuleForm::kRecurrent, pool);
    const std::vector<float> split = b.run(x, {70, 1, 79}, DeltaRuleForm::kAuto, pool);
    EXPECT_LE(rel_diff(whole, steps), 1e-5);
    EXPECT_LE(rel_diff(split, steps), 1e-5);
  }
}

TEST(GatedDeltaNetBlock, SequencesInOneBatchAreIndependent) {
  ThreadPool pool(2);
  RandomBlock b(true);
  std::mt19937 rng(9);
  const int64_t T0 = 40, T1 = 90;
  const std::vector<float> x = normal((T0 + T1) * b.E, rng);
  std::vector<float> conv(2 * b.d.conv_state_size(), 0.0f), ssm(2 * b.d.ssm_state_size(), 0.0f);
  DeltaNetSequence seqs[2] = {{0, T0, conv.data(), ssm.data()},
                              {T0, T1, conv.data() + b.d.conv_state_size(), ssm.data() + b.d.ssm_state_size()}};
  std::vector<float> y(x.size());
  DeltaNetScratch scratch;
  gated_deltanet_block(b.w, b.d, 1e-6f, x.data(), T0 + T1, seqs, y.data(), scratch, ActivationMode::kExact, pool);
  const std::vector<float> x1(x.begin() + T0 * b.E, x.end());
  const std::vector<float> alone = b.run(x1, {T1}, DeltaRuleForm::kChunked, pool);
  const std::vector<float> y1(y.begin() + T0 * b.E, y.end());
  EXPECT_LE(rel_diff(y1, alone), 1e-6);
}

// --- The qwen35 engine: decode continues the recurrent state exactly ------------------------------

struct Qwen35 {
  ModelFile file = read_gguf(testing::fixture_model("qwen35-f16.gguf"));
  ModelConfig config = read_model_config(file);
};

std::vector<int32_t> prompt_tokens(int n) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(1 + (i * 37 + 11) % 500);
  return t;
}

std::unique_ptr<Engine> qwen35_engine(const Qwen35& m, const std::vector<int>& plan) {
  EngineOptions opt;
  opt.threads = 2;
  opt.mode = ActivationMode::kExact;
  opt.plan = Plan::from_layers(plan);
  return std::make_unique<Engine>(m.file, m.config, opt);
}

double max_abs(std::span<const float> a, std::span<const float> b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}

TEST(Qwen35Engine, PrefillThenDecodeEqualsLongerPrefill) {
  const Qwen35 m;
  const std::vector<int32_t> tokens = prompt_tokens(90);
  // Identity, and a plan running a DeltaNet layer and the attention layer twice.
  for (const std::vector<int>& plan : {std::vector<int>{}, std::vector<int>{0, 1, 2, 3, 2, 3, 4, 5, 6, 7}}) {
    SCOPED_TRACE(plan.size());
    auto whole = qwen35_engine(m, plan);
    const auto ref_span = whole->prefill({tokens}).last(0);
    const std::vector<float> ref(ref_span.begin(), ref_span.end());

    // 70 tokens (a chunk boundary inside), 5 more as a second prefill, then one at a time.
    auto pieces = qwen35_engine(m, plan);
    pieces->prefill({std::vector<int32_t>(tokens.begin(), tokens.begin() + 70)});
    pieces->prefill({std::vector<int32_t>(tokens.begin() + 70, tokens.begin() + 75)});
    const Logits* l = nullptr;
    for (size_t t = 75; t < tokens.size(); ++t) l = &pieces->decode(std::span<const int32_t>(&tokens[t], 1));
    EXPECT_LE(max_abs(l->last(0), ref), 1e-4);

    // reset() starts from a zero state again.
    pieces->reset();
    EXPECT_LE(max_abs(pieces->prefill({tokens}).last(0), ref), 1e-5);
  }
}

TEST(Qwen35Engine, BatchedSequencesEqualEachAlone) {
  const Qwen35 m;
  const std::vector<int32_t> a = prompt_tokens(23), b = prompt_tokens(71);
  auto batch = qwen35_engine(m, {0, 1, 2, 3, 3, 4, 5, 6, 7});
  const Logits& both = batch->prefill({a, b});
  const std::vector<float> la(both.last(0).begin(), both.last(0).end()), lb(both.last(1).begin(), both.last(1).end());
  auto alone = qwen35_engine(m, {0, 1, 2, 3, 3, 4, 5, 6, 7});
  EXPECT_LE(max_abs(alone->prefill({a}).last(0), la), 1e-5);
  alone->reset();
  EXPECT_LE(max_abs(alone->prefill({b}).last(0), lb), 1e-5);
}

}  // namespace
}  // namespace layerlab
