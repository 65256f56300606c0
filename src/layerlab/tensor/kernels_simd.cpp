// SIMD kernels, compiled once per x86 target (AVX2, AVX-512, AVX-512 with VNNI) and an
// emulated baseline by Highway's foreach_target, and chosen at run time with
// HWY_DYNAMIC_DISPATCH. Every kernel here has a scalar twin in dequantize_scalar.cpp /
// vec_dot_scalar.cpp that the tests compare it with.

// SSSE3/SSE4 add compile time for CPUs that are not a target of this project.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif

// AVX3_DL (AVX-512 VNNI and friends: Ice Lake and later) is opt-in in Highway 1.0; its
// vpdpbusd is what the integer tiles use on that target.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL 1
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "layerlab/tensor/kernels_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/cache_control.h"

#include <cstring>
#include <type_traits>
#include <vector>

#include "layerlab/tensor/f16.h"
#include "layerlab/tensor/dequantize.h"
#include "layerlab/tensor/kernels.h"
#include "layerlab/tensor/quant_blocks.h"
#include "layerlab/tensor/quantize_activations.h"

#if HWY_TARGET == HWY_AVX3_DL && HWY_MAJOR == 1 && HWY_MINOR == 0
// Highway 1.0's AVX3_DL compiler target names "avxvnni" (the VEX form) but not
// "avx512vnni", although its run-time check requires AVX512-VNNI (and not the VEX form):
// add it so the 512-bit vpdpbusd / vpdpwssd intrinsics compile. Only 512-bit forms are used
// (always EVEX); 256-bit ones could be VEX-encoded, which Ice Lake lacks.
#undef HWY_TARGET_STR
#define HWY_TARGET_STR                                                          \
  HWY_TARGET_STR_AVX3                                                           \
  ",vpclmulqdq,avx512vbmi,avx512vbmi2,vaes,avxvnni,avx512bitalg,avx512vpopcntdq," \
  "avx512vnni"
#endif

HWY_BEFORE_NAMESPACE();
namespace layerlab {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// x86 targets get hand-written integer tile kernels (Highway 1.0 has no u8 x i8 product op).
#if HWY_TARGET >= HWY_AVX3_DL && HWY_TARGET <= HWY_AVX2
#define LAYERLAB_X86_TILES 1
#include "layerlab/tensor/quant_tiles_x86-inl.h"
#else
#define LAYERLAB_X86_TILES 0
#endif

// ---------------------------------------------------------------- float matrix block

// R weight rows x T activation rows, one vector accumulator per pair, reduced at the end.
template <int R, int T>
HWY_INLINE void MicroF32(const float* HWY_RESTRICT w, size_t ws, const float* HWY_RESTRICT x,
                         size_t xs, int64_t n, float* HWY_RESTRICT y, size_t ys, bool accumulate) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  using V = hn::Vec<decltype(d)>;
  V acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    V wv[R];
    for (int r = 0; r < R; ++r) wv[r] = hn::LoadU(d, w + r * ws + i);
    for (int t = 0; t < T; ++t) {
      const V xv = hn::LoadU(d, x + t * xs + i);
      for (int r = 0; r < R; ++r) acc[r][t] = hn::MulAdd(wv[r], xv, acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      float s = hn::GetLane(hn::SumOfLanes(d, acc[r][t]));
      for (int64_t k = i; k < n; ++k) s += w[r * ws + k] * x[t * xs + k];
      y[t * ys + r] = accumulate ? y[t * ys + r] + s : s;
    }
  }
}

template <int R>
HWY_INLINE void MicroRowsF32(int t_count, const float* w, size_t ws, const float* x, size_t xs,
                             int64_t n, float* y, size_t ys, bool acc) {
  switch (t_count) {
    case 1: return MicroF32<R, 1>(w, ws, x, xs, n, y, ys, acc);
    case 2: return MicroF32<R, 2>(w, ws, x, xs, n, y, ys, acc);
    case 3: return MicroF32<R, 3>(w, ws, x, xs, n, y, ys, acc);
    default: return MicroF32<R, 4>(w, ws, x, xs, n, y, ys, acc);
  }
}

