// The delta rule of Gated DeltaNet (declared in gated_deltanet.h), compiled once per x86 target
// (AVX2, AVX-512) and a baseline by Highway's foreach_target, chosen at run time with
// HWY_DYNAMIC_DISPATCH.
//
// Recurrent form (decode): per token and state row, the decay + M k dot and the update + M q dot
// run over the row's lanes in float, as before.
//
// Chunked form (prefill): every step of a chunk is a small dense product over S, written as
// C (+|-)= A B with B's rows contiguous, so one register-blocked kernel (a tile of rows of C by
// a few vectors of columns, held in registers across the whole k loop) does all of them. The
// state lives transposed ([key i][value j]) and in double during the call, so M0 q_t, W M0^T and
// the state update all read contiguous rows of it. Chunk-local quantities stay in double (8
// lanes on AVX-512): the forward substitution of (I + A) can amplify rounding, and the products
// are a small part of a prefill once vectorised, so float would buy little and risk the
// agreement with the recurrence.

// SSSE3/SSE4 add compile time for CPUs that are not a target of this project. Plain float and
// double ops gain nothing from AVX3_DL over AVX3, so it is not compiled here.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "layerlab/runtime/delta_rule_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/aligned_allocator.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "layerlab/runtime/gated_deltanet.h"

HWY_BEFORE_NAMESPACE();
namespace layerlab {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// --- Recurrent form -----------------------------------------------------------------------------

void DeltaRuleRecurrent(const DeltaHeadArgs& a) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t S = a.state_size;
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const float* q = a.q + t * a.qk_stride;
    const float* k = a.k + t * a.qk_stride;
    const float* v = a.v + t * a.v_stride;
    const float decay = std::exp(a.g[t * a.gb_stride]);
    const float beta = a.beta[t * a.gb_stride];
    float* o = a.out + t * a.out_stride;
    const auto vdecay = hn::Set(d, decay);
    // Row j of M only depends on v_j: decay, delta update and output, one row at a time.
    for (int64_t j = 0; j < S; ++j) {
      float* row = a.state + j * S;
      auto acc = hn::Zero(d);
      int64_t i = 0;
      for (; i + N <= S; i += N) {
        const auto r = hn::Mul(hn::LoadU(d, row + i), vdecay);
        hn::StoreU(r, d, row + i);
        acc = hn::MulAdd(r, hn::LoadU(d, k + i), acc);
      }
      float mk = hn::GetLane(hn::SumOfLanes(d, acc));
      for (; i < S; ++i) {
        row[i] *= decay;
        mk += row[i] * k[i];
      }
      const float delta = beta * (v[j] - mk);
      const auto vdelta = hn::Set(d, delta);
      acc = hn::Zero(d);
      i = 0;
      for (; i + N <= S; i += N) {
        const auto r = hn::MulAdd(vdelta, hn::LoadU(d, k + i), hn::LoadU(d, row + i));
        hn::StoreU(r, d, row + i);
        acc = hn::MulAdd(r, hn::LoadU(d, q + i), acc);
      }
      float mq = hn::GetLane(hn::SumOfLanes(d, acc));
      for (; i < S; ++i) {
        row[i] += delta * k[i];
        mq += row[i] * q[i];
      }
      o[j] = mq;
    }
  }
}

// --- Chunked form --------------------------------------------------------------------------------
//
// Within a chunk of L tokens with cumulative log decay G_t (from the chunk start) and the
// state M0 before it, the recurrence unrolls to
//   M_t = e^{G_t} M0 + sum_{s<=t} e^{G_t - G_s} u_s k_s^T,
//   u_t = beta_t (v_t - e^{G_t} M0 k_t - sum_{s<t} e^{G_t - G_s} (k_s.k_t) u_s),
// i.e. (I + A) U = beta V - (beta e^G K) M0^T with A_ts = beta_t e^{G_t-G_s} k_t.k_s (s < t):
// one forward substitution per chunk gives W = (I+A)^-1 (beta e^G K) and
// V' = (I+A)^-1 (beta V), so U = V' - W M0^T. Then
//   o_t = e^{G_t} M0 q_t + sum_{s<=t} e^{G_t-G_s} (q_t.k_s) u_s,
//   M_L = e^{G_L} M0 + sum_s e^{G_L-G_s} u_s k_s^T.
// The chunk-local quantities are kept in double, so the result equals the float recurrence
// to float rounding. Every step below is a small product C (=|+=|-=) A B in double.


