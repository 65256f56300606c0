// Dequantization and f16/bf16 conversion: the library's kernels (SIMD-dispatched and scalar)
// against independent per-element re-implementations of the block layouts, and a check on
// the quantized llama fixtures against the F16 file holding the same weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/tensor/dequantize.h"
#include "layerlab/tensor/f16.h"
#include "layerlab/tensor/kernels.h"
#include "layerlab/tensor/quant_blocks.h"
#include "quant_test_data.h"
#include "test_support.h"

namespace layerlab {
namespace {

using testing::random_rows;

// ---- independent reference: element e of a block, read straight from the bytes ----

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
float h2f(const uint8_t* p) { return static_cast<float>(static_cast<_Float16>(std::bit_cast<_Float16>(u16(p)))); }

const int kNl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Low or high nibble of the legacy layout: element e < 16 -> low nibble of qs[e], else high of qs[e-16].
int legacy_nibble(const uint8_t* qs, int e) { return e < 16 ? (qs[e] & 15) : (qs[e - 16] >> 4); }

// The 6-bit scale/min pair j of Q4_K/Q5_K written as the bit fields they are.
void k4_pair(const uint8_t* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] % 64;
    m = s[j + 4] % 64;
  } else {
    sc = (s[j + 4] % 16) + 16 * (s[j - 4] / 64);
    m = (s[j + 4] / 16) + 16 * (s[j] / 64);
  }
}

// Q2_K/Q3_K element order: e = 128n + 32j + 16h + l -> byte qs[32n + 16h + l], shift 2j, scale 8n+2j+h.
struct TwoBit { int byte, shift, scale; };
TwoBit two_bit_pos(int e) {
  const int n = e / 128, j = (e % 128) / 32, h = (e % 32) / 16, l = e % 16;
  return {32 * n + 16 * h + l, 2 * j, 8 * n + 2 * j + h};
}

float ref_element(GgmlType t, const uint8_t* b, int e) {
  switch (t) {
    case GgmlType::Q4_0: return static_cast<float>(legacy_nibble(b + 2, e) - 8) * h2f(b);
    case GgmlType::Q4_1: return static_cast<float>(legacy_nibble(b + 4, e)) * h2f(b) + h2f(b + 2);
    case GgmlType::Q5_0: case GgmlType::Q5_1: {
      const bool one = t == GgmlType::Q5_1;
      const uint8_t* qh = b + (one ? 4 : 2);
      const uint32_t h = qh[0] | (qh[1] << 8) | (qh[2] << 16) | (static_cast<uint32_t>(qh[3]) << 24);
      const int q = legacy_nibble(qh + 4, e) + 16 * ((h >> e) & 1);
      return one ? static_cast<float>(q) * h2f(b) + h2f(b + 2) : static_cast<float>(q - 16) * h2f(b);
    }
    case GgmlType::Q8_0: return static_cast<float>(static_cast<int8_t>(b[2 + e])) * h2f(b);
    case GgmlType::IQ4_NL: return h2f(b) * static_cast<float>(kNl[legacy_nibble(b + 2, e)]);
    case GgmlType::Q4_K: case GgmlType::Q5_K: {
      const bool five = t == GgmlType::Q5_K;
      const uint8_t* qs = b + (five ? 48 : 16);
      const int g = e / 64, hi = (e % 64) / 32, l = e % 32;
      int q = hi ? (qs[32 * g + l] >> 4) : (qs[32 * g + l] & 15);
      if (five) q += 16 * ((b[16 + l] >> (2 * g + hi)) & 1);
      int sc, m;
      k4_pair(b + 4, 2 * g + hi, sc, m);
      return h2f(b) * static_cast<float>(sc) * static_cast<float>(q) - h2f(b + 2) * static_cast<float>(m);
    }
    case GgmlType::Q6_K: {
      const int n = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
      const uint8_t* ql = b + 64 * n;
      const uint8_t* qh = b + 128 + 32 * n;
      const int low = ql[l + 32 * (quarter % 2)];
      const int low4 = quarter < 2 ? (low & 15) : (low >> 4);
      const int q = (low4 | (((qh[l] >> (2 * quarter)) & 3) << 4)) - 32;
      const int sc = static_cast<int8_t>(b[192 + 8 * n + l / 16 + 2 * quarter]);
      return h2f(b + 208) * static_cast<float>(sc) * static_cast<float>(q);
    }
    case GgmlType::Q3_K: {
      const TwoBit p = two_bit_pos(e);
      const uint8_t* s = b + 96;
      const int j = p.scale;
      const int low4 = j < 8 ? (s[j] & 15) : (s[j - 8] >> 4);
      const int high2 = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
      const int scale = (low4 | (high2 << 4)) - 32;
      const int n = e / 128, jj = (e % 128) / 32, k = e % 32;
      const bool hbit = (b[k] >> (4 * n + jj)) & 1;
      const int q = ((b[32 + p.byte] >> p.shift) & 3) - (hbit ? 0 : 4);
      return h2f(b + 108) * static_cast<float>(scale) * static_cast<float>(q);
    }
    case GgmlType::Q2_K: {
      const TwoBit p = two_bit_pos(e);
      const int s = b[p.scale];
      const int q = (b[16 + p.byte] >> p.shift) & 3;
      return h2f(b + 80) * static_cast<float>(s & 15) * static_cast<float>(q) - h2f(b + 82) * static_cast<float>(s >> 4);
    }
    case GgmlType::IQ4_XS: {
      const int ib = e / 32, k = e % 32;
      const int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 15) | (((u16(b + 2) >> (2 * ib)) & 3) << 4);
      const int nib = legacy_nibble(b + 8 + 16 * ib, k);
      return h2f(b) * static_cast<float>(ls - 32) * static_cast<float>(kNl[nib]);
    }
    default: ADD_FAILURE() << "no reference"; return 0;
  }
}