void GemmF32(const float* w, size_t ws, int64_t n_rows, const float* x, size_t xs,
             int64_t n_tokens, int64_t n, float* y, size_t ys, bool acc) {
  if (n_tokens == 1) {
    // Matrix-vector: many rows at once, each weight value used once.
    int64_t r = 0;
    for (; r + 8 <= n_rows; r += 8) MicroF32<8, 1>(w + r * ws, ws, x, xs, n, y + r, ys, acc);
    for (; r + 4 <= n_rows; r += 4) MicroF32<4, 1>(w + r * ws, ws, x, xs, n, y + r, ys, acc);
    for (; r < n_rows; ++r) MicroF32<1, 1>(w + r * ws, ws, x, xs, n, y + r, ys, acc);
    return;
  }
  // Matrix-matrix: R rows x 4 tokens per kernel call; the tokens of one call stay in L1 while
  // the rows of the tile pass. AVX2 (16 registers): 3 rows (12 accumulators + 4 live loads);
  // AVX-512 (32 registers): 4 rows, 8 loads per 16 FMAs.
#if HWY_TARGET <= HWY_AVX3
  constexpr int kRows = 4;
#else
  constexpr int kRows = 3;
#endif
  for (int64_t t = 0; t < n_tokens; t += 4) {
    const int tc = static_cast<int>(n_tokens - t < 4 ? n_tokens - t : 4);
    const float* xt = x + t * xs;
    float* yt = y + t * ys;
    int64_t r = 0;
    for (; r + kRows <= n_rows; r += kRows) MicroRowsF32<kRows>(tc, w + r * ws, ws, xt, xs, n, yt + r, ys, acc);
    for (; r < n_rows; ++r) MicroRowsF32<1>(tc, w + r * ws, ws, xt, xs, n, yt + r, ys, acc);
  }
}

// Matrix-vector product with f16 weights converted in registers (F16C on x86), so decode
// streams the 2-byte weights once and writes no float copy. Per row the operations are those
// of the 1-row kernel, whatever the row grouping.
template <int R>
HWY_INLINE void MicroF16x1(const hwy::float16_t* HWY_RESTRICT w, size_t row_stride, size_t prefetch_offset,
                           const float* HWY_RESTRICT x, int64_t n, float* HWY_RESTRICT y, size_t y_stride) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  using V = hn::Vec<decltype(d)>;
  V acc[R];
  for (int r = 0; r < R; ++r) acc[r] = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const V xv = hn::LoadU(d, x + i);
    for (int r = 0; r < R; ++r) {
      // The rows read next (see the quantized decode kernels): memory latency bounds one core.
      hwy::Prefetch(w + r * row_stride + prefetch_offset + i);
      acc[r] = hn::MulAdd(hn::PromoteTo(d, hn::LoadU(dh, w + r * row_stride + i)), xv, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    float s = hn::GetLane(hn::SumOfLanes(d, acc[r]));
    const uint16_t* wr = reinterpret_cast<const uint16_t*>(w + r * row_stride);
    for (int64_t k = i; k < n; ++k) s += fp16_to_fp32(wr[k]) * x[k];
    y[r * y_stride] = s;
  }
}

// As the quantized decode (DecodeStreams): the rows are cut into 8 equal runs read side by
// side, each prefetching its next row; leftover rows one at a time.
void GemvF16(const uint16_t* w, size_t ws, int64_t n_rows, const float* x, int64_t n, float* y) {
  const auto* h = reinterpret_cast<const hwy::float16_t*>(w);
  const int64_t run = n_rows / 8;
  for (int64_t j = 0; j < run; ++j)
    MicroF16x1<8>(h + j * ws, static_cast<size_t>(run) * ws, ws, x, n, y + j, static_cast<size_t>(run));
  for (int64_t r = 8 * run; r < n_rows; ++r) MicroF16x1<1>(h + r * ws, ws, ws, x, n, y + r, 1);
}

