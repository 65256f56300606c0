// Gated DeltaNet: the chunked prefill form equals the token-by-token recurrence, the conv and
// SSM states carry a sequence across calls, and the qwen35 engine continues a prompt with
// decode exactly as a longer prefill would.
#include <gtest/gtest.h>
#include <hwy/targets.h>

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

// The arguments of one call over tokens [t0, t0 + n) of a head stored with the given strides.
DeltaHeadArgs call_args(const float* q, const float* k, int64_t qk_stride, const float* v, int64_t v_stride,
                        const float* g, const float* beta, int64_t gb_stride, int S, int64_t t0, int64_t n,
                        float* state, float* out, int64_t out_stride) {
  DeltaHeadArgs a;
  a.q = q + t0 * qk_stride;
  a.k = k + t0 * qk_stride;
  a.qk_stride = qk_stride;
  a.v = v + t0 * v_stride;
  a.v_stride = v_stride;
  a.g = g + t0 * gb_stride;
  a.beta = beta + t0 * gb_stride;
  a.gb_stride = gb_stride;
  a.n_tokens = n;
  a.state_size = S;
  a.state = state;
  a.out = out + t0 * out_stride;
  a.out_stride = out_stride;
  return a;
}

// Runs the head with `form` over the tokens split into calls of the given sizes.
void run_head(const HeadInputs& h, bool chunked, const std::vector<int64_t>& calls, std::vector<float>& out,
              std::vector<float>& state, int64_t chunk = kDeltaChunk) {
  out.assign(h.T * h.S, 0.0f);
  state = h.state0;
  int64_t t0 = 0;
  for (int64_t n : calls) {
    const DeltaHeadArgs a = call_args(h.q.data(), h.k.data(), h.S, h.v.data(), h.S, h.g.data(), h.beta.data(), 1, h.S,
                                      t0, n, state.data(), out.data(), h.S);
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

// --- The SIMD kernels against a plain double-precision recurrence, on every compiled target -------

// Inputs of one head in strided rows (q, k, v, g, beta and the outputs interleaved with gaps), as
// the block lays them out.
struct StridedHead {
  int S;
  int64_t T, qk_stride, v_stride, gb_stride, out_stride;
  std::vector<float> q, k, v, g, beta, state0;
};

StridedHead strided_head(int S, int64_t T, unsigned seed) {
  const HeadInputs h = random_head(S, T, seed);
  StridedHead r{S, T, S + 3, S + 1, 3, S + 2, {}, {}, {}, {}, {}, h.state0};
  r.q.assign(T * r.qk_stride, 7.0f);
  r.k.assign(T * r.qk_stride, 7.0f);
  r.v.assign(T * r.v_stride, 7.0f);
  r.g.assign(T * r.gb_stride, 7.0f);
  r.beta.assign(T * r.gb_stride, 7.0f);
  for (int64_t t = 0; t < T; ++t) {
    for (int i = 0; i < S; ++i) {
      r.q[t * r.qk_stride + i] = h.q[t * S + i];
      r.k[t * r.qk_stride + i] = h.k[t * S + i];
      r.v[t * r.v_stride + i] = h.v[t * S + i];
    }
    r.g[t * r.gb_stride] = h.g[t];
    r.beta[t * r.gb_stride] = h.beta[t];
  }
  return r;
}

// M <- e^g M; M <- M + beta (v - M k) k^T; o = M q, token by token in double.
void reference_delta_rule(const StridedHead& h, std::vector<double>& out, std::vector<double>& state) {
  const int S = h.S;
  state.assign(h.state0.begin(), h.state0.end());
  out.assign(h.T * S, 0.0);
  for (int64_t t = 0; t < h.T; ++t) {
    const float* q = &h.q[t * h.qk_stride];
    const float* k = &h.k[t * h.qk_stride];
    const float* v = &h.v[t * h.v_stride];
    const double decay = std::exp(static_cast<double>(h.g[t * h.gb_stride]));
    const double beta = h.beta[t * h.gb_stride];
    for (int j = 0; j < S; ++j) {
      double* row = &state[static_cast<size_t>(j) * S];
      double mk = 0;
      for (int i = 0; i < S; ++i) mk += (row[i] *= decay) * k[i];
      const double delta = beta * (v[j] - mk);
      double mq = 0;
      for (int i = 0; i < S; ++i) mq += (row[i] += delta * k[i]) * q[i];
      out[t * S + j] = mq;
    }
  }
}

// Largest |a - b| relative to the largest |b|.
double rel_diff_to(const std::vector<float>& a, const std::vector<double>& b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(a[i] - b[i]));
    scale = std::max(scale, std::fabs(b[i]));
  }
  return diff / std::max(scale, 1e-30);
}

// chunk 0: the recurrence.
void run_strided(const StridedHead& h, int64_t chunk, const std::vector<int64_t>& calls, std::vector<float>& out,
                 std::vector<float>& state) {
  std::vector<float> strided_out(h.T * h.out_stride, 7.0f);
  state = h.state0;
  int64_t t0 = 0;
  for (int64_t n : calls) {
    const DeltaHeadArgs a = call_args(h.q.data(), h.k.data(), h.qk_stride, h.v.data(), h.v_stride, h.g.data(),
                                      h.beta.data(), h.gb_stride, h.S, t0, n, state.data(), strided_out.data(),
                                      h.out_stride);
    if (chunk > 0)
      delta_rule_chunked(a, chunk);
    else
      delta_rule_recurrent(a);
    t0 += n;
  }
  ASSERT_EQ(t0, h.T);
  out.assign(h.T * h.S, 0.0f);
  for (int64_t t = 0; t < h.T; ++t)
    for (int j = 0; j < h.out_stride; ++j) {
      if (j < h.S)
        out[t * h.S + j] = strided_out[t * h.out_stride + j];
      else
        ASSERT_EQ(strided_out[t * h.out_stride + j], 7.0f) << "wrote past the output row";
    }
}

TEST(DeltaRule, SimdKernelsEqualDoubleReferenceOnEveryTarget) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    for (int S : {1, 7, 16, 128}) {
      for (int64_t T : {1, 5, 64, 150}) {
        SCOPED_TRACE(::testing::Message() << "S " << S << " T " << T);
        const StridedHead h = strided_head(S, T, 100 + S * 7 + static_cast<unsigned>(T));
        std::vector<double> ref_out, ref_state;
        reference_delta_rule(h, ref_out, ref_state);
        std::vector<float> out, state;
        for (int64_t chunk : {0, 1, 5, 64}) {
          SCOPED_TRACE(::testing::Message() << "chunk " << chunk);
          run_strided(h, chunk, {T}, out, state);
          EXPECT_LE(rel_diff_to(out, ref_out), 1e-5);
          EXPECT_LE(rel_diff_to(state, ref_state), 1e-5);
        }
        // Split calls continue the state.
        if (T > 5) {
          run_strided(h, 64, {2, 1, T - 3}, out, state);
          EXPECT_LE(rel_diff_to(out, ref_out), 1e-5);
          EXPECT_LE(rel_diff_to(state, ref_state), 1e-5);
        }
      }
    }
    if (::testing::Test::HasFailure()) break;
  }
  hwy::SetSupportedTargetsForTest(0);
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
