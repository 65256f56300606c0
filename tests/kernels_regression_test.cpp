// Regression tests for the integer tile kernels and their per-thread unpack scratch, on every
// compiled SIMD target: many gemm_quant calls in a row with shapes that leave partial row and
// token groups (the scratch grows, shrinks and is reused), outputs checked against vec_dot bit
// for bit and guard values checked around and between the output rows; the same calls from
// several threads at once; and engine prefills after reset() equal to a fresh engine's.
// Highway 1.0 leaves AVX3_DL (AVX-512 VNNI) out of the target list unless asked; the kernels
// compile it, so the per-target loop must see it too.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL 1
#endif
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "hwy/targets.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/model/config.h"
#include "layerlab/runtime/engine.h"
#include "layerlab/tensor/kernels.h"
#include "layerlab/tensor/quantize_activations.h"
#include "quant_test_data.h"
#include "test_support.h"

namespace layerlab {
namespace {

// The weight types with x86 tile kernels (the others take the generic path, which is cheap to
// include).
const GgmlType kTileTypes[] = {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q4_K, GgmlType::Q6_K};

// (rows, tokens, blocks per row): rows not a multiple of 4 or 16, token counts that leave 1..3
// tokens in the last group of 4, odd block counts (an odd last block pair), and sizes that go
// down and up again so the scratch is reused at a smaller size and then grown.
struct Shape {
  int64_t rows, tokens, blocks;
};
const Shape kShapes[] = {{37, 13, 11}, {5, 2, 1}, {16, 4, 2}, {1, 1, 3}, {33, 7, 9}, {17, 5, 1},
                         {3, 3, 5},    {40, 9, 13}, {2, 6, 2}, {19, 1, 7}, {16, 17, 4}, {7, 11, 3}};

constexpr float kGuard = -12345.678f;  // not a value any product here can take

struct Case {
  std::vector<std::byte> w, a;
  size_t w_row = 0, a_row = 0;
  int64_t n = 0;
};

Case make_case(GgmlType t, const Shape& s, std::mt19937& rng) {
  const int64_t block = ggml_type_info(static_cast<uint32_t>(t))->block_size;
  Case c;
  c.n = block * s.blocks;
  auto [w, w_row] = testing::random_rows(t, s.rows, c.n, rng);
  c.w = std::move(w);
  c.w_row = w_row;
  const GgmlType at = vec_dot_type(t);
  c.a_row = activation_row_bytes(at, c.n);
  // Exactly the bytes the activations need: a read past them is a sanitizer error.
  c.a.resize(c.a_row * static_cast<size_t>(s.tokens));
  const auto x = testing::random_floats(static_cast<size_t>(s.tokens * c.n), rng);
  for (int64_t k = 0; k < s.tokens; ++k)
    quantize_activation_row(at, x.data() + k * c.n, c.a.data() + k * c.a_row, c.n);
  return c;
}

// Runs gemm_quant into rows of stride rows + 3 with guard values before, between and after the
// results, and returns the results (token-major); fails the test on a changed guard.
std::vector<float> guarded_gemm(GgmlType t, const Shape& s, const Case& c) {
  constexpr int64_t kPad = 64;  // guard floats on each side (one cache line and more)
  const int64_t ys = s.rows + 3;
  std::vector<float> buf(static_cast<size_t>(2 * kPad + s.tokens * ys), kGuard);
  float* y = buf.data() + kPad;
  gemm_quant(t, c.w.data(), c.w_row, s.rows, c.a.data(), c.a_row, s.tokens, c.n, y, static_cast<size_t>(ys));
  std::vector<float> out(static_cast<size_t>(s.tokens * s.rows));
  for (int64_t i = 0; i < static_cast<int64_t>(buf.size()); ++i) {
    const int64_t j = i - kPad;
    const bool result = j >= 0 && j < s.tokens * ys && j % ys < s.rows;
    if (result) {
      out[static_cast<size_t>((j / ys) * s.rows + j % ys)] = buf[static_cast<size_t>(i)];
    } else {
      EXPECT_EQ(buf[static_cast<size_t>(i)], kGuard) << "write outside the results at float " << j;
    }
  }
  return out;
}

void expect_equals_vec_dot(GgmlType t, const Shape& s, const Case& c, const std::vector<float>& y) {
  for (int64_t k = 0; k < s.tokens; ++k)
    for (int64_t r = 0; r < s.rows; ++r) {
      const float dot = vec_dot(t, c.n, c.w.data() + r * c.w_row, c.a.data() + k * c.a_row);
      const float got = y[static_cast<size_t>(k * s.rows + r)];
      ASSERT_TRUE(std::isfinite(got)) << "row " << r << " token " << k;
      ASSERT_EQ(0, std::memcmp(&dot, &got, sizeof(float)))
          << "row " << r << " token " << k << ": gemm " << got << ", vec_dot " << dot;
    }
}

TEST(KernelsRegression, RepeatedGemmCallsMatchVecDotAndWriteOnlyTheirOutput) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(std::string("target ") + simd_target_name());
    for (GgmlType t : kTileTypes) {
      SCOPED_TRACE(ggml_type_name(t));
      std::mt19937 rng(101);
      // Twice over the shapes: the second pass finds the scratch of the largest shape.
      for (int pass = 0; pass < 2; ++pass)
        for (const Shape& s : kShapes) {
          SCOPED_TRACE(::testing::Message() << "pass " << pass << ", " << s.rows << " rows x " << s.tokens
                                            << " tokens x " << s.blocks << " blocks");
          const Case c = make_case(t, s, rng);
          const std::vector<float> y = guarded_gemm(t, s, c);
          expect_equals_vec_dot(t, s, c, y);
          // The same call again (after calls of other sizes in the first pass) gives the same bits.
          const std::vector<float> again = guarded_gemm(t, s, c);
          ASSERT_EQ(0, std::memcmp(y.data(), again.data(), y.size() * sizeof(float)));
          if (::testing::Test::HasFailure()) {
            hwy::SetSupportedTargetsForTest(0);
            return;
          }
        }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// Each thread has its own scratch: threads running different shapes at once must each get the
// single-threaded results.
TEST(KernelsRegression, ConcurrentGemmCallsGiveSingleThreadResults) {
  struct Job {
    GgmlType type;
    Shape shape;
    Case c;
    std::vector<float> want;
  };
  std::vector<Job> jobs;
  std::mt19937 rng(202);
  for (GgmlType t : kTileTypes)
    for (size_t i = 0; i < 4; ++i) {
      const Shape& s = kShapes[(jobs.size() * 5 + i) % std::size(kShapes)];
      Job j{t, s, make_case(t, s, rng), {}};
      j.want = guarded_gemm(t, s, j.c);
      jobs.push_back(std::move(j));
    }
  constexpr int kThreads = 4;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th)
    threads.emplace_back([&, th] {
      for (int rep = 0; rep < 20; ++rep)
        for (size_t i = 0; i < jobs.size(); ++i) {
          const Job& j = jobs[(i + static_cast<size_t>(th) * 3 + static_cast<size_t>(rep)) % jobs.size()];
          std::vector<float> y(j.want.size(), kGuard);
          gemm_quant(j.type, j.c.w.data(), j.c.w_row, j.shape.rows, j.c.a.data(), j.c.a_row, j.shape.tokens, j.c.n,
                     y.data(), static_cast<size_t>(j.shape.rows));
          if (std::memcmp(y.data(), j.want.data(), y.size() * sizeof(float)) != 0) ++mismatches[static_cast<size_t>(th)];
        }
    });
  for (auto& t : threads) t.join();
  for (int th = 0; th < kThreads; ++th) EXPECT_EQ(mismatches[static_cast<size_t>(th)], 0) << "thread " << th;
}

// The organism models (F32 and Q8_0) in kGgml mode: after one full-context prefill and
// reset(), a prefill of other sequences gives the same logits, bit for bit, as a fresh engine,
// for one sequence and for a batch of several.
TEST(KernelsRegression, PrefillAfterResetEqualsFreshEngine) {
  for (const char* name : {"organism.gguf", "organism-q8_0.gguf"}) {
    SCOPED_TRACE(name);
    const ModelFile file = read_gguf(testing::fixture_model(name));
    const ModelConfig config = read_model_config(file);
    EngineOptions opt;
    opt.threads = 2;
    opt.mode = ActivationMode::kGgml;
    std::mt19937 rng(303);
    std::uniform_int_distribution<int32_t> id(3, static_cast<int32_t>(config.n_vocab) - 1);
    auto sequence = [&](int64_t len) {
      std::vector<int32_t> s(static_cast<size_t>(len));
      s[0] = 1;  // BOS
      for (size_t i = 1; i < s.size(); ++i) s[i] = id(rng);
      return s;
    };
    const int64_t ctx = 256;
    const std::vector<std::vector<int32_t>> first = {sequence(ctx)};
    for (const std::vector<std::vector<int32_t>>& next :
         {std::vector<std::vector<int32_t>>{sequence(ctx)},
          std::vector<std::vector<int32_t>>{sequence(ctx), sequence(ctx - 3), sequence(61), sequence(ctx)}}) {
      Engine fresh(file, config, opt);
      const Logits& want_ref = fresh.prefill(next, true);
      std::vector<std::vector<float>> want;
      for (int s = 0; s < want_ref.n_sequences(); ++s)
        for (int64_t i = 0; i < want_ref.n_rows(s); ++i) want.emplace_back(want_ref.row(s, i).begin(), want_ref.row(s, i).end());

      Engine reused(file, config, opt);
      reused.prefill(first, true);
      reused.reset();
      const Logits& got = reused.prefill(next, true);
      size_t k = 0;
      for (int s = 0; s < got.n_sequences(); ++s)
        for (int64_t i = 0; i < got.n_rows(s); ++i, ++k) {
          const auto row = got.row(s, i);
          ASSERT_EQ(row.size(), want[k].size());
          ASSERT_EQ(0, std::memcmp(row.data(), want[k].data(), row.size() * sizeof(float)))
              << "sequence " << s << ", position " << i;
        }
      EXPECT_EQ(k, want.size());
    }
  }
}

}  // namespace
}  // namespace layerlab
