// Causal softmax attention for one query head, compiled once per x86 target (AVX2, AVX-512)
// and a scalar baseline by Highway's foreach_target, chosen at run time with
// HWY_DYNAMIC_DISPATCH. New tokens go in tiles of 4 (each K/V row loaded serves all four):
// scores of 4 keys at a time, vector exp, then the V-weighted sum with the output blocks held
// in registers across all keys. Every token's result has the same bits whatever tile or call
// it was computed in.

// SSSE3/SSE4 add compile time for CPUs that are not a target of this project. Plain float ops
// gain nothing from AVX3_DL over AVX3, so it is not compiled here (dispatch then uses AVX3).
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "layerlab/runtime/attention.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "layerlab/runtime/attention.h"

HWY_BEFORE_NAMESPACE();
namespace layerlab {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET == HWY_SCALAR

// One-lane target: the plain loops (never chosen on the project's x86/arm64 targets).
void AttendHead(const HeadAttentionArgs& a) {
  for (int64_t t = 0; t < a.n_new; ++t) {
    const float* q = a.q + t * a.q_stride;
    const int64_t n = a.start + t + 1;
    float max_score = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < n; ++j) {
      const float* k = a.k + j * a.k_stride;
      float dot = 0.0f;
      for (int i = 0; i < a.head_dim_k; ++i) dot += q[i] * k[i];
      a.scores[j] = dot * a.scale;
      if (a.scores[j] > max_score) max_score = a.scores[j];
    }
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      a.scores[j] = std::exp(a.scores[j] - max_score);
      sum += a.scores[j];
    }
    const float inv_sum = static_cast<float>(1.0 / sum);
    float* out = a.out + t * a.out_stride;
    for (int i = 0; i < a.head_dim_v; ++i) out[i] = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      const float p = a.scores[j] * inv_sum;
      const float* v = a.v + j * a.v_stride;
      for (int i = 0; i < a.head_dim_v; ++i) out[i] += p * v[i];
    }
  }
}

#else

using DF = hn::ScalableTag<float>;
using D4 = hn::CappedTag<float, 4>;  // tails of head dims that are not whole vectors

// Adds the 128-bit blocks of u onto each other: 4 lanes.
template <class D, class V = hn::Vec<D>>
HWY_INLINE hn::Vec<D4> FoldBlocks(D d, V u) {
  if constexpr (hn::MaxLanes(d) <= 4) {
    return u;
  } else {
    const hn::Half<D> dh;
    return FoldBlocks(dh, hn::Add(hn::LowerHalf(dh, u), hn::UpperHalf(dh, u)));
  }
}

// Lane i of the result is the sum of all lanes of a_i: adds within 128-bit blocks by two
// interleave steps (32-bit, then 64-bit lanes), then folds the blocks onto each other. Far
// cheaper than four separate horizontal sums.
template <class D, class V = hn::Vec<D>>
HWY_INLINE hn::Vec<D4> SumsOf4(D d, V a0, V a1, V a2, V a3) {
  const V t01 = hn::Add(hn::InterleaveLower(d, a0, a1), hn::InterleaveUpper(d, a0, a1));
  const V t23 = hn::Add(hn::InterleaveLower(d, a2, a3), hn::InterleaveUpper(d, a2, a3));
  const hn::Repartition<uint64_t, D> du64;
  const auto w01 = hn::BitCast(du64, t01), w23 = hn::BitCast(du64, t23);
  return FoldBlocks(d, hn::Add(hn::BitCast(d, hn::InterleaveLower(du64, w01, w23)),
                               hn::BitCast(d, hn::InterleaveUpper(du64, w01, w23))));
}

// a * b + c through a one-lane vector: the same instruction (one rounding where the target has
// FMA) however the compiler would treat a plain expression in different surroundings, so the
// scalar tails give the same bits in every tile shape.
HWY_INLINE float MulAddLane(float a, float b, float c) {
  const hn::CappedTag<float, 1> d1;
  return hn::GetLane(hn::MulAdd(hn::Set(d1, a), hn::Set(d1, b), hn::Set(d1, c)));
}

