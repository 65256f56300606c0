// attend_head against a plain double-precision causal softmax attention, over head dims that
// are and are not whole SIMD vectors, GQA-like strides, prefill and decode shapes.
#include "layerlab/runtime/attention.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace layerlab {
namespace {

struct Shape {
  int dk, dv;
  int64_t start, n_new;
};

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kGuard = -12345.0f;

// Rows of `width` floats `stride` apart with random values; the gaps between rows and any row
// past `n_valid` hold NaN, so a read outside the head or past the causal limit poisons results.
std::vector<float> random_rows(std::mt19937& rng, int64_t n_rows, int64_t n_valid, int width,
                               int64_t stride, float amplitude) {
  std::uniform_real_distribution<float> dist(-amplitude, amplitude);
  std::vector<float> rows(static_cast<size_t>((n_rows - 1) * stride + width), kNaN);
  for (int64_t r = 0; r < n_valid; ++r)
    for (int i = 0; i < width; ++i) rows[static_cast<size_t>(r * stride + i)] = dist(rng);
  return rows;
}

float at(const std::vector<float>& x, int64_t i) { return x[static_cast<size_t>(i)]; }

// Checks one shape: returns after the first mismatch so a failure stays readable.
void check_shape(const Shape& sh, uint32_t seed, float q_amplitude) {
  SCOPED_TRACE(testing::Message() << "dk=" << sh.dk << " dv=" << sh.dv << " start=" << sh.start
                                  << " n_new=" << sh.n_new << " q_amplitude=" << q_amplitude);
  std::mt19937 rng(seed);
  const int64_t n_pos = sh.start + sh.n_new;
  // Strides as a GQA cache/activation layout has them: several heads per row.
  const int64_t q_stride = 3 * sh.dk + 5, k_stride = 2 * sh.dk + 3, v_stride = 2 * sh.dv + 1;
  const int64_t out_stride = 2 * sh.dv + 7;
  const std::vector<float> q = random_rows(rng, sh.n_new, sh.n_new, sh.dk, q_stride, q_amplitude);
  // One more row than the sequence: a position beyond the last new token must never be read.
  const std::vector<float> k = random_rows(rng, n_pos + 1, n_pos, sh.dk, k_stride, 1.0f);
  const std::vector<float> v = random_rows(rng, n_pos + 1, n_pos, sh.dv, v_stride, 1.0f);
  std::vector<float> scores(static_cast<size_t>(kAttentionScoreRows * n_pos), kNaN);
  // The job's rows sit after one guard row; every element that is not an output stays kGuard.
  std::vector<float> out(static_cast<size_t>((sh.n_new + 2) * out_stride), kGuard);

  HeadAttentionArgs a;
  a.q = q.data();
  a.q_stride = q_stride;
  a.n_new = sh.n_new;
  a.start = sh.start;
  a.k = k.data();
  a.k_stride = k_stride;
  a.v = v.data();
  a.v_stride = v_stride;
  a.head_dim_k = sh.dk;
  a.head_dim_v = sh.dv;
  a.scale = 1.0f / std::sqrt(static_cast<float>(sh.dk));
  a.scores = scores.data();
  a.out = out.data() + out_stride;
  a.out_stride = out_stride;
  attend_head(a);

  for (int64_t t = 0; t < sh.n_new; ++t) {
    const int64_t n_visible = sh.start + t + 1;
    std::vector<double> s(static_cast<size_t>(n_visible));
    double max_s = -std::numeric_limits<double>::infinity();
    double max_abs_dot = 0.0;  // float rounding of a score scales with sum |q_i k_i|
    for (int64_t j = 0; j < n_visible; ++j) {
      double dot = 0.0, abs_dot = 0.0;
      for (int i = 0; i < sh.dk; ++i) {
        const double term = double{at(q, t * q_stride + i)} * at(k, j * k_stride + i);
        dot += term;
        abs_dot += std::abs(term);
      }
      s[static_cast<size_t>(j)] = dot * a.scale;
      max_s = std::max(max_s, s[static_cast<size_t>(j)]);
      max_abs_dot = std::max(max_abs_dot, abs_dot * a.scale);
    }
    // An error e in a score changes its probability by a factor exp(e): relative 1e-5 plus
    // a few float ulps of the largest score's terms.
    const double rel_tol = 1e-5 + 4 * std::numeric_limits<float>::epsilon() * max_abs_dot;
    double sum = 0.0;
    for (double& x : s) sum += (x = std::exp(x - max_s));
    for (int i = 0; i < sh.dv; ++i) {
      double ref = 0.0, magnitude = 0.0;  // magnitude: sum of |terms|, what rounding scales with
      for (int64_t j = 0; j < n_visible; ++j) {
        const double term = s[static_cast<size_t>(j)] / sum * at(v, j * v_stride + i);
        ref += term;
        magnitude += std::abs(term);
      }
      const float got = at(out, (t + 1) * out_stride + i);
      ASSERT_NEAR(got, ref, rel_tol * magnitude + 1e-30) << "token " << t << " column " << i;
    }
  }
  for (int64_t r = 0; r < sh.n_new + 2; ++r)
    for (int64_t i = 0; i < out_stride; ++i) {
      const bool is_output = r >= 1 && r <= sh.n_new && i < sh.dv;
      if (!is_output) {
        ASSERT_EQ(at(out, r * out_stride + i), kGuard) << "row " << r << " column " << i;
      }
    }
}

// Outputs of `n_new` tokens from position `start` computed as one call; q, K, V as in
// check_shape's layout but dense (stride = head dim).
std::vector<float> attend(const std::vector<float>& q, const std::vector<float>& k,
                          const std::vector<float>& v, int dk, int dv, int64_t first_token,
                          int64_t start, int64_t n_new) {
  std::vector<float> scores(static_cast<size_t>(kAttentionScoreRows * (start + n_new)));
  std::vector<float> out(static_cast<size_t>(n_new * dv));
  HeadAttentionArgs a;
  a.q = q.data() + first_token * dk;
  a.q_stride = dk;
  a.n_new = n_new;
  a.start = start;
  a.k = k.data();
  a.k_stride = dk;
  a.v = v.data();
  a.v_stride = dv;
  a.head_dim_k = dk;
  a.head_dim_v = dv;
  a.scale = 1.0f / std::sqrt(static_cast<float>(dk));
  a.scores = scores.data();
  a.out = out.data();
  a.out_stride = dv;
  attend_head(a);
  return out;
}

// A token's output must not depend on how the tokens were batched: one prefill, prefills in
// chunks and decode steps give bit-identical results (the engine's prefill-then-decode equals
// longer prefill relies on it, and a 1e-7 difference can flip a later quantization).
void check_batch_invariance(int dk, int dv, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "dk=" << dk << " dv=" << dv);
  std::mt19937 rng(seed);
  const int64_t start = 3, n_new = 14, n_pos = start + n_new;
  const std::vector<float> q = random_rows(rng, n_new, n_new, dk, dk, 1.0f);
  const std::vector<float> k = random_rows(rng, n_pos, n_pos, dk, dk, 1.0f);
  const std::vector<float> v = random_rows(rng, n_pos, n_pos, dv, dv, 1.0f);
  const std::vector<float> whole = attend(q, k, v, dk, dv, 0, start, n_new);
  for (int64_t chunk : {1, 2, 3, 5, 6}) {
    SCOPED_TRACE(testing::Message() << "chunks of " << chunk);
    for (int64_t t0 = 0; t0 < n_new; t0 += chunk) {
      const int64_t n = std::min(chunk, n_new - t0);
      const std::vector<float> part = attend(q, k, v, dk, dv, t0, start + t0, n);
      for (size_t i = 0; i < part.size(); ++i)
        ASSERT_EQ(part[i], whole[static_cast<size_t>(t0 * dv) + i]) << "token " << t0 + i / dv;
    }
  }
}

