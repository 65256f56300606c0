// Activation quantizers against their formulas (ties included), SIMD dot products and
// matrix kernels against their scalar twins, and matmul in both modes against references
// computed here in double precision, over odd shapes and several token counts.
// Highway 1.0 leaves AVX3_DL (AVX-512 VNNI) out of the target list unless asked; the kernels
// compile it, so the per-target tests below must see it too.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL 1
#endif
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/tensor/dequantize.h"
#include "layerlab/tensor/f16.h"
#include "layerlab/tensor/kernels.h"
#include "layerlab/tensor/matmul.h"
#include "layerlab/tensor/quantize_activations.h"
#include "layerlab/util/thread_pool.h"
#include "hwy/targets.h"
#include "quant_test_data.h"
#include "test_support.h"

namespace layerlab {
namespace {

using testing::computable_types;
using testing::random_floats;
using testing::random_rows;

bool is_float(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }
int64_t row_len(GgmlType t) {  // a few blocks, not a multiple of any vector width's block count
  const auto bs = ggml_type_info(static_cast<uint32_t>(t))->block_size;
  return bs == 256 ? 768 : bs == 32 ? 352 : 343;
}

// ---------------------------------------------------------------- quantizers

TEST(Quantize, Q8_0FollowsFormulaAndRoundsTiesToEven) {
  // amax = 127 -> id = 1, so x = k + 0.5 is an exact tie.
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f; x[1] = 2.5f; x[2] = 3.5f; x[3] = -2.5f; x[4] = -3.5f; x[5] = 0.5f; x[6] = 1.4999f;
  BlockQ8_0 b;
  quantize_row_q8_0(x.data(), &b, 32);
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 2);
  EXPECT_EQ(b.qs[2], 4);
  EXPECT_EQ(b.qs[3], -2);
  EXPECT_EQ(b.qs[4], -4);
  EXPECT_EQ(b.qs[5], 0);
  EXPECT_EQ(b.qs[6], 1);
  EXPECT_EQ(b.d, fp32_to_fp16(1.0f));

  std::mt19937 rng(3);
  const auto v = random_floats(32 * 9, rng, 2.0f);
  std::vector<BlockQ8_0> q(9);
  quantize_row_q8_0(v.data(), q.data(), 32 * 9);
  for (int i = 0; i < 9; ++i) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(v[32 * i + j]));
    EXPECT_EQ(q[i].d, fp32_to_fp16(amax / 127.0f));
    for (int j = 0; j < 32; ++j) {
      const float s = v[32 * i + j] * (127.0f / amax);
      const float fl = std::floor(s), diff = s - fl;
      const int want = static_cast<int>(diff > 0.5f || (diff == 0.5f && std::fmod(fl, 2.0f) != 0) ? fl + 1 : fl);
      ASSERT_EQ(q[i].qs[j], want);
    }
  }
  std::vector<float> zeros(32, 0.0f);
  quantize_row_q8_0(zeros.data(), &b, 32);
  EXPECT_EQ(b.d, 0);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b.qs[j], 0);
}

TEST(Quantize, Q8_1StoresScaledSum) {
  std::mt19937 rng(4);
  const auto v = random_floats(64, rng);
  std::vector<BlockQ8_1> q(2);
  std::vector<BlockQ8_0> q0(2);
  quantize_row_q8_1(v.data(), q.data(), 64);
  quantize_row_q8_0(v.data(), q0.data(), 64);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(q[i].d, q0[i].d);
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      EXPECT_EQ(q[i].qs[j], q0[i].qs[j]);
      sum += q[i].qs[j];
    }
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(v[32 * i + j]));
    EXPECT_EQ(q[i].s, fp32_to_fp16(amax / 127.0f * static_cast<float>(sum)));
  }
}