// How a head dimension splits: [0, full) in whole vectors, [full, quad) in 4-lane vectors,
// [quad, dim) one element at a time.
struct DimSplit {
  int full, quad, dim;
  explicit DimSplit(int dim_) : dim(dim_) {
    const int n = static_cast<int>(hn::Lanes(DF()));
    full = dim / n * n;
    quad = full + (dim - full) / 4 * 4;
  }
};

// Query tokens handled together: each K/V row loaded serves all of them, which cuts the
// cache traffic that bounds this loop. AVX2 has 16 vector registers, AVX-512 and NEON 32.
constexpr int kQueryTile = kAttentionScoreRows;
#if HWY_ARCH_X86 && HWY_TARGET > HWY_AVX3
constexpr int kRegisters = 16;
#else
constexpr int kRegisters = 32;
#endif

// Scores of QT consecutive query tokens (rows q_stride apart) against keys [0, n):
// rows[r * n + j] = scale * q_r . k_j. Every score is computed the same way whatever QT and n
// are (the last partial block of keys repeats its last key), so a token gets bit-identical
// scores in a prefill tile and in a decode step.
template <int QT>
void ScoreTile(const float* q, int64_t q_stride, const float* k, int64_t k_stride, DimSplit s,
               float scale, int64_t n, float* rows) {
  const DF d;
  const D4 d4;
  const int N = static_cast<int>(hn::Lanes(d));
  const auto vscale = hn::Set(d4, scale);
  const float* qr[QT];
  for (int r = 0; r < QT; ++r) qr[r] = q + r * q_stride;
  for (int64_t j = 0; j < n; j += 4) {  // 4 keys at a time: QT x 4 independent accumulators
    const float* kc[4];
    for (int c = 0; c < 4; ++c) kc[c] = k + std::min(j + c, n - 1) * k_stride;
    hn::Vec<DF> acc[QT][4];
    for (int r = 0; r < QT; ++r)
      for (int c = 0; c < 4; ++c) acc[r][c] = hn::Zero(d);
    for (int i = 0; i < s.full; i += N) {
      hn::Vec<DF> kv[4];
      for (int c = 0; c < 4; ++c) kv[c] = hn::LoadU(d, kc[c] + i);
      for (int r = 0; r < QT; ++r) {
        const auto qv = hn::LoadU(d, qr[r] + i);
        for (int c = 0; c < 4; ++c) acc[r][c] = hn::MulAdd(qv, kv[c], acc[r][c]);
      }
    }
    hn::Vec<D4> sums[QT];
    for (int r = 0; r < QT; ++r) sums[r] = SumsOf4(d, acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
    if (s.quad > s.full) {
      hn::Vec<D4> acc4[QT][4];
      for (int r = 0; r < QT; ++r)
        for (int c = 0; c < 4; ++c) acc4[r][c] = hn::Zero(d4);
      for (int i = s.full; i < s.quad; i += 4)
        for (int r = 0; r < QT; ++r) {
          const auto qv = hn::LoadU(d4, qr[r] + i);
          for (int c = 0; c < 4; ++c)
            acc4[r][c] = hn::MulAdd(qv, hn::LoadU(d4, kc[c] + i), acc4[r][c]);
        }
      for (int r = 0; r < QT; ++r)
        sums[r] = hn::Add(sums[r], SumsOf4(d4, acc4[r][0], acc4[r][1], acc4[r][2], acc4[r][3]));
    }
    if (s.dim > s.quad) {
      for (int r = 0; r < QT; ++r) {
        HWY_ALIGN float rest[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int i = s.quad; i < s.dim; ++i)
          for (int c = 0; c < 4; ++c) rest[c] = MulAddLane(qr[r][i], kc[c][i], rest[c]);
        sums[r] = hn::Add(sums[r], hn::Load(d4, rest));
      }
    }
    const int64_t valid = std::min<int64_t>(4, n - j);
    for (int r = 0; r < QT; ++r) {
      if (valid == 4) {
        hn::StoreU(hn::Mul(sums[r], vscale), d4, rows + r * n + j);
      } else {
        HWY_ALIGN float part[4];
        hn::Store(hn::Mul(sums[r], vscale), d4, part);
        for (int64_t c = 0; c < valid; ++c) rows[r * n + j + c] = part[c];
      }
    }
  }
}

float MaxOf(const float* x, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto vmax = hn::Set(d, -std::numeric_limits<float>::infinity());
  int64_t j = 0;
  for (; j + N <= n; j += N) vmax = hn::Max(vmax, hn::LoadU(d, x + j));
  float m = hn::GetLane(hn::MaxOfLanes(d, vmax));
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// scores[j] = exp(scores[j] - max_score) for j < n; returns their sum, accumulated in double
// as ggml does. Masked scores (-inf) become 0 and add nothing, so a row padded with them
// gives bit-identical results.
double ExpAndSum(float* scores, int64_t n, float max_score) {
  const DF d;
  const hn::Half<DF> dh;
  const hn::Rebind<double, decltype(dh)> dd;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto vmax = hn::Set(d, max_score);
  auto sum_lo = hn::Zero(dd), sum_hi = hn::Zero(dd);
  int64_t j = 0;
  for (; j + N <= n; j += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, scores + j), vmax));
    hn::StoreU(e, d, scores + j);
    sum_lo = hn::Add(sum_lo, hn::PromoteTo(dd, hn::LowerHalf(dh, e)));
    sum_hi = hn::Add(sum_hi, hn::PromoteTo(dd, hn::UpperHalf(dh, e)));
  }
  if (j < n) {
    // The tail goes through the same vector exp and the same double lanes, padded with -inf
    // (exp 0): each element's exponential and lane do not depend on where the row ends.
    HWY_ALIGN float tail[hn::MaxLanes(DF())];
    for (int64_t i = 0; i < N; ++i)
      tail[i] = j + i < n ? scores[j + i] : -std::numeric_limits<float>::infinity();
    const auto e = hn::Exp(d, hn::Sub(hn::Load(d, tail), vmax));
    hn::Store(e, d, tail);
    for (int64_t i = 0; j + i < n; ++i) scores[j + i] = tail[i];
    sum_lo = hn::Add(sum_lo, hn::PromoteTo(dd, hn::LowerHalf(dh, e)));
    sum_hi = hn::Add(sum_hi, hn::PromoteTo(dd, hn::UpperHalf(dh, e)));
  }
  return hn::GetLane(hn::SumOfLanes(dd, hn::Add(sum_lo, sum_hi)));
}