// ---------------------------------------------------------------- dequantization

void DequantF16(const uint16_t* HWY_RESTRICT src, float* HWY_RESTRICT dst, int64_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  const auto* h = reinterpret_cast<const hwy::float16_t*>(src);
  for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, h + i)), df, dst + i);
  for (; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

void DequantBF16(const uint16_t* HWY_RESTRICT src, float* HWY_RESTRICT dst, int64_t n) {
  const hn::ScalableTag<uint32_t> du;
  const hn::Rebind<uint16_t, decltype(du)> dh;
  const hn::Repartition<float, decltype(du)> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(du));
  int64_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(dh, src + i)))), df, dst + i);
  for (; i < n; ++i) dst[i] = bf16_to_fp32(src[i]);
}

// y = q * d per Q8_0 block: one rounding per element, as the scalar code.
void DequantQ8_0(const BlockQ8_0* HWY_RESTRICT x, float* HWY_RESTRICT y, int64_t nb) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<int8_t, decltype(di)> d8;
  const size_t N = hn::Lanes(df);
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const auto d = hn::Set(df, fp16_to_fp32(x[i].d));
    for (size_t j = 0; j < kQK; j += N)
      hn::StoreU(hn::Mul(hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(d8, x[i].qs + j))), d), df, y + j);
  }
}

// ---------------------------------------------------------------- quantized dot products
// Integer products use int16 lanes and pairwise multiply-add into int32 (exact); each block's
// int32 sums become one float vector term scaled by the block's d_w * d_a.

using D16 = hn::CappedTag<int16_t, 16>;
using D32 = hn::Repartition<int32_t, D16>;
using DF = hn::Repartition<float, D16>;
using V16 = hn::Vec<D16>;
using V32 = hn::Vec<D32>;
using VF = hn::Vec<DF>;

HWY_INLINE V16 LoadI8(const int8_t* p) {
  const D16 d16;
  return hn::PromoteTo(d16, hn::LoadU(hn::Rebind<int8_t, D16>(), p));
}
HWY_INLINE V16 LoadU8(const uint8_t* p) {
  const D16 d16;
  return hn::BitCast(d16, hn::PromoteTo(hn::Rebind<uint16_t, D16>(), hn::LoadU(hn::Rebind<uint8_t, D16>(), p)));
}
HWY_INLINE V32 MulAddPairs(V16 a, V16 b, V32 sum) {
  const D32 d32;
  V32 odd = hn::Zero(d32);
  sum = hn::ReorderWidenMulAccumulate(d32, a, b, sum, odd);
  return hn::Add(sum, odd);
}
HWY_INLINE float ReduceF(VF v) { return hn::GetLane(hn::SumOfLanes(DF(), v)); }
HWY_INLINE int32_t ReduceI(V32 v) { return hn::GetLane(hn::SumOfLanes(D32(), v)); }

float DotQ8_0(int64_t nb, const BlockQ8_0* HWY_RESTRICT w, const BlockQ8_0* HWY_RESTRICT a) {
  const D16 d16;
  const D32 d32;
  const DF df;
  const size_t N = hn::Lanes(d16);
  VF acc = hn::Zero(df);
  for (int64_t i = 0; i < nb; ++i) {
    V32 s = hn::Zero(d32);
    for (size_t j = 0; j < 32; j += N) s = MulAddPairs(LoadI8(w[i].qs + j), LoadI8(a[i].qs + j), s);
    const float d = fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d);
    acc = hn::MulAdd(hn::Set(df, d), hn::ConvertTo(df, s), acc);
  }
  return ReduceF(acc);
}