TEST(Quantize, Q8_KUsesSignedMaxAndEvenTies) {
  std::vector<float> x(256, 0.0f);
  x[0] = -127.0f;  // signed max -> iscale = +1
  x[1] = 2.5f; x[2] = -3.5f; x[3] = 100.0f;
  for (int j = 16; j < 32; ++j) x[j] = 1.0f;
  BlockQ8_K b;
  quantize_row_q8_K(x.data(), &b, 256);
  EXPECT_EQ(b.d, 1.0f);
  EXPECT_EQ(b.qs[0], -127);
  EXPECT_EQ(b.qs[1], 2);
  EXPECT_EQ(b.qs[2], -4);
  EXPECT_EQ(b.qs[3], 100);
  EXPECT_EQ(b.bsums[0], -127 + 2 - 4 + 100);
  EXPECT_EQ(b.bsums[1], 16);
  x[0] = 127.0f;  // positive max -> iscale = -1, d = -1, values flip sign
  quantize_row_q8_K(x.data(), &b, 256);
  EXPECT_EQ(b.d, -1.0f);
  EXPECT_EQ(b.qs[0], -127);
  EXPECT_EQ(b.qs[1], -2);
  EXPECT_EQ(b.qs[2], 4);
  std::vector<float> zeros(256, 0.0f);
  quantize_row_q8_K(zeros.data(), &b, 256);
  EXPECT_EQ(b.d, 0.0f);
  EXPECT_EQ(b.bsums[3], 0);

  std::mt19937 rng(5);
  const auto v = random_floats(512, rng);
  std::vector<BlockQ8_K> q(2);
  quantize_row_q8_K(v.data(), q.data(), 512);
  for (int i = 0; i < 2; ++i) {
    float mx = 0;
    for (int j = 0; j < 256; ++j)
      if (std::fabs(v[256 * i + j]) > std::fabs(mx)) mx = v[256 * i + j];
    const float iscale = -127.0f / mx;
    EXPECT_EQ(q[i].d, 1.0f / iscale);
    for (int j = 0; j < 256; ++j)
      ASSERT_EQ(q[i].qs[j], std::min(127, static_cast<int>(std::nearbyint(iscale * v[256 * i + j]))));
    for (int k = 0; k < 16; ++k) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += q[i].qs[16 * k + j];
      ASSERT_EQ(q[i].bsums[k], s);
    }
  }
}

TEST(Quantize, VecDotTypesAreGgmls) {
  EXPECT_EQ(vec_dot_type(GgmlType::F16), GgmlType::F16);
  EXPECT_EQ(vec_dot_type(GgmlType::Q4_0), GgmlType::Q8_0);
  EXPECT_EQ(vec_dot_type(GgmlType::Q5_1), GgmlType::Q8_1);
  EXPECT_EQ(vec_dot_type(GgmlType::IQ4_NL), GgmlType::Q8_0);
  EXPECT_EQ(vec_dot_type(GgmlType::Q6_K), GgmlType::Q8_K);
  EXPECT_EQ(vec_dot_type(GgmlType::IQ4_XS), GgmlType::Q8_K);
  EXPECT_THROW(vec_dot_type(GgmlType::IQ2_XXS), Error);
}

// ---------------------------------------------------------------- dot products

// Quantized dot: the scalar twin must equal the formula applied with dequantized weights and
// dequantized activations (exact integer sums, so only float rounding differs).
TEST(VecDot, ScalarTwinMatchesDequantizedFormulaAndSimdMatchesTwin) {
  std::mt19937 rng(11);
  for (GgmlType t : computable_types()) {
    if (is_float(t)) continue;
    SCOPED_TRACE(std::string(ggml_type_name(t)));
    const int64_t n = row_len(t);
    auto [w, wb] = random_rows(t, 4, n, rng);
    const auto x = random_floats(static_cast<size_t>(n), rng);
    const GgmlType vdt = vec_dot_type(t);
    std::vector<std::byte> a(activation_row_bytes(vdt, n));
    quantize_activation_row(vdt, x.data(), a.data(), n);
    // Dequantized activations: q * d per block.
    std::vector<float> xa(static_cast<size_t>(n));
    if (vdt == GgmlType::Q8_K) {
      const auto* b = reinterpret_cast<const BlockQ8_K*>(a.data());
      for (int64_t i = 0; i < n; ++i) xa[i] = b[i / 256].qs[i % 256] * b[i / 256].d;
    } else if (vdt == GgmlType::Q8_1) {
      const auto* b = reinterpret_cast<const BlockQ8_1*>(a.data());
      for (int64_t i = 0; i < n; ++i) xa[i] = b[i / 32].qs[i % 32] * fp16_to_fp32(b[i / 32].d);
    } else {
      dequantize_row(GgmlType::Q8_0, a.data(), xa.data(), n);
    }
    for (int r = 0; r < 4; ++r) {
      const std::byte* row = w.data() + r * wb;
      std::vector<float> wf(static_cast<size_t>(n));
      dequantize_row(t, row, wf.data(), n);
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < n; ++i) {
        ref += double(wf[i]) * xa[i];
        mag += std::fabs(double(wf[i]) * xa[i]);
      }
      // Q4_1/Q5_1 use the f16-rounded s = d*sum(q) for the min term: allow its rounding.
      const double tol = (vdt == GgmlType::Q8_1 ? 2e-3 : 1e-5) * mag + 1e-7;
      const float scalar = vec_dot_scalar(t, n, row, a.data());
      const float simd = vec_dot(t, n, row, a.data());
      EXPECT_NEAR(scalar, ref, tol) << "row " << r;
      EXPECT_NEAR(simd, scalar, 2e-6 * mag + 1e-7) << "row " << r;
    }
  }
}