// Where the weighted V sum of QT query tokens reads and writes: probability rows p_stride
// apart, output rows out_stride apart, each output row scaled by its own 1/sum.
template <int QT>
struct WeightedTile {
  const float* p;
  int64_t p_stride;
  int64_t n;  // rows of V
  const float* v;
  int64_t v_stride;
  float* out;
  int64_t out_stride;
  float inv_sum[QT];
};

// Columns [col, col + NV vectors) of out_r = inv_sum_r * sum_{j<n} p_r[j] v_j. The output block
// stays in registers across all rows of V. Each element sums over j in order whatever QT and
// NV are (and masked rows add exactly 0), so a token's output does not depend on its tile.
template <int QT, int NV, class D>
HWY_INLINE void WeightedBlock(D d, const WeightedTile<QT>& w, int col) {
  const int N = static_cast<int>(hn::Lanes(d));
  hn::Vec<D> acc[QT][NV];
  for (int r = 0; r < QT; ++r)
    for (int i = 0; i < NV; ++i) acc[r][i] = hn::Zero(d);
  const float* v = w.v + col;
  for (int64_t j = 0; j < w.n; ++j) {
    const float* vj = v + j * w.v_stride;
    hn::Vec<D> vv[NV];
    for (int i = 0; i < NV; ++i) vv[i] = hn::LoadU(d, vj + i * N);
    for (int r = 0; r < QT; ++r) {
      const auto p = hn::Set(d, w.p[r * w.p_stride + j]);
      for (int i = 0; i < NV; ++i) acc[r][i] = hn::MulAdd(p, vv[i], acc[r][i]);
    }
  }
  for (int r = 0; r < QT; ++r) {
    const auto scale = hn::Set(d, w.inv_sum[r]);
    float* out = w.out + r * w.out_stride + col;
    for (int i = 0; i < NV; ++i) hn::StoreU(hn::Mul(acc[r][i], scale), d, out + i * N);
  }
}

