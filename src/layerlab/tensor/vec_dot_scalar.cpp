// Scalar dot products of quantized weight rows with quantized activation rows, following
// ggml's formulas: integer sums are exact, each block adds one float term. These are the
// reference twins of the SIMD kernels and the path for types without a SIMD kernel.
#include <cstring>
#include <string>

#include "layerlab/io/error.h"
#include "layerlab/tensor/f16.h"
#include "layerlab/tensor/kernels.h"
#include "layerlab/tensor/quant_blocks.h"

namespace layerlab {
namespace {

template <typename Block>
const Block* blocks(const std::byte* p) { return reinterpret_cast<const Block*>(p); }

// Legacy 32-blocks with a Q8_0 partner: sumf += (float)Σ w·a * (dw·da).
template <typename Block, typename Unpack>
float dot_legacy_q8_0(const std::byte* wp, const std::byte* ap, int64_t nb, Unpack unpack) {
  const auto* w = blocks<Block>(wp);
  const auto* a = blocks<BlockQ8_0>(ap);
  float sumf = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int q[32];
    unpack(w[i], q);
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += q[j] * a[i].qs[j];
    sumf += static_cast<float>(sumi) * (fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d));
  }
  return sumf;
}

// Legacy blocks with a min and a Q8_1 partner: sumf += (dw·da)·Σ q·a + m·s.
template <typename Block, typename Unpack>
float dot_legacy_q8_1(const std::byte* wp, const std::byte* ap, int64_t nb, Unpack unpack) {
  const auto* w = blocks<Block>(wp);
  const auto* a = blocks<BlockQ8_1>(ap);
  float sumf = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int q[32];
    unpack(w[i], q);
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += q[j] * a[i].qs[j];
    sumf += (fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d)) * static_cast<float>(sumi) +
            fp16_to_fp32(w[i].m) * fp16_to_fp32(a[i].s);
  }
  return sumf;
}

template <typename Block>
void unpack_nibbles(const Block& b, int q[32], int offset) {
  for (int j = 0; j < 16; ++j) {
    q[j] = (b.qs[j] & 0xF) - offset;
    q[j + 16] = (b.qs[j] >> 4) - offset;
  }
}

template <typename Block>
void unpack_q5(const Block& b, int q[32], int offset) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  for (int j = 0; j < 16; ++j) {
    q[j] = ((b.qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1) << 4)) - offset;
    q[j + 16] = ((b.qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4)) - offset;
  }
}

// Unpacks a Q4_K / Q5_K block's 256 quants (0..31) in element order.
template <typename Block>
void unpack_k4(const Block& b, int8_t q[256], bool has_high) {
  for (int g = 0; g < 4; ++g) {
    for (int l = 0; l < 32; ++l) {
      int lo = b.qs[32 * g + l] & 0xF, hi = b.qs[32 * g + l] >> 4;
      if constexpr (requires { b.qh; }) {
        if (has_high) {
          lo += ((b.qh[l] >> (2 * g)) & 1) << 4;
          hi += ((b.qh[l] >> (2 * g + 1)) & 1) << 4;
        }
      }
      q[64 * g + l] = static_cast<int8_t>(lo);
      q[64 * g + 32 + l] = static_cast<int8_t>(hi);
    }
  }
}

template <typename Block>
float dot_k4(const std::byte* wp, const std::byte* ap, int64_t nb) {
  const auto* w = blocks<Block>(wp);
  const auto* a = blocks<BlockQ8_K>(ap);
  float sumf = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int8_t q[256];
    unpack_k4(w[i], q, true);
    int isum = 0, msum = 0;
    for (int s = 0; s < 8; ++s) {
      uint8_t sc, m;
      k4_scale_min(s, w[i].scales, sc, m);
      int sub = 0;
      for (int l = 0; l < 32; ++l) sub += q[32 * s + l] * a[i].qs[32 * s + l];
      isum += sc * sub;
      msum += m * (a[i].bsums[2 * s] + a[i].bsums[2 * s + 1]);
    }
    sumf += fp16_to_fp32(w[i].d) * a[i].d * static_cast<float>(isum) -
            fp16_to_fp32(w[i].dmin) * a[i].d * static_cast<float>(msum);
  }
  return sumf;
}