using DD = hn::ScalableTag<double>;
enum class Acc { kAssign, kAdd, kSub };

// Rows of C held per tile, and column vectors per tile: 4 x 4 accumulators fit AVX-512's 32
// registers with the B row and the broadcast; 4 x 2 fit the 16 of AVX2.
constexpr int kTileRows = 4;
constexpr int kMaxTileVecs = HWY_MAX_BYTES >= 64 ? 4 : 2;

// One tile: rows [0, R) of C by R vectors' columns from c0, over k in [0, K).
template <int R, int V, Acc kAcc>
HWY_INLINE void Tile(const double* HWY_RESTRICT A, size_t lda, const double* HWY_RESTRICT B, size_t ldb,
                     double* HWY_RESTRICT C, size_t ldc, size_t K) {
  const DD d;
  const size_t N = hn::Lanes(d);
  hn::Vec<DD> acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < V; ++c) acc[r][c] = hn::Zero(d);
  for (size_t k = 0; k < K; ++k) {
    hn::Vec<DD> b[V];
    for (int c = 0; c < V; ++c) b[c] = hn::LoadU(d, B + k * ldb + c * N);
    for (int r = 0; r < R; ++r) {
      const auto x = hn::Set(d, A[r * lda + k]);
      for (int c = 0; c < V; ++c) acc[r][c] = hn::MulAdd(x, b[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < V; ++c) {
      double* p = C + r * ldc + c * N;
      if (kAcc == Acc::kAssign)
        hn::StoreU(acc[r][c], d, p);
      else if (kAcc == Acc::kAdd)
        hn::StoreU(hn::Add(hn::LoadU(d, p), acc[r][c]), d, p);
      else
        hn::StoreU(hn::Sub(hn::LoadU(d, p), acc[r][c]), d, p);
    }
}

// All row tiles of one panel of V column vectors. With `causal`, row t only has nonzero A[t][k]
// for k <= t, so a tile of rows stops k at its last row.
template <int V, Acc kAcc>
HWY_INLINE void Panel(const double* A, size_t lda, const double* B, size_t ldb, double* C, size_t ldc, size_t M,
                      size_t K, bool causal) {
  size_t m = 0;
  for (; m + kTileRows <= M; m += kTileRows) {
    const size_t k_end = causal ? std::min(K, m + kTileRows) : K;
    Tile<kTileRows, V, kAcc>(A + m * lda, lda, B, ldb, C + m * ldc, ldc, k_end);
  }
  for (; m < M; ++m) {
    const size_t k_end = causal ? std::min(K, m + 1) : K;
    Tile<1, V, kAcc>(A + m * lda, lda, B, ldb, C + m * ldc, ldc, k_end);
  }
}

// C[M][n_cols] (=|+=|-=) A[M][K] B[K][n_cols]; n_cols a multiple of the lane count. Column
// panels outside, so a panel of B stays in L1 while every row tile passes over it.
template <Acc kAcc>
void Gemm(const double* A, size_t lda, const double* B, size_t ldb, double* C, size_t ldc, size_t M, size_t n_cols,
          size_t K, bool causal = false) {
  const size_t N = hn::Lanes(DD());
  size_t c = 0;
  for (; c + kMaxTileVecs * N <= n_cols; c += kMaxTileVecs * N)
    Panel<kMaxTileVecs, kAcc>(A, lda, B + c, ldb, C + c, ldc, M, K, causal);
  if (kMaxTileVecs > 2)
    for (; c + 2 * N <= n_cols; c += 2 * N) Panel<2, kAcc>(A, lda, B + c, ldb, C + c, ldc, M, K, causal);
  for (; c < n_cols; c += N) Panel<1, kAcc>(A, lda, B + c, ldb, C + c, ldc, M, K, causal);
}

// x[0, n) -= f * y[0, n), n a multiple of the lane count.
HWY_INLINE void SubScaled(double* HWY_RESTRICT x, double f, const double* HWY_RESTRICT y, size_t n) {
  const DD d;
  const auto vf = hn::Set(d, f);
  for (size_t i = 0; i < n; i += hn::Lanes(d))
    hn::StoreU(hn::NegMulAdd(vf, hn::LoadU(d, y + i), hn::LoadU(d, x + i)), d, x + i);
}

HWY_INLINE void Scale(double* x, double f, size_t n) {
  const DD d;
  const auto vf = hn::Set(d, f);
  for (size_t i = 0; i < n; i += hn::Lanes(d)) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), vf), d, x + i);
}