// Columns [col, col + nv vectors of tag D) in blocks of up to 8 vectors for one query (8
// independent FMA chains), else as many as the registers hold.
template <int QT, class D>
void WeightedVectors(D d, const WeightedTile<QT>& w, int col, int nv) {
  const int N = static_cast<int>(hn::Lanes(d));
  // Vectors per block: QT of accumulators each, plus the loaded V row and a probability.
  constexpr int kBlock = QT == 1 ? 8 : (QT * 4 + 5 <= kRegisters) ? 4 : 2;
  int i = 0;
  for (; i + kBlock <= nv; i += kBlock) WeightedBlock<QT, kBlock>(d, w, col + i * N);
  if constexpr (kBlock > 4) {
    if (i + 4 <= nv) {
      WeightedBlock<QT, 4>(d, w, col + i * N);
      i += 4;
    }
  }
  switch (nv - i) {
    case 3: WeightedBlock<QT, 3>(d, w, col + i * N); break;
    case 2: WeightedBlock<QT, 2>(d, w, col + i * N); break;
    case 1: WeightedBlock<QT, 1>(d, w, col + i * N); break;
    default: break;
  }
}

// All s.dim columns: whole vectors, then 4-lane vectors, then at most 3 single columns.
template <int QT>
void WeightedSum(const WeightedTile<QT>& w, DimSplit s) {
  const DF d;
  WeightedVectors(d, w, 0, s.full / static_cast<int>(hn::Lanes(d)));
  WeightedVectors(D4(), w, s.full, (s.quad - s.full) / 4);
  for (int r = 0; r < QT; ++r)
    for (int col = s.quad; col < s.dim; ++col) {
      float sum = 0.0f;
      for (int64_t j = 0; j < w.n; ++j)
        sum = MulAddLane(w.p[r * w.p_stride + j], w.v[j * w.v_stride + col], sum);
      w.out[r * w.out_stride + col] = sum * w.inv_sum[r];
    }
}

// Softmax of QT score rows of length n in place, as ggml does it: exponentials in float, their
// sum in double; 1/sum is returned instead of applied, the weighted sum applies it.
template <int QT>
void Softmax(float* rows, int64_t n, float* inv_sum) {
  for (int r = 0; r < QT; ++r) {
    float* row = rows + r * n;
    inv_sum[r] = static_cast<float>(1.0 / ExpAndSum(row, n, MaxOf(row, n)));
  }
}

// Query tokens [t0, t0 + QT) of the job. They share the keys up to the first one's causal
// limit; each later key is masked (-inf, so probability 0) for the tokens before it.
template <int QT>
void AttendTokens(const HeadAttentionArgs& a, int64_t t0, DimSplit split_k, DimSplit split_v,
                  float* rows) {
  const int64_t n = a.start + t0 + QT;  // keys visible to the last token of the tile
  ScoreTile<QT>(a.q + t0 * a.q_stride, a.q_stride, a.k, a.k_stride, split_k, a.scale, n, rows);
  for (int r = 0; r < QT; ++r)
    for (int64_t j = a.start + t0 + r + 1; j < n; ++j)
      rows[r * n + j] = -std::numeric_limits<float>::infinity();
  WeightedTile<QT> w{rows, n, n, a.v, a.v_stride, a.out + t0 * a.out_stride, a.out_stride, {}};
  Softmax<QT>(rows, n, w.inv_sum);
  WeightedSum<QT>(w, split_v);
}

void AttendHead(const HeadAttentionArgs& a) {
  const DimSplit split_k(a.head_dim_k), split_v(a.head_dim_v);
  int64_t t = 0;
  for (; t + kQueryTile <= a.n_new; t += kQueryTile) AttendTokens<kQueryTile>(a, t, split_k, split_v, a.scores);
  for (; t < a.n_new; ++t) AttendTokens<1>(a, t, split_k, split_v, a.scores);
}

#endif  // HWY_TARGET == HWY_SCALAR

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace layerlab
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace layerlab {

HWY_EXPORT(AttendHead);

void attend_head(const HeadAttentionArgs& a) { HWY_DYNAMIC_DISPATCH(AttendHead)(a); }

}  // namespace layerlab
#endif  // HWY_ONCE