float dot_q6_k(const std::byte* wp, const std::byte* ap, int64_t nb) {
  const auto* w = blocks<BlockQ6_K>(wp);
  const auto* a = blocks<BlockQ8_K>(ap);
  float sumf = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int8_t q[256];
    for (int n = 0; n < 2; ++n) {
      const uint8_t* ql = w[i].ql + 64 * n;
      const uint8_t* qh = w[i].qh + 32 * n;
      int8_t* o = q + 128 * n;
      for (int l = 0; l < 32; ++l) {
        o[l] = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        o[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        o[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        o[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    int isum = 0;
    for (int g = 0; g < 16; ++g) {
      int sub = 0;
      for (int l = 0; l < 16; ++l) sub += q[16 * g + l] * a[i].qs[16 * g + l];
      isum += w[i].scales[g] * sub;
    }
    sumf += fp16_to_fp32(w[i].d) * a[i].d * static_cast<float>(isum);
  }
  return sumf;
}

// Element order of Q2_K / Q3_K: halves of 128, 2-bit fields at shift 2j, qs[l] then qs[l+16].
template <typename F>
void for_each_2bit(const uint8_t* qs, F&& f) {
  for (int n = 0; n < 2; ++n)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 32; ++k) f(128 * n + 32 * j + k, (qs[32 * n + k] >> (2 * j)) & 3);
}

float dot_q3_k(const std::byte* wp, const std::byte* ap, int64_t nb) {
  const auto* w = blocks<BlockQ3_K>(wp);
  const auto* a = blocks<BlockQ8_K>(ap);
  float sumf = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int8_t q[256];
    for_each_2bit(w[i].qs, [&](int e, int v) {
      const int n = e / 128, j = (e % 128) / 32, k = e % 32;
      const bool hbit = (w[i].hmask[k] >> (4 * n + j)) & 1;
      q[e] = static_cast<int8_t>(v - (hbit ? 0 : 4));
    });
    int8_t sc[16];
    q3k_scales(w[i].scales, sc);
    int isum = 0;
    for (int g = 0; g < 16; ++g) {
      int sub = 0;
      for (int l = 0; l < 16; ++l) sub += q[16 * g + l] * a[i].qs[16 * g + l];
      isum += sc[g] * sub;
    }
    sumf += fp16_to_fp32(w[i].d) * a[i].d * static_cast<float>(isum);
  }
  return sumf;
}

float dot_q2_k(const std::byte* wp, const std::byte* ap, int64_t nb) {
  const auto* w = blocks<BlockQ2_K>(wp);
  const auto* a = blocks<BlockQ8_K>(ap);
  float sumf = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int8_t q[256];
    for_each_2bit(w[i].qs, [&](int e, int v) { q[e] = static_cast<int8_t>(v); });
    int isum = 0, msum = 0;
    for (int g = 0; g < 16; ++g) {
      int sub = 0;
      for (int l = 0; l < 16; ++l) sub += q[16 * g + l] * a[i].qs[16 * g + l];
      isum += (w[i].scales[g] & 0xF) * sub;
      msum += (w[i].scales[g] >> 4) * a[i].bsums[g];
    }
    sumf += fp16_to_fp32(w[i].d) * a[i].d * static_cast<float>(isum) -
            fp16_to_fp32(w[i].dmin) * a[i].d * static_cast<float>(msum);
  }
  return sumf;
}

float dot_iq4_xs(const std::byte* wp, const std::byte* ap, int64_t nb) {
  const auto* w = blocks<BlockIQ4_XS>(wp);
  const auto* a = blocks<BlockQ8_K>(ap);
  float sumf = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int isum = 0;
    for (int ib = 0; ib < 8; ++ib) {
      const int ls = ((w[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((w[i].scales_h >> (2 * ib)) & 3) << 4);
      const uint8_t* qs = w[i].qs + 16 * ib;
      const int8_t* qa = a[i].qs + 32 * ib;
      int sub = 0;
      for (int j = 0; j < 16; ++j)
        sub += kIq4nlValues[qs[j] & 0xF] * qa[j] + kIq4nlValues[qs[j] >> 4] * qa[j + 16];
      isum += (ls - 32) * sub;
    }
    sumf += fp16_to_fp32(w[i].d) * a[i].d * static_cast<float>(isum);
  }
  return sumf;
}

}  // namespace

float vec_dot_scalar(GgmlType type, int64_t n, const std::byte* w, const std::byte* a) {
  const int64_t nb = n / kQK, nbk = n / kQKK;
  switch (type) {
    case GgmlType::Q4_0:
      return dot_legacy_q8_0<BlockQ4_0>(w, a, nb, [](const BlockQ4_0& b, int* q) { unpack_nibbles(b, q, 8); });
    case GgmlType::Q5_0:
      return dot_legacy_q8_0<BlockQ5_0>(w, a, nb, [](const BlockQ5_0& b, int* q) { unpack_q5(b, q, 16); });
    case GgmlType::Q8_0:
      return dot_legacy_q8_0<BlockQ8_0>(w, a, nb, [](const BlockQ8_0& b, int* q) {
        for (int j = 0; j < 32; ++j) q[j] = b.qs[j];
      });
    case GgmlType::IQ4_NL:
      return dot_legacy_q8_0<BlockIQ4_NL>(w, a, nb, [](const BlockIQ4_NL& b, int* q) {
        for (int j = 0; j < 16; ++j) {
          q[j] = kIq4nlValues[b.qs[j] & 0xF];
          q[j + 16] = kIq4nlValues[b.qs[j] >> 4];
        }
      });
    case GgmlType::Q4_1:
      return dot_legacy_q8_1<BlockQ4_1>(w, a, nb, [](const BlockQ4_1& b, int* q) { unpack_nibbles(b, q, 0); });
    case GgmlType::Q5_1:
      return dot_legacy_q8_1<BlockQ5_1>(w, a, nb, [](const BlockQ5_1& b, int* q) { unpack_q5(b, q, 0); });
    case GgmlType::Q2_K: return dot_q2_k(w, a, nbk);
    case GgmlType::Q3_K: return dot_q3_k(w, a, nbk);
    case GgmlType::Q4_K: return dot_k4<BlockQ4_K>(w, a, nbk);
    case GgmlType::Q5_K: return dot_k4<BlockQ5_K>(w, a, nbk);
    case GgmlType::Q6_K: return dot_q6_k(w, a, nbk);
    case GgmlType::IQ4_XS: return dot_iq4_xs(w, a, nbk);
    default:
      throw Error("no quantized dot product for type " + std::string(ggml_type_name(type)));
  }
}

float dot_f32_scalar(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void gemm_f32_scalar(const float* w, size_t w_stride, int64_t n_rows, const float* x,
                     size_t x_stride, int64_t n_tokens, int64_t n, float* y, size_t y_stride) {
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < n_rows; ++r)
      y[t * y_stride + r] = dot_f32_scalar(w + r * w_stride, x + t * x_stride, n);
}

}  // namespace layerlab
