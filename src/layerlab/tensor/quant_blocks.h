// ggml block layouts (byte-compatible with the GGUF tensor data) for the quantized types
// layerlab computes with. f16 fields are kept as raw uint16_t bits.
#pragma once

#include <cstdint>
#include <cstring>

namespace layerlab {

inline constexpr int kQK = 32;    // legacy block size
inline constexpr int kQKK = 256;  // k-quant super-block size

struct BlockQ4_0 { uint16_t d; uint8_t qs[16]; };
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[16]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[32]; };
struct BlockQ8_1 { uint16_t d, s; int8_t qs[32]; };  // s = f16(d * sum(qs))
struct BlockQ2_K { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; };
struct BlockQ3_K { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; };
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct BlockQ6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
struct BlockQ8_K { float d; int8_t qs[256]; int16_t bsums[16]; };  // bsums: sums of 16 qs
struct BlockIQ4_NL { uint16_t d; uint8_t qs[16]; };
struct BlockIQ4_XS { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; };

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockIQ4_NL) == 18 && sizeof(BlockIQ4_XS) == 136);

// Non-linear 4-bit codebook of IQ4_NL and IQ4_XS.
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block.
inline void k4_scale_min(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// All 8 scales (out[0..7]) and 8 mins (out[8..15]) of a Q4_K / Q5_K block, the values of
// k4_scale_min, unpacked four at a time with 32-bit operations (little-endian): scales 0..3
// and mins 0..3 are the low 6 bits of bytes 0..3 and 4..7; scales 4..7 take the low nibbles of
// bytes 8..11 plus the top 2 bits of bytes 0..3, mins 4..7 the high nibbles plus those of 4..7.
inline void k4_unpack_scales_mins(const uint8_t* q, uint8_t out[16]) {
  uint32_t u[3];
  std::memcpy(u, q, sizeof(u));
  constexpr uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
  const uint32_t r[4] = {u[0] & low6, (u[2] & low4) | (((u[0] >> 6) & low2) << 4), u[1] & low6,
                         ((u[2] >> 4) & low4) | (((u[1] >> 6) & low2) << 4)};
  std::memcpy(out, r, sizeof(r));
}

// Signed 6-bit scales of the 16 sub-blocks of a Q3_K block (already minus 32).
inline void q3k_scales(const uint8_t* b, int8_t out[16]) {
  for (int j = 0; j < 16; ++j) {
    const int low4 = j < 8 ? (b[j] & 0xF) : (b[j - 8] >> 4);
    const int high2 = (b[8 + j % 4] >> (2 * (j / 4))) & 3;
    out[j] = static_cast<int8_t>((low4 | (high2 << 4)) - 32);
  }
}

}  // namespace layerlab