// dst[0, Sp) = scale * src[0, S), zero past S; Sp a multiple of the lane count.
HWY_INLINE void WidenRow(const float* HWY_RESTRICT src, size_t S, double scale, double* HWY_RESTRICT dst, size_t Sp) {
  const DD d;
  const hn::Rebind<float, DD> df;
  const size_t N = hn::Lanes(d);
  const auto vs = hn::Set(d, scale);
  size_t i = 0;
  for (; i + N <= S; i += N) hn::StoreU(hn::Mul(hn::PromoteTo(d, hn::LoadU(df, src + i)), vs), d, dst + i);
  for (; i < S; ++i) dst[i] = scale * static_cast<double>(src[i]);
  for (; i < Sp; ++i) dst[i] = 0.0;
}

// Per-thread buffers, grown to the largest head and chunk seen (a prefill calls this for every
// head of every layer).
double* ChunkScratch(size_t n) {
  thread_local hwy::AlignedFreeUniquePtr<double[]> buffer;
  thread_local size_t capacity = 0;
  if (n > capacity) {
    buffer = hwy::AllocateAligned<double>(n);
    capacity = n;
  }
  return buffer.get();
}

size_t RoundUp(size_t x, size_t n) { return (x + n - 1) / n * n; }

// The math is in the comment above gated_deltanet_block in gated_deltanet.cpp. Layouts (Sp = S
// rounded up to the lane count, Lp = chunk rounded up; padding columns are zero and stay zero):
//   Mt [S][Sp]: the state transposed, [key i][value j]
//   K, Q [L][Sp]: k_t, q_t;  KT [S][Lp]: k_s by key index
//   X [L][2 Sp]: rows [W | V'], after the substitution V' - W M0^T = U in the right half
//   Akk, Aqk [L][Lp]: k_t.k_s and q_t.k_s, then the decayed, beta-scaled coefficients
//   O [L][Sp]: outputs
void DeltaRuleChunked(const DeltaHeadArgs& a, int64_t chunk) {
  const size_t N = hn::Lanes(DD());
  const size_t S = static_cast<size_t>(a.state_size), Sp = RoundUp(S, N);
  const size_t C = static_cast<size_t>(chunk), Lp = RoundUp(C, N);
  double* const base = ChunkScratch(S * Sp + 3 * C * Sp + S * Lp + 2 * C * Sp + 2 * C * Lp + 4 * C);
  double* const Mt = base;
  double* const K = Mt + S * Sp;
  double* const Q = K + C * Sp;
  double* const O = Q + C * Sp;
  double* const KT = O + C * Sp;
  double* const X = KT + S * Lp;
  double* const Akk = X + 2 * C * Sp;
  double* const Aqk = Akk + C * Lp;
  double* const G = Aqk + C * Lp;
  double* const beta = G + C;
  double* const eG = beta + C;
  double* const step = eG + C;
  const size_t ldx = 2 * Sp;

  for (size_t i = 0; i < S; ++i) {
    for (size_t j = 0; j < S; ++j) Mt[i * Sp + j] = a.state[j * S + i];
    for (size_t j = S; j < Sp; ++j) Mt[i * Sp + j] = 0.0;
  }

  for (int64_t c0 = 0; c0 < a.n_tokens; c0 += chunk) {
    const size_t L = static_cast<size_t>(std::min(chunk, a.n_tokens - c0));
    // Decays from the log decays: e^{G_t - G_s} as a running product of the per-token factors
    // (no exp per pair; a product of factors <= 1 underflows to 0 as the exp would).
    double acc = 0.0;
    for (size_t t = 0; t < L; ++t) {
      const int64_t at = (c0 + static_cast<int64_t>(t)) * a.gb_stride;
      G[t] = acc += a.g[at];
      eG[t] = std::exp(G[t]);
      step[t] = std::exp(static_cast<double>(a.g[at]));
      beta[t] = a.beta[at];
    }
    for (size_t t = 0; t < L; ++t) {
      const int64_t row = c0 + static_cast<int64_t>(t);
      WidenRow(a.k + row * a.qk_stride, S, 1.0, K + t * Sp, Sp);
      WidenRow(a.q + row * a.qk_stride, S, 1.0, Q + t * Sp, Sp);
      WidenRow(a.k + row * a.qk_stride, S, beta[t] * eG[t], X + t * ldx, Sp);
      WidenRow(a.v + row * a.v_stride, S, beta[t], X + t * ldx + Sp, Sp);
    }
    for (size_t i = 0; i < S; ++i) {
      double* kt = KT + i * Lp;
      for (size_t t = 0; t < L; ++t) kt[t] = K[t * Sp + i];
      for (size_t t = L; t < Lp; ++t) kt[t] = 0.0;
    }

    // k_t.k_s and q_t.k_s for all pairs, then the coefficients:
    // Akk[t][s] = beta_t e^{G_t-G_s} k_t.k_s (s < t), Aqk[t][s] = e^{G_t-G_s} q_t.k_s (s <= t, else 0).
    Gemm<Acc::kAssign>(K, Sp, KT, Lp, Akk, Lp, L, RoundUp(L, N), S);
    Gemm<Acc::kAssign>(Q, Sp, KT, Lp, Aqk, Lp, L, RoundUp(L, N), S);
    for (size_t t = 0; t < L; ++t) {
      double e = 1.0;  // e^{G_t - G_s}
      for (size_t s = t + 1; s-- > 0;) {
        Akk[t * Lp + s] *= beta[t] * e;
        Aqk[t * Lp + s] *= e;
        e *= step[s];
      }
      for (size_t s = t + 1; s < L; ++s) Aqk[t * Lp + s] = 0.0;
    }

    // Forward substitution X[t] -= sum_{s<t} Akk[t][s] X[s], a tile of rows at a time: the rows
    // before the tile in one product, then within the tile one row after another.
    for (size_t t0 = 0; t0 < L; t0 += kTileRows) {
      const size_t rows = std::min<size_t>(kTileRows, L - t0);
      if (t0 > 0) Gemm<Acc::kSub>(Akk + t0 * Lp, Lp, X, ldx, X + t0 * ldx, ldx, rows, ldx, t0);
      for (size_t t = t0 + 1; t < t0 + rows; ++t)
        for (size_t s = t0; s < t; ++s) SubScaled(X + t * ldx, Akk[t * Lp + s], X + s * ldx, ldx);
    }
    // U = V' - W M0^T, in the right half of X.
    double* const U = X + Sp;
    Gemm<Acc::kSub>(X, ldx, Mt, Sp, U, ldx, L, Sp, S);

    // o_t = e^{G_t} M0 q_t + sum_{s<=t} Aqk[t][s] u_s.
    Gemm<Acc::kAssign>(Q, Sp, Mt, Sp, O, Sp, L, Sp, S);
    for (size_t t = 0; t < L; ++t) Scale(O + t * Sp, eG[t], Sp);
    Gemm<Acc::kAdd>(Aqk, Lp, U, ldx, O, Sp, L, Sp, L, /*causal=*/true);
    for (size_t t = 0; t < L; ++t) {
      float* out = a.out + (c0 + static_cast<int64_t>(t)) * a.out_stride;
      for (size_t j = 0; j < S; ++j) out[j] = static_cast<float>(O[t * Sp + j]);
    }

    // M_L^T = e^{G_L} M0^T + sum_s k_s (e^{G_L-G_s} u_s)^T.
    double e = 1.0;
    for (size_t s = L; s-- > 0;) {
      Scale(U + s * ldx, e, Sp);
      e *= step[s];
    }
    Scale(Mt, eG[L - 1], S * Sp);
    Gemm<Acc::kAdd>(KT, Lp, U, ldx, Mt, Sp, S, Sp, L);
    // The state is float between chunks, as between calls.
    for (size_t x = 0; x < S * Sp; ++x) Mt[x] = static_cast<float>(Mt[x]);
  }

  for (size_t j = 0; j < S; ++j)
    for (size_t i = 0; i < S; ++i) a.state[j * S + i] = static_cast<float>(Mt[i * Sp + j]);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace layerlab
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace layerlab {

HWY_EXPORT(DeltaRuleRecurrent);
HWY_EXPORT(DeltaRuleChunked);

void delta_rule_recurrent(const DeltaHeadArgs& a) { HWY_DYNAMIC_DISPATCH(DeltaRuleRecurrent)(a); }

void delta_rule_chunked(const DeltaHeadArgs& a, int64_t chunk) {
  if (a.n_tokens <= 0) return;
  HWY_DYNAMIC_DISPATCH(DeltaRuleChunked)(a, chunk);
}

}  // namespace layerlab
#endif  // HWY_ONCE