TEST(Gemm, SimdFloatKernelMatchesScalarTwin) {
  std::mt19937 rng(12);
  for (int64_t n : {7, 64, 343, 896}) {
    for (int64_t rows : {1, 3, 5, 13}) {
      for (int64_t tokens : {1, 2, 3, 7}) {
        const auto w = random_floats(static_cast<size_t>(rows * n), rng);
        const auto x = random_floats(static_cast<size_t>(tokens * n), rng);
        std::vector<float> y(rows * tokens), ys(rows * tokens);
        gemm_f32(w.data(), n, rows, x.data(), n, tokens, n, y.data(), rows);
        gemm_f32_scalar(w.data(), n, rows, x.data(), n, tokens, n, ys.data(), rows);
        for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ys[i], 1e-5 * std::sqrt(double(n)) * 4);
      }
    }
  }
}

// ---------------------------------------------------------------- matmul

struct Case {
  std::vector<std::byte> w;
  size_t row_bytes;
  WeightView view;
  std::vector<float> x;
};

Case make_case(GgmlType t, int64_t n_out, int64_t n_tokens, std::mt19937& rng) {
  Case c;
  const int64_t n = row_len(t);
  auto [w, rb] = random_rows(t, n_out, n, rng);
  c.w = std::move(w);
  c.row_bytes = rb;
  c.view = WeightView{t, n, n_out, c.w.data(), rb};
  c.x = random_floats(static_cast<size_t>(n * n_tokens), rng);
  return c;
}

TEST(Matmul, ExactModeEqualsDequantizedFloatProduct) {
  std::mt19937 rng(21);
  ThreadPool pool(2);
  for (GgmlType t : computable_types()) {
    SCOPED_TRACE(std::string(ggml_type_name(t)));
    for (int64_t n_tokens : {1, 2, 3, 7, 64}) {
      const int64_t n_out = 37;
      Case c = make_case(t, n_out, n_tokens, rng);
      const int64_t n = c.view.n_in;
      std::vector<float> y(static_cast<size_t>(n_out * n_tokens));
      matmul(c.view, c.x.data(), n_tokens, y.data(), ActivationMode::kExact, pool);
      std::vector<float> wf(static_cast<size_t>(n));
      for (int64_t r = 0; r < n_out; ++r) {
        dequantize_row_scalar(t, c.w.data() + r * c.row_bytes, wf.data(), n);
        for (int64_t tk = 0; tk < n_tokens; ++tk) {
          double ref = 0, mag = 0;
          for (int64_t i = 0; i < n; ++i) {
            ref += double(wf[i]) * c.x[tk * n + i];
            mag += std::fabs(double(wf[i]) * c.x[tk * n + i]);
          }
          ASSERT_NEAR(y[tk * n_out + r], ref, 1e-5 * mag + 1e-9) << "row " << r << " token " << tk;
        }
      }
    }
  }
}

TEST(Matmul, GgmlModeEqualsScalarTwinOnConvertedActivations) {
  std::mt19937 rng(22);
  ThreadPool pool(2);
  for (GgmlType t : computable_types()) {
    SCOPED_TRACE(std::string(ggml_type_name(t)));
    for (int64_t n_tokens : {1, 2, 3, 7, 64}) {
      const int64_t n_out = 37;
      Case c = make_case(t, n_out, n_tokens, rng);
      const int64_t n = c.view.n_in;
      std::vector<float> y(static_cast<size_t>(n_out * n_tokens));
      matmul(c.view, c.x.data(), n_tokens, y.data(), ActivationMode::kGgml, pool);
      const GgmlType vdt = vec_dot_type(t);
      std::vector<float> wf(static_cast<size_t>(n));
      for (int64_t tk = 0; tk < n_tokens; ++tk) {
        const float* xt = c.x.data() + tk * n;
        std::vector<std::byte> a;
        std::vector<float> xr(xt, xt + n);
        if (t == GgmlType::F16) for (auto& v : xr) v = round_to_fp16(v);
        if (t == GgmlType::BF16) for (auto& v : xr) v = round_to_bf16(v);
        if (!is_float(t)) {
          a.resize(activation_row_bytes(vdt, n));
          quantize_activation_row(vdt, xt, a.data(), n);
        }
        for (int64_t r = 0; r < n_out; ++r) {
          const std::byte* row = c.w.data() + r * c.row_bytes;
          dequantize_row_scalar(t, row, wf.data(), n);
          double mag = 0;
          for (int64_t i = 0; i < n; ++i) mag += std::fabs(double(wf[i]) * xt[i]);
          double ref;
          if (is_float(t)) {
            ref = 0;
            for (int64_t i = 0; i < n; ++i) ref += double(wf[i]) * xr[i];  // products exact in f32
          } else {
            ref = vec_dot_scalar(t, n, row, a.data());
          }
          ASSERT_NEAR(y[tk * n_out + r], ref, 2e-6 * mag + 1e-9) << "row " << r << " token " << tk;
        }
      }
    }
  }
}