std::vector<float> reference_row(GgmlType t, const std::byte* row, int64_t n) {
  const auto info = *ggml_type_info(static_cast<uint32_t>(t));
  std::vector<float> out(static_cast<size_t>(n));
  const auto* b = reinterpret_cast<const uint8_t*>(row);
  for (int64_t i = 0; i < n; ++i) {
    if (t == GgmlType::F32) std::memcpy(&out[i], b + 4 * i, 4);
    else if (t == GgmlType::F16) out[i] = h2f(b + 2 * i);
    else if (t == GgmlType::BF16) out[i] = std::bit_cast<float>(static_cast<uint32_t>(u16(b + 2 * i)) << 16);
    else out[i] = ref_element(t, b + (i / info.block_size) * info.type_size, static_cast<int>(i % info.block_size));
  }
  return out;
}

TEST(Dequantize, EveryTypeMatchesIndependentReferenceBitExactly) {
  std::mt19937 rng(1234);
  for (GgmlType t : testing::computable_types()) {
    SCOPED_TRACE(std::string(ggml_type_name(t)));
    ASSERT_TRUE(can_dequantize(t));
    const int64_t n = 256 * 5;  // several blocks, and an odd count of 256-blocks
    auto [data, row_bytes] = random_rows(t, 3, n, rng);
    for (int r = 0; r < 3; ++r) {
      const std::byte* row = data.data() + r * row_bytes;
      const auto ref = reference_row(t, row, n);
      std::vector<float> simd(n), scalar(n);
      dequantize_row(t, row, simd.data(), n);
      dequantize_row_scalar(t, row, scalar.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(ref[i]), std::bit_cast<uint32_t>(scalar[i])) << "element " << i;
        ASSERT_EQ(std::bit_cast<uint32_t>(ref[i]), std::bit_cast<uint32_t>(simd[i])) << "element " << i;
      }
    }
  }
}