// 2 weight rows x 2 activation rows at once: each loaded and widened block is used twice.
// Per pair the operations are those of DotQ8_0, so results equal it bit for bit.
void DotQ8_0x2x2(int64_t nb, const BlockQ8_0* HWY_RESTRICT w0, const BlockQ8_0* HWY_RESTRICT w1,
                 const BlockQ8_0* HWY_RESTRICT a0, const BlockQ8_0* HWY_RESTRICT a1, float out[4]) {
  const D16 d16;
  const D32 d32;
  const DF df;
  const size_t N = hn::Lanes(d16);
  VF acc00 = hn::Zero(df), acc01 = hn::Zero(df), acc10 = hn::Zero(df), acc11 = hn::Zero(df);
  for (int64_t i = 0; i < nb; ++i) {
    V32 s00 = hn::Zero(d32), s01 = hn::Zero(d32), s10 = hn::Zero(d32), s11 = hn::Zero(d32);
    for (size_t j = 0; j < 32; j += N) {
      const V16 x0 = LoadI8(w0[i].qs + j), x1 = LoadI8(w1[i].qs + j);
      const V16 y0 = LoadI8(a0[i].qs + j), y1 = LoadI8(a1[i].qs + j);
      s00 = MulAddPairs(x0, y0, s00);
      s01 = MulAddPairs(x0, y1, s01);
      s10 = MulAddPairs(x1, y0, s10);
      s11 = MulAddPairs(x1, y1, s11);
    }
    const float dw0 = fp16_to_fp32(w0[i].d), dw1 = fp16_to_fp32(w1[i].d);
    const float da0 = fp16_to_fp32(a0[i].d), da1 = fp16_to_fp32(a1[i].d);
    acc00 = hn::MulAdd(hn::Set(df, dw0 * da0), hn::ConvertTo(df, s00), acc00);
    acc01 = hn::MulAdd(hn::Set(df, dw0 * da1), hn::ConvertTo(df, s01), acc01);
    acc10 = hn::MulAdd(hn::Set(df, dw1 * da0), hn::ConvertTo(df, s10), acc10);
    acc11 = hn::MulAdd(hn::Set(df, dw1 * da1), hn::ConvertTo(df, s11), acc11);
  }
  out[0] = ReduceF(acc00);
  out[1] = ReduceF(acc01);
  out[2] = ReduceF(acc10);
  out[3] = ReduceF(acc11);
}

float DotQ4_0(int64_t nb, const BlockQ4_0* HWY_RESTRICT w, const BlockQ8_0* HWY_RESTRICT a) {
  const D16 d16;
  const D32 d32;
  const DF df;
  const size_t N = hn::Lanes(d16);
  const V16 mask = hn::Set(d16, 0xF), eight = hn::Set(d16, 8);
  VF acc = hn::Zero(df);
  for (int64_t i = 0; i < nb; ++i) {
    V32 s = hn::Zero(d32);
    for (size_t j = 0; j < 16; j += N) {
      const V16 b = LoadU8(w[i].qs + j);
      s = MulAddPairs(hn::Sub(hn::And(b, mask), eight), LoadI8(a[i].qs + j), s);
      s = MulAddPairs(hn::Sub(hn::ShiftRight<4>(b), eight), LoadI8(a[i].qs + 16 + j), s);
    }
    const float d = fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d);
    acc = hn::MulAdd(hn::Set(df, d), hn::ConvertTo(df, s), acc);
  }
  return ReduceF(acc);
}

