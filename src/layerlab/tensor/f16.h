// IEEE binary16 and bfloat16 <-> float32 conversions, bit-exact with ggml's CPU backend:
// widening is exact; narrowing rounds to nearest, ties to even (what F16C's vcvtps2ph and
// ggml's bf16 conversion do).
#pragma once

#include <bit>
#include <cstdint>

namespace layerlab {

inline float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return std::bit_cast<float>(sign);
  // Subnormal half: mant * 2^-24, exactly representable as a normal float.
  int e = 113;
  while ((mant & 0x400) == 0) {
    mant <<= 1;
    --e;
  }
  return std::bit_cast<float>(sign | (static_cast<uint32_t>(e) << 23) | ((mant & 0x3ff) << 13));
}

inline uint16_t fp32_to_fp16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00 | static_cast<uint16_t>((ax >> 13) & 0x3ff);  // quiet NaN
  if (ax >= 0x47800000u) return sign | 0x7c00;  // >= 65536: infinity
  uint32_t h, rem, half;
  if (ax >= 0x38800000u) {  // normal half: rebias exponent, keep 10 mantissa bits
    h = ((((ax >> 23) - 112) << 10) | ((ax >> 13) & 0x3ff));
    rem = ax & 0x1fff;
    half = 0x1000;
  } else {
    if (ax < 0x33000000u) return sign;  // below half of the smallest subnormal: zero
    // Subnormal half: the value in units of 2^-24 is mant24 >> (126 - exp).
    const uint32_t mant = (ax & 0x7fffff) | 0x800000;
    const uint32_t shift = 126 - (ax >> 23);
    h = mant >> shift;
    rem = mant & ((1u << shift) - 1);
    half = 1u << (shift - 1);
  }
  if (rem > half || (rem == half && (h & 1))) ++h;  // a carry into the exponent is still right
  return sign | static_cast<uint16_t>(h);
}

inline float bf16_to_fp32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

inline uint16_t fp32_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 64);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

// Rounds a float to the nearest f16 / bf16 value and returns it widened again.
inline float round_to_fp16(float f) { return fp16_to_fp32(fp32_to_fp16(f)); }
inline float round_to_bf16(float f) { return bf16_to_fp32(fp32_to_bf16(f)); }

}  // namespace layerlab