// The word-at-a-time unpacking of Q4_K / Q5_K scales and mins equals the per-sub-block rule,
// for random bytes and for every value of each byte in turn.
TEST(Dequantize, K4ScalesUnpackedTogetherEqualOneByOne) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> byte(0, 255);
  auto check = [](const uint8_t* q) {
    uint8_t out[16];
    k4_unpack_scales_mins(q, out);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      k4_scale_min(j, q, sc, m);
      ASSERT_EQ(out[j], sc) << "scale " << j;
      ASSERT_EQ(out[8 + j], m) << "min " << j;
    }
  };
  uint8_t q[12];
  for (int rep = 0; rep < 2000; ++rep) {
    for (auto& b : q) b = static_cast<uint8_t>(byte(rng));
    check(q);
  }
  for (int pos = 0; pos < 12; ++pos)
    for (int v = 0; v < 256; ++v) {
      for (auto& b : q) b = static_cast<uint8_t>(byte(rng));
      q[pos] = static_cast<uint8_t>(v);
      check(q);
    }
}

TEST(Dequantize, UnsupportedTypeThrows) {
  EXPECT_FALSE(can_dequantize(GgmlType::IQ2_XXS));
  std::vector<std::byte> buf(66);
  std::vector<float> out(256);
  EXPECT_THROW(dequantize_row(GgmlType::IQ2_XXS, buf.data(), out.data(), 256), Error);
}

TEST(F16, WideningEveryHalfMatchesCompiler) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float want = static_cast<float>(std::bit_cast<_Float16>(static_cast<uint16_t>(h)));
    const float got = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << h;
    } else {
      ASSERT_EQ(std::bit_cast<uint32_t>(want), std::bit_cast<uint32_t>(got)) << h;
    }
  }
}

TEST(F16, NarrowingRoundsToNearestEven) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits;
  std::vector<float> samples = {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, 1e-8f, 2.98023224e-8f,
                                5.96046448e-8f, 6.0e-5f, 1.00048828125f /* tie -> even */,
                                1.00146484375f /* tie -> up */, INFINITY, -INFINITY};
  for (int i = 0; i < 200000; ++i) {
    float f = std::bit_cast<float>(bits(rng));
    if (std::isnan(f)) continue;
    samples.push_back(f);
    samples.push_back(std::ldexp(static_cast<float>(i % 4096) + 0.5f, -10 - (i % 30)));  // exact ties
  }
  for (float f : samples) {
    const uint16_t want = std::bit_cast<uint16_t>(static_cast<_Float16>(f));
    ASSERT_EQ(want, fp32_to_fp16(f)) << f;
  }
  EXPECT_EQ(fp32_to_fp16(1.00048828125f), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(1.00146484375f), 0x3c02);
}

TEST(BF16, NarrowingRoundsToNearestEven) {
  std::mt19937 rng(8);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    const float f = std::bit_cast<float>((bits(rng) & 0xffff8000u) | (i % 3 == 0 ? 0x8000u : 0u));
    if (std::isnan(f)) continue;
    const uint16_t got = fp32_to_bf16(f);
    // Candidates: truncation and the next value up in magnitude; pick the nearer, even on a tie.
    const uint32_t x = std::bit_cast<uint32_t>(f);
    const uint16_t lo = static_cast<uint16_t>(x >> 16);
    const uint32_t rem = x & 0xffff;
    const uint16_t want = (rem > 0x8000 || (rem == 0x8000 && (lo & 1))) ? static_cast<uint16_t>(lo + 1) : lo;
    ASSERT_EQ(want, got) << f;
  }
  EXPECT_EQ(bf16_to_fp32(fp32_to_bf16(1.0f)), 1.0f);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
}

// ---- fixtures: every weight of each quantized llama file vs the same weights in llama-f16 ----

// Largest error a round-to-nearest quantizer with per-block scales can make is about half a
// step; the step of each format is bounded by the block's value range / levels. We check a
// bound relative to each row's max |value| that every format meets with margin.
double max_rel_error_bound(GgmlType t) {
  switch (t) {
    case GgmlType::BF16: return 1.0 / 256;
    case GgmlType::Q8_0: return 1.0 / 127;
    case GgmlType::Q6_K: return 1.0 / 24;
    case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::Q5_K: return 1.0 / 12;
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q4_K: return 1.0 / 6;
    case GgmlType::Q3_K: return 1.0 / 3;
    default: return 1.0;  // Q2_K
  }
}