TEST(Matmul, ThreadCountDoesNotChangeResults) {
  std::mt19937 rng(23);
  ThreadPool one(1), two(2);
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
    for (auto mode : {ActivationMode::kExact, ActivationMode::kGgml}) {
      Case c = make_case(t, 101, 5, rng);
      std::vector<float> y1(101 * 5), y2(101 * 5);
      matmul(c.view, c.x.data(), 5, y1.data(), mode, one);
      matmul(c.view, c.x.data(), 5, y2.data(), mode, two);
      EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float))) << ggml_type_name(t);
    }
  }
}

// The blocked prefill kernels compute each (row, token) pair with the same operations as the
// decode dot product, so prefill and decode give identical numbers.
// Decode lays its row streams over each thread's whole range (runs of n_rows / 4 rows read side
// by side, leftover rows alone): row counts below, at and well above a 16-row tile, odd ones
// included, with 1 and 2 threads.
TEST(Matmul, PrefillEqualsDecodeBitExactly) {
  std::mt19937 rng(24);
  ThreadPool one(1), two(2);
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q4_1, GgmlType::Q4_K, GgmlType::Q6_K,
                     GgmlType::Q3_K}) {
    for (int64_t n_out : {3, 37, 203}) {
      Case c = make_case(t, n_out, 7, rng);
      std::vector<float> y(static_cast<size_t>(n_out * 7)), y1(static_cast<size_t>(n_out));
      matmul(c.view, c.x.data(), 7, y.data(), ActivationMode::kGgml, two);
      for (int64_t tk = 0; tk < 7; ++tk) {
        for (ThreadPool* pool : {&one, &two}) {
          matmul(c.view, c.x.data() + tk * c.view.n_in, 1, y1.data(), ActivationMode::kGgml, *pool);
          EXPECT_EQ(0, std::memcmp(y1.data(), y.data() + tk * n_out, y1.size() * sizeof(float)))
              << ggml_type_name(t) << " rows " << n_out << " token " << tk << " threads " << pool->size();
        }
      }
    }
  }
}

// F16 decode reads its rows as 8 runs side by side; each row must still get the bits of the
// one-row kernel, whatever the row count or thread count.
TEST(Matmul, F16DecodeRowsEqualTheOneRowKernel) {
  std::mt19937 rng(25);
  ThreadPool one(1), two(2);
  for (int64_t n_out : {3, 37, 203}) {
    Case c = make_case(GgmlType::F16, n_out, 1, rng);
    const int64_t n = c.view.n_in;
    std::vector<float> y1(static_cast<size_t>(n_out)), y2(static_cast<size_t>(n_out));
    matmul(c.view, c.x.data(), 1, y1.data(), ActivationMode::kExact, one);
    matmul(c.view, c.x.data(), 1, y2.data(), ActivationMode::kExact, two);
    for (int64_t r = 0; r < n_out; ++r) {
      float alone = 0.0f;
      gemv_f16(reinterpret_cast<const uint16_t*>(c.w.data() + r * c.row_bytes), c.row_bytes / 2, 1, c.x.data(), n,
               &alone);
      ASSERT_EQ(0, std::memcmp(&alone, &y1[static_cast<size_t>(r)], sizeof(float))) << "rows " << n_out << " row " << r;
      ASSERT_EQ(0, std::memcmp(&alone, &y2[static_cast<size_t>(r)], sizeof(float))) << "rows " << n_out << " row " << r;
    }
  }
}

TEST(Matmul, RejectsBadShapesAndTypes) {
  ThreadPool pool(1);
  std::vector<std::byte> buf(1024);
  std::vector<float> x(64), y(4);
  WeightView bad_len{GgmlType::Q8_0, 48, 1, buf.data(), 34 * 2};
  EXPECT_THROW(matmul(bad_len, x.data(), 1, y.data(), ActivationMode::kGgml, pool), Error);
  WeightView bad_stride{GgmlType::Q8_0, 64, 1, buf.data(), 34};
  EXPECT_THROW(matmul(bad_stride, x.data(), 1, y.data(), ActivationMode::kExact, pool), Error);
  WeightView bad_type{GgmlType::IQ2_XXS, 256, 1, buf.data(), 66};
  EXPECT_THROW(matmul(bad_type, x.data(), 1, y.data(), ActivationMode::kExact, pool), Error);
}