float DotQ4_K(int64_t nb, const BlockQ4_K* HWY_RESTRICT w, const BlockQ8_K* HWY_RESTRICT a) {
  const D16 d16;
  const D32 d32;
  const DF df;
  const size_t N = hn::Lanes(d16);
  const V16 mask = hn::Set(d16, 0xF);
  VF acc = hn::Zero(df);
  float mins = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t scm[16];
    k4_unpack_scales_mins(w[i].scales, scm);
    const uint8_t* sc = scm;
    const uint8_t* m = scm + 8;
    V32 block = hn::Zero(d32);
    for (int g = 0; g < 4; ++g) {
      V32 lo = hn::Zero(d32), hi = hn::Zero(d32);
      const uint8_t* q = w[i].qs + 32 * g;
      const int8_t* qa = a[i].qs + 64 * g;
      for (size_t l = 0; l < 32; l += N) {
        const V16 b = LoadU8(q + l);
        lo = MulAddPairs(hn::And(b, mask), LoadI8(qa + l), lo);
        hi = MulAddPairs(hn::ShiftRight<4>(b), LoadI8(qa + 32 + l), hi);
      }
      block = hn::Add(block, hn::Mul(lo, hn::Set(d32, sc[2 * g])));
      block = hn::Add(block, hn::Mul(hi, hn::Set(d32, sc[2 * g + 1])));
    }
    int msum = 0;
    for (int s = 0; s < 8; ++s) msum += m[s] * (a[i].bsums[2 * s] + a[i].bsums[2 * s + 1]);
    acc = hn::MulAdd(hn::Set(df, fp16_to_fp32(w[i].d) * a[i].d), hn::ConvertTo(df, block), acc);
    mins += fp16_to_fp32(w[i].dmin) * a[i].d * static_cast<float>(msum);
  }
  return ReduceF(acc) - mins;
}

float DotQ6_K(int64_t nb, const BlockQ6_K* HWY_RESTRICT w, const BlockQ8_K* HWY_RESTRICT a) {
  const D16 d16;
  const D32 d32;
  const DF df;
  const size_t N = hn::Lanes(d16);
  const V16 mask = hn::Set(d16, 0xF), three = hn::Set(d16, 3), off = hn::Set(d16, 32);
  VF acc = hn::Zero(df);
  for (int64_t i = 0; i < nb; ++i) {
    V32 block = hn::Zero(d32);
    for (int n = 0; n < 2; ++n) {
      const uint8_t* ql = w[i].ql + 64 * n;
      const uint8_t* qh = w[i].qh + 32 * n;
      const int8_t* sc = w[i].scales + 8 * n;
      const int8_t* qa = a[i].qs + 128 * n;
      for (size_t l = 0; l < 32; l += N) {
        const V16 l0 = LoadU8(ql + l), l1 = LoadU8(ql + 32 + l), h = LoadU8(qh + l);
        const V16 q0 = hn::Sub(hn::Or(hn::And(l0, mask), hn::ShiftLeft<4>(hn::And(h, three))), off);
        const V16 q1 = hn::Sub(hn::Or(hn::And(l1, mask), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(h), three))), off);
        const V16 q2 = hn::Sub(hn::Or(hn::ShiftRight<4>(l0), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(h), three))), off);
        const V16 q3 = hn::Sub(hn::Or(hn::ShiftRight<4>(l1), hn::ShiftLeft<4>(hn::ShiftRight<6>(h))), off);
        const int is = static_cast<int>(l / 16);
        const V32 z = hn::Zero(d32);
        block = hn::Add(block, hn::Mul(MulAddPairs(q0, LoadI8(qa + l), z), hn::Set(d32, sc[is])));
        block = hn::Add(block, hn::Mul(MulAddPairs(q1, LoadI8(qa + 32 + l), z), hn::Set(d32, sc[is + 2])));
        block = hn::Add(block, hn::Mul(MulAddPairs(q2, LoadI8(qa + 64 + l), z), hn::Set(d32, sc[is + 4])));
        block = hn::Add(block, hn::Mul(MulAddPairs(q3, LoadI8(qa + 96 + l), z), hn::Set(d32, sc[is + 6])));
      }
    }
    acc = hn::MulAdd(hn::Set(df, fp16_to_fp32(w[i].d) * a[i].d), hn::ConvertTo(df, block), acc);
  }
  return ReduceF(acc);
}