std::vector<float> dequantize_tensor(const TensorInfo& t) {
  const int64_t n = t.n_elements();
  std::vector<float> out(static_cast<size_t>(n));
  const int64_t rows = n / t.ne[0];
  for (int64_t r = 0; r < rows; ++r)
    dequantize_row(t.type, t.data.data() + r * t.row_bytes(), out.data() + r * t.ne[0], t.ne[0]);
  return out;
}

TEST(DequantizeFixtures, QuantizedLlamaFilesMatchF16WeightsWithinQuantizationError) {
  const ModelFile base = read_gguf(testing::fixture_model("llama-f16.gguf"));
  const std::vector<std::pair<std::string, GgmlType>> files = {
      {"llama-bf16.gguf", GgmlType::BF16},  {"llama-q8_0.gguf", GgmlType::Q8_0},
      {"llama-q6_k.gguf", GgmlType::Q6_K},  {"llama-q5_k_m.gguf", GgmlType::Q5_K},
      {"llama-q5_1.gguf", GgmlType::Q5_1},  {"llama-q5_0.gguf", GgmlType::Q5_0},
      {"llama-q4_k_m.gguf", GgmlType::Q4_K}, {"llama-q4_1.gguf", GgmlType::Q4_1},
      {"llama-q4_0.gguf", GgmlType::Q4_0},  {"llama-q3_k_m.gguf", GgmlType::Q3_K},
      {"llama-q2_k.gguf", GgmlType::Q2_K}};
  for (const auto& [file, type] : files) {
    SCOPED_TRACE(file);
    const ModelFile m = read_gguf(testing::fixture_model(file));
    int matrices = 0;
    double worst_rms = 0.0;
    for (const TensorInfo& t : m.tensors) {
      const TensorInfo* ref = base.find_tensor(t.name);
      ASSERT_NE(ref, nullptr) << t.name;
      ASSERT_EQ(t.ne, ref->ne) << t.name;
      if (t.n_dims == 1) {
        ASSERT_EQ(t.type, GgmlType::F32) << t.name;
        continue;
      }
      ASSERT_EQ(t.type, type) << t.name;  // --pure: every matrix has the file's type
      ++matrices;
      const auto got = dequantize_tensor(t);
      const auto want = dequantize_tensor(*ref);
      const int64_t cols = t.ne[0];
      double se = 0.0, sv = 0.0;
      for (int64_t r = 0; r < t.ne[1]; ++r) {
        double row_max = 0.0;
        for (int64_t i = 0; i < cols; ++i) row_max = std::max(row_max, std::fabs(double(want[r * cols + i])));
        for (int64_t i = 0; i < cols; ++i) {
          const double e = std::fabs(double(got[r * cols + i]) - want[r * cols + i]);
          ASSERT_LE(e, max_rel_error_bound(type) * row_max + 1e-6) << t.name << " row " << r << " col " << i;
          se += e * e;
          sv += double(want[r * cols + i]) * want[r * cols + i];
        }
      }
      worst_rms = std::max(worst_rms, std::sqrt(se / sv));
    }
    EXPECT_EQ(matrices, 44);
    // BF16 holds the very same values (the fixtures are bf16- and f16-exact).
    if (type == GgmlType::BF16) {
      EXPECT_EQ(worst_rms, 0.0);
    } else if (type == GgmlType::Q8_0) {
      EXPECT_LT(worst_rms, 0.01);
    } else if (type == GgmlType::Q4_K) {
      EXPECT_LT(worst_rms, 0.15);
    }
    EXPECT_GT(worst_rms, type == GgmlType::BF16 ? -1.0 : 1e-5);  // quantized: not a copy
  }
}

}  // namespace
}  // namespace layerlab