// matmul_multi computes several weights of the same input in one pass of the pool; each
// output must equal its own matmul call bit for bit, with types sharing and not sharing an
// activation conversion, in both modes, for decode and prefill, on 1 and 2 threads.
TEST(MatmulMulti, EqualsSeparateMatmulsBitExactly) {
  std::mt19937 rng(51);
  ThreadPool one(1), two(2);
  const int64_t n = 768;  // a multiple of every block size
  std::vector<GgmlType> types = computable_types();
  types.push_back(GgmlType::Q8_0);  // a second weight sharing Q8_0's conversion
  types.push_back(GgmlType::F16);
  std::vector<std::vector<std::byte>> data;
  std::vector<WeightView> views;
  for (size_t i = 0; i < types.size(); ++i) {
    const int64_t n_out = 29 + 7 * static_cast<int64_t>(i);  // partial tiles everywhere
    auto [w, rb] = random_rows(types[i], n_out, n, rng);
    data.push_back(std::move(w));
    views.push_back(WeightView{types[i], n, n_out, data.back().data(), rb});
  }
  for (int64_t n_tokens : {1, 2, 5, 64}) {
    const auto x = random_floats(static_cast<size_t>(n * n_tokens), rng);
    for (auto mode : {ActivationMode::kExact, ActivationMode::kGgml}) {
      for (ThreadPool* pool : {&one, &two}) {
        SCOPED_TRACE("tokens " + std::to_string(n_tokens) + " threads " + std::to_string(pool->size()) +
                     (mode == ActivationMode::kExact ? " exact" : " ggml"));
        std::vector<std::vector<float>> multi(views.size()), single(views.size());
        std::vector<MatmulJob> jobs;
        for (size_t i = 0; i < views.size(); ++i) {
          multi[i].assign(static_cast<size_t>(views[i].n_out * n_tokens), -1.0f);
          single[i].assign(multi[i].size(), -2.0f);
          jobs.push_back(MatmulJob{views[i], multi[i].data()});
          matmul(views[i], x.data(), n_tokens, single[i].data(), mode, *pool);
        }
        matmul_multi(jobs, x.data(), n_tokens, mode, *pool);
        for (size_t i = 0; i < views.size(); ++i)
          EXPECT_EQ(0, std::memcmp(multi[i].data(), single[i].data(), multi[i].size() * sizeof(float)))
              << ggml_type_name(types[i]) << " (job " << i << ")";
      }
    }
  }
}

// Decode with q/k/v-like weights wakes the pool once (the activations are quantized on the
// calling thread); prefill twice (conversion, then all tiles), however many weights.
TEST(MatmulMulti, WakesThePoolOncePerPass) {
  std::mt19937 rng(52);
  ThreadPool pool(2);
  const int64_t n = 256;
  std::vector<std::vector<std::byte>> data;
  std::vector<MatmulJob> jobs;
  std::vector<std::vector<float>> ys;
  for (auto [t, n_out] : {std::pair{GgmlType::Q8_0, int64_t{64}}, {GgmlType::Q4_K, 32}, {GgmlType::Q6_K, 48}}) {
    auto [w, rb] = random_rows(t, n_out, n, rng);
    data.push_back(std::move(w));
    ys.emplace_back(static_cast<size_t>(n_out * 4));
    jobs.push_back(MatmulJob{WeightView{t, n, n_out, data.back().data(), rb}, ys.back().data()});
  }
  const auto x = random_floats(static_cast<size_t>(n * 4), rng);
  uint64_t before = pool.dispatches();
  matmul_multi(jobs, x.data(), 1, ActivationMode::kGgml, pool);
  EXPECT_EQ(pool.dispatches() - before, 1u);
  before = pool.dispatches();
  matmul_multi(jobs, x.data(), 4, ActivationMode::kGgml, pool);
  EXPECT_EQ(pool.dispatches() - before, 2u);
}

TEST(MatmulMulti, RejectsDifferentRowLengths) {
  ThreadPool pool(1);
  std::vector<std::byte> buf(34 * 4);
  std::vector<float> x(64), y(4);
  const MatmulJob jobs[2] = {{WeightView{GgmlType::Q8_0, 64, 1, buf.data(), 34 * 2}, y.data()},
                             {WeightView{GgmlType::Q8_0, 32, 1, buf.data(), 34}, y.data() + 1}};
  EXPECT_THROW(matmul_multi(jobs, x.data(), 1, ActivationMode::kGgml, pool), Error);
}