// Activation rows to Q8_0 (x86 rounding): d = amax / 127, q = round-half-even(x * (127 / amax)).
// Per element the same float operations as the scalar twin, so the bytes are identical.
void QuantizeQ8_0(const float* HWY_RESTRICT x, BlockQ8_0* HWY_RESTRICT y, int64_t nb) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<int8_t, decltype(di)> d8;
  const size_t N = hn::Lanes(df);
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    auto vmax = hn::Zero(df);
    for (size_t j = 0; j < kQK; j += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(df, x + j)));
    const float amax = hn::GetLane(hn::MaxOfLanes(df, vmax));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const auto vid = hn::Set(df, id);
    for (size_t j = 0; j < kQK; j += N)
      hn::StoreU(hn::DemoteTo(d8, hn::ConvertTo(di, hn::Round(hn::Mul(hn::LoadU(df, x + j), vid)))), d8, y[i].qs + j);
    y[i].d = fp32_to_fp16(amax / 127.0f);
  }
}

// Returns true when a SIMD kernel handled the type.
HWY_INLINE bool DotSimd(GgmlType type, int64_t n, const std::byte* w, const std::byte* a, float& out) {
  switch (type) {
    case GgmlType::Q8_0:
      out = DotQ8_0(n / kQK, reinterpret_cast<const BlockQ8_0*>(w), reinterpret_cast<const BlockQ8_0*>(a));
      return true;
    case GgmlType::Q4_0:
      out = DotQ4_0(n / kQK, reinterpret_cast<const BlockQ4_0*>(w), reinterpret_cast<const BlockQ8_0*>(a));
      return true;
    case GgmlType::Q4_K:
      out = DotQ4_K(n / kQKK, reinterpret_cast<const BlockQ4_K*>(w), reinterpret_cast<const BlockQ8_K*>(a));
      return true;
    case GgmlType::Q6_K:
      out = DotQ6_K(n / kQKK, reinterpret_cast<const BlockQ6_K*>(w), reinterpret_cast<const BlockQ8_K*>(a));
      return true;
    default:
      return false;
  }
}

float VecDot(GgmlType type, int64_t n, const std::byte* w, const std::byte* a) {
  float out;
#if LAYERLAB_X86_TILES
  if (GemmQuantX86(type, w, 0, 1, a, 0, 1, n, &out, 0)) return out;
#endif
  if (DotSimd(type, n, w, a, out)) return out;
  return vec_dot_scalar(type, n, w, a);
}

void GemmQuant(GgmlType type, const std::byte* w, size_t ws, int64_t n_rows, const std::byte* a,
               size_t as, int64_t n_tokens, int64_t n, float* y, size_t ys) {
#if LAYERLAB_X86_TILES
  if (GemmQuantX86(type, w, ws, n_rows, a, as, n_tokens, n, y, ys)) return;
#endif
  // Token-outer over a small row tile: the tile's rows stay in L1/L2 for all tokens.
  int64_t t0 = 0;
  if (type == GgmlType::Q8_0) {
    // Register blocking over 2 rows x 2 tokens; odd leftovers take the single-dot path below.
    for (; t0 + 2 <= n_tokens; t0 += 2) {
      int64_t r = 0;
      for (; r + 2 <= n_rows; r += 2) {
        float o[4];
        DotQ8_0x2x2(n / kQK, reinterpret_cast<const BlockQ8_0*>(w + r * ws),
                    reinterpret_cast<const BlockQ8_0*>(w + (r + 1) * ws),
                    reinterpret_cast<const BlockQ8_0*>(a + t0 * as),
                    reinterpret_cast<const BlockQ8_0*>(a + (t0 + 1) * as), o);
        y[t0 * ys + r] = o[0];
        y[(t0 + 1) * ys + r] = o[1];
        y[t0 * ys + r + 1] = o[2];
        y[(t0 + 1) * ys + r + 1] = o[3];
      }
      for (; r < n_rows; ++r)
        for (int64_t t = t0; t < t0 + 2; ++t)
          y[t * ys + r] = DotQ8_0(n / kQK, reinterpret_cast<const BlockQ8_0*>(w + r * ws),
                                  reinterpret_cast<const BlockQ8_0*>(a + t * as));
    }
  }
  for (int64_t t = t0; t < n_tokens; ++t)
    for (int64_t r = 0; r < n_rows; ++r) {
      float out;
      if (!DotSimd(type, n, w + r * ws, a + t * as, out)) out = vec_dot_scalar(type, n, w + r * ws, a + t * as);
      y[t * ys + r] = out;
    }
}