// Runs `check` once per SIMD target this machine has (the scalar baseline included).
template <class Check>
void on_every_target(Check check) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    check();
    if (testing::Test::HasFatalFailure()) break;
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(AttendHead, MatchesDoubleReferenceForEqualHeadDims) {
  on_every_target([] {
    uint32_t seed = 1;
    for (int dim : {1, 7, 8, 64, 80, 128, 256})
      for (int64_t start : {0, 5})
        for (int64_t n_new : {1, 2, 3, 9, 17}) check_shape({dim, dim, start, n_new}, seed++, 1.0f);
  });
}

TEST(AttendHead, MatchesDoubleReferenceForUnequalHeadDims) {
  on_every_target([] {
    const Shape shapes[] = {{64, 128, 0, 13}, {128, 64, 7, 6},  {256, 64, 3, 1},  {7, 12, 0, 11},
                            {20, 3, 2, 5},    {12, 36, 9, 4},   {80, 256, 0, 10}, {36, 44, 1, 7}};
    uint32_t seed = 100;
    for (const Shape& sh : shapes) check_shape(sh, seed++, 1.0f);
  });
}

// Decode against a long context: every key/value tail and several 4-key blocks.
TEST(AttendHead, DecodeWithLongContext) {
  on_every_target([] {
    uint32_t seed = 200;
    for (int dim : {8, 64, 128, 256})
      for (int64_t start : {1, 2, 3, 4, 63, 1000}) check_shape({dim, dim, start, 1}, seed++, 1.0f);
  });
}

// Prefill with start 0 and many tokens, as the engine's first batch runs it.
TEST(AttendHead, PrefillOfManyTokens) {
  on_every_target([] {
    check_shape({64, 64, 0, 130}, 300, 1.0f);
    check_shape({128, 128, 0, 67}, 301, 1.0f);
    check_shape({80, 80, 21, 45}, 302, 1.0f);
  });
}

// Large scores make the softmax peaked: the maximum must be subtracted before exp, and
// probabilities that underflow to zero must not disturb the result.
TEST(AttendHead, PeakedSoftmaxStaysAccurate) {
  on_every_target([] {
    uint32_t seed = 400;
    for (int dim : {8, 64, 256})
      for (float amplitude : {20.0f, 200.0f}) check_shape({dim, dim, 6, 23}, seed++, amplitude);
  });
}

TEST(AttendHead, SameBitsWhateverTheBatching) {
  on_every_target([] {
    uint32_t seed = 500;
    for (int dim : {1, 7, 8, 64, 80, 256}) check_batch_invariance(dim, dim, seed++);
    check_batch_invariance(64, 128, seed++);
    check_batch_invariance(36, 12, seed++);
  });
}

}  // namespace
}  // namespace layerlab