// The tests above run only the CPU's best target. Here every compiled target the CPU supports
// (AVX-512, AVX2, the portable baseline) must match the scalar twins, with prefill equal to
// decode bit for bit, over row counts that leave partial tiles and odd block counts.
TEST(MatmulTargets, EveryTargetMatchesScalarTwin) {
  std::mt19937 rng(41);
  ThreadPool pool(2);
  std::set<std::string> dispatched;
  const auto targets = hwy::SupportedAndGeneratedTargets();
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    dispatched.insert(simd_target_name());
    {
      const auto v = random_floats(32 * 11, rng, 3.0f);
      std::vector<BlockQ8_0> q(11), qs(11);
      quantize_row_q8_0(v.data(), q.data(), 32 * 11);
      quantize_row_q8_0_scalar(v.data(), qs.data(), 32 * 11);
      EXPECT_EQ(0, std::memcmp(q.data(), qs.data(), q.size() * sizeof(BlockQ8_0))) << "Q8_0 quantizer";
      std::vector<float> f(32 * 11), fs(32 * 11);
      dequantize_row(GgmlType::Q8_0, reinterpret_cast<const std::byte*>(q.data()), f.data(), 32 * 11);
      dequantize_row_scalar(GgmlType::Q8_0, reinterpret_cast<const std::byte*>(q.data()), fs.data(), 32 * 11);
      EXPECT_EQ(0, std::memcmp(f.data(), fs.data(), f.size() * sizeof(float))) << "Q8_0 dequantization";
    }
    SCOPED_TRACE(std::string(hwy::TargetName(target)) + " dispatched as " + simd_target_name());
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16}) {
      SCOPED_TRACE(std::string(ggml_type_name(t)));
      const int64_t n_out = 11, n_tokens = 9;
      Case c = make_case(t, n_out, n_tokens, rng);
      const int64_t n = c.view.n_in;
      std::vector<float> y(static_cast<size_t>(n_out * n_tokens)), y1(static_cast<size_t>(n_out));
      matmul(c.view, c.x.data(), n_tokens, y.data(), ActivationMode::kGgml, pool);
      for (int64_t tk = 0; tk < n_tokens; ++tk) {
        const float* xt = c.x.data() + tk * n;
        matmul(c.view, xt, 1, y1.data(), ActivationMode::kGgml, pool);
        std::vector<float> wf(static_cast<size_t>(n)), xr(xt, xt + n);
        std::vector<std::byte> a;
        if (t == GgmlType::F16) {
          for (auto& v : xr) v = round_to_fp16(v);
        } else {
          a.resize(activation_row_bytes(vec_dot_type(t), n));
          quantize_activation_row(vec_dot_type(t), xt, a.data(), n);
          EXPECT_EQ(0, std::memcmp(y1.data(), y.data() + tk * n_out, y1.size() * sizeof(float))) << "token " << tk;
        }
        for (int64_t r = 0; r < n_out; ++r) {
          const std::byte* row = c.w.data() + r * c.row_bytes;
          dequantize_row_scalar(t, row, wf.data(), n);
          double mag = 0, ref = 0;
          for (int64_t i = 0; i < n; ++i) {
            mag += std::fabs(double(wf[i]) * xt[i]);
            ref += double(wf[i]) * xr[i];
          }
          if (t != GgmlType::F16) {
            ref = vec_dot_scalar(t, n, row, a.data());
            const float dot = vec_dot(t, n, row, a.data());
            ASSERT_NEAR(dot, ref, 2e-6 * mag + 1e-9) << "row " << r;
            // vec_dot is a 1 x 1 tile: the same bits as the prefill tiles.
            EXPECT_EQ(0, std::memcmp(&dot, &y[tk * n_out + r], sizeof(float))) << "row " << r << " token " << tk;
          }
          ASSERT_NEAR(y[tk * n_out + r], ref, 2e-6 * mag + 1e-9) << "row " << r << " token " << tk;
        }
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  std::string names;
  for (const auto& d : dispatched) names += d + " ";
  std::printf("dispatched targets: %s\n", names.c_str());
  if (targets.size() > 1) {
    EXPECT_GT(dispatched.size(), 1u);
  }
}

// Integer sums at their limits: weights -128 / 127 and activations +-127 with unit scales,
// so every block sum (|.| <= 32 * 128 * 127) and the whole row (< 2^24) are exact in float and
// each result must equal the exact integer dot product, on every target. Then, through
// gemm_quant directly with more rows than one packed row group and token counts that leave
// partial tile groups: every (row, token) equals vec_dot bit for bit, and Q8_0 results are the
// same bits on every AVX-512 target (maddubs + madd and vpdpbusd give the same int32 lanes).
TEST(MatmulTargets, Q8_0IntegerLimitsAndTilesAgreeOnEveryTarget) {
  std::mt19937 rng(43);
  const int64_t nb = 11, n = 32 * nb, n_rows = 37, n_tokens = 13;
  const uint16_t one = fp32_to_fp16(1.0f);
  std::vector<BlockQ8_0> w(static_cast<size_t>(n_rows * nb)), a(static_cast<size_t>(n_tokens * nb));
  std::uniform_int_distribution<int> coin(0, 1), any(-128, 127), act(-127, 127);
  for (size_t i = 0; i < w.size(); ++i) {
    w[i].d = one;
    for (auto& q : w[i].qs) q = static_cast<int8_t>(i % 3 == 0 ? (coin(rng) ? 127 : -128) : any(rng));
  }
  for (size_t i = 0; i < a.size(); ++i) {
    a[i].d = one;
    for (auto& q : a[i].qs) q = static_cast<int8_t>(i % 3 == 0 ? (coin(rng) ? 127 : -127) : act(rng));
  }
  // Same-sign extremes in one row and one token: the largest block sums of both signs.
  for (int64_t i = 0; i < nb; ++i) {
    for (auto& q : w[i].qs) q = -128;
    for (auto& q : a[i].qs) q = (i % 2) ? 127 : -127;
  }
  const auto* wb = reinterpret_cast<const std::byte*>(w.data());
  const auto* ab = reinterpret_cast<const std::byte*>(a.data());
  const size_t rb = nb * sizeof(BlockQ8_0);
  std::vector<float> avx512_result;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(std::string(hwy::TargetName(target)) + " dispatched as " + simd_target_name());
    std::vector<float> y(static_cast<size_t>(n_rows * n_tokens));
    gemm_quant(GgmlType::Q8_0, wb, rb, n_rows, ab, rb, n_tokens, n, y.data(), n_rows);
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t r = 0; r < n_rows; ++r) {
        int64_t exact = 0;
        for (int64_t i = 0; i < nb; ++i)
          for (int j = 0; j < 32; ++j) exact += int64_t(w[r * nb + i].qs[j]) * a[t * nb + i].qs[j];
        const float got = y[t * n_rows + r];
        ASSERT_EQ(got, static_cast<float>(exact)) << "row " << r << " token " << t;
        const float dot = vec_dot(GgmlType::Q8_0, n, wb + r * rb, ab + t * rb);
        ASSERT_EQ(0, std::memcmp(&dot, &got, sizeof(float))) << "row " << r << " token " << t;
      }
    // Random scales too, for the float part of the agreement.
    std::vector<BlockQ8_0> ws = w, as = a;
    std::mt19937 same(7);  // identical scales for every target
    for (auto& b : ws) b.d = fp32_to_fp16(std::uniform_real_distribution<float>(0.001f, 0.1f)(same));
    for (auto& b : as) b.d = fp32_to_fp16(std::uniform_real_distribution<float>(0.001f, 0.1f)(same));
    const auto* wsb = reinterpret_cast<const std::byte*>(ws.data());
    const auto* asb = reinterpret_cast<const std::byte*>(as.data());
    gemm_quant(GgmlType::Q8_0, wsb, rb, n_rows, asb, rb, n_tokens, n, y.data(), n_rows);
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t r = 0; r < n_rows; ++r) {
        const float dot = vec_dot(GgmlType::Q8_0, n, wsb + r * rb, asb + t * rb);
        ASSERT_EQ(0, std::memcmp(&dot, &y[t * n_rows + r], sizeof(float))) << "row " << r << " token " << t;
      }
    if (target == HWY_AVX3 || target == HWY_AVX3_DL) {
      if (avx512_result.empty()) avx512_result = y;
      else EXPECT_EQ(0, std::memcmp(avx512_result.data(), y.data(), y.size() * sizeof(float))) << "AVX3 vs AVX3_DL";
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// A real weight: llama-q8_0's attn_q in kGgml mode against a per-row scalar evaluation, and in
// kExact mode against llama-f16's same matrix within the quantization error.
TEST(MatmulFixtures, LlamaQ8_0AttnQ) {
  const ModelFile q8 = read_gguf(testing::fixture_model("llama-q8_0.gguf"));
  const ModelFile f16 = read_gguf(testing::fixture_model("llama-f16.gguf"));
  const TensorInfo* tq = q8.find_tensor("blk.2.attn_q.weight");
  const TensorInfo* tf = f16.find_tensor("blk.2.attn_q.weight");
  ASSERT_TRUE(tq && tf);
  const int64_t n = tq->ne[0], n_out = tq->ne[1], n_tokens = 3;
  WeightView wq{tq->type, n, n_out, tq->data.data(), static_cast<size_t>(tq->row_bytes())};
  WeightView wf{tf->type, n, n_out, tf->data.data(), static_cast<size_t>(tf->row_bytes())};
  std::mt19937 rng(31);
  const auto x = random_floats(static_cast<size_t>(n * n_tokens), rng);
  ThreadPool pool(2);
  std::vector<float> yq(n_out * n_tokens), yf(n_out * n_tokens), yg(n_out * n_tokens);
  matmul(wq, x.data(), n_tokens, yq.data(), ActivationMode::kExact, pool);
  matmul(wf, x.data(), n_tokens, yf.data(), ActivationMode::kExact, pool);
  matmul(wq, x.data(), n_tokens, yg.data(), ActivationMode::kGgml, pool);
  double se = 0, sv = 0;
  for (size_t i = 0; i < yq.size(); ++i) {
    se += double(yq[i] - yf[i]) * (yq[i] - yf[i]);
    sv += double(yf[i]) * yf[i];
  }
  EXPECT_LT(std::sqrt(se / sv), 0.01);  // Q8_0 weights: ~0.3% relative error
  EXPECT_GT(std::sqrt(se / sv), 1e-5);
  std::vector<std::byte> a(activation_row_bytes(GgmlType::Q8_0, n));
  for (int64_t t = 0; t < n_tokens; ++t) {
    quantize_activation_row(GgmlType::Q8_0, x.data() + t * n, a.data(), n);
    for (int64_t r = 0; r < n_out; ++r) {
      const float ref = vec_dot_scalar(GgmlType::Q8_0, n, wq.data + r * wq.row_bytes, a.data());
      ASSERT_NEAR(yg[t * n_out + r], ref, 1e-5 * (std::fabs(ref) + 1.0f));
    }
  }
}


// Q4_K prefill on every target: rows of 1..37 (partial row tiles and more than one packed row
// group), 2..13 tokens (partial token groups), 1, 2, 3 and 5 blocks per row. Every (row, token)
// of gemm_quant equals vec_dot bit for bit. Scales of both signs; some rows have zero scales
// and mins and some tokens are all zero, so signed zeros must match too.
TEST(MatmulTargets, Q4_KPrefillEqualsVecDotOnEveryTarget) {
  constexpr size_t kBlockBytes = 144;  // d, dmin (f16), 12 packed scale/min bytes, 128 nibble bytes
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(std::string(hwy::TargetName(target)) + " dispatched as " + simd_target_name());
    std::mt19937 rng(47);  // the same data for every target
    for (int64_t nb : {1, 2, 3, 5}) {
      const int64_t n = 256 * nb;
      const size_t rb = static_cast<size_t>(nb) * kBlockBytes;
      const int64_t max_rows = 37, max_tokens = 13;
      std::vector<std::byte> w(rb * max_rows);
      std::uniform_int_distribution<int> byte(0, 255);
      std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
      for (int64_t r = 0; r < max_rows; ++r)
        for (int64_t i = 0; i < nb; ++i) {
          std::byte* b = w.data() + r * rb + i * kBlockBytes;
          const bool zero = r % 7 == 3;
          const uint16_t d = fp32_to_fp16(zero ? 0.0f : scale(rng)), dmin = fp32_to_fp16(zero ? 0.0f : scale(rng));
          std::memcpy(b, &d, 2);
          std::memcpy(b + 2, &dmin, 2);
          for (size_t k = 4; k < kBlockBytes; ++k) b[k] = static_cast<std::byte>(byte(rng));
          if (zero)
            for (size_t k = 4; k < 16; ++k) b[k] = std::byte{0};
        }
      const size_t ab = activation_row_bytes(GgmlType::Q8_K, n);
      std::vector<std::byte> a(ab * max_tokens);
      for (int64_t t = 0; t < max_tokens; ++t) {
        auto x = random_floats(static_cast<size_t>(n), rng, 2.0f);
        if (t == 4) std::fill(x.begin(), x.end(), 0.0f);
        quantize_activation_row(GgmlType::Q8_K, x.data(), a.data() + t * ab, n);
      }
      for (int64_t n_rows : {1, 5, 16, 19, 37})
        for (int64_t n_tokens = 2; n_tokens <= max_tokens; ++n_tokens) {
          std::vector<float> y(static_cast<size_t>(n_rows * n_tokens));
          gemm_quant(GgmlType::Q4_K, w.data(), rb, n_rows, a.data(), ab, n_tokens, n, y.data(), n_rows);
          for (int64_t t = 0; t < n_tokens; ++t)
            for (int64_t r = 0; r < n_rows; ++r) {
              const float dot = vec_dot(GgmlType::Q4_K, n, w.data() + r * rb, a.data() + t * ab);
              ASSERT_EQ(0, std::memcmp(&dot, &y[t * n_rows + r], sizeof(float)))
                  << "blocks " << nb << " rows " << n_rows << " tokens " << n_tokens << " row " << r << " token "
                  << t << ": " << dot << " vs " << y[t * n_rows + r];
            }
        }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace
}  // namespace layerlab