void DequantRow(GgmlType type, const std::byte* src, float* dst, int64_t n) {
  switch (type) {
    case GgmlType::F16: return DequantF16(reinterpret_cast<const uint16_t*>(src), dst, n);
    case GgmlType::BF16: return DequantBF16(reinterpret_cast<const uint16_t*>(src), dst, n);
    case GgmlType::Q8_0: return DequantQ8_0(reinterpret_cast<const BlockQ8_0*>(src), dst, n / kQK);
    default: return dequantize_row_scalar(type, src, dst, n);
  }
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

// Independent FMA chains (enough to cover FMA latency x ports) for the peak measurement.
double FmaPeak(int64_t iters, float* sink) {
  const hn::ScalableTag<float> d;
  constexpr int kChains = 12;
  hn::Vec<decltype(d)> acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = hn::Set(d, 0.001f * c);
  const auto m = hn::Set(d, 0.999999f), a = hn::Set(d, 1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = hn::MulAdd(acc[c], m, a);
  for (int c = 1; c < kChains; ++c) acc[0] = hn::Add(acc[0], acc[c]);
  *sink = hn::GetLane(acc[0]);
  return 2.0 * kChains * static_cast<double>(hn::Lanes(d)) * static_cast<double>(iters);
}

#undef LAYERLAB_X86_TILES
}  // namespace HWY_NAMESPACE
}  // namespace layerlab
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace layerlab {

HWY_EXPORT(GemmF32);
HWY_EXPORT(GemvF16);
HWY_EXPORT(QuantizeQ8_0);
HWY_EXPORT(VecDot);
HWY_EXPORT(GemmQuant);
HWY_EXPORT(DequantRow);
HWY_EXPORT(TargetName);
HWY_EXPORT(FmaPeak);

double fma_peak_flops(int64_t iterations, float* sink) { return HWY_DYNAMIC_DISPATCH(FmaPeak)(iterations, sink); }

void gemm_f32(const float* w, size_t w_stride, int64_t n_rows, const float* x, size_t x_stride,
              int64_t n_tokens, int64_t n, float* y, size_t y_stride, bool accumulate) {
  HWY_DYNAMIC_DISPATCH(GemmF32)(w, w_stride, n_rows, x, x_stride, n_tokens, n, y, y_stride, accumulate);
}

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ8_0)(x, y, n / kQK);
}

void gemv_f16(const uint16_t* w, size_t w_stride, int64_t n_rows, const float* x, int64_t n, float* y) {
  HWY_DYNAMIC_DISPATCH(GemvF16)(w, w_stride, n_rows, x, n, y);
}

float vec_dot(GgmlType type, int64_t n, const std::byte* w, const std::byte* a) {
  return HWY_DYNAMIC_DISPATCH(VecDot)(type, n, w, a);
}

void gemm_quant(GgmlType type, const std::byte* w, size_t w_stride, int64_t n_rows,
                const std::byte* a, size_t a_stride, int64_t n_tokens, int64_t n, float* y,
                size_t y_stride) {
  HWY_DYNAMIC_DISPATCH(GemmQuant)(type, w, w_stride, n_rows, a, a_stride, n_tokens, n, y, y_stride);
}

void dequantize_row(GgmlType type, const std::byte* src, float* dst, int64_t n) {
  HWY_DYNAMIC_DISPATCH(DequantRow)(type, src, dst, n);
}

const char* simd_target_name() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

}  // namespace layerlab
#endif  // HWY_ONCE
