// Register-blocked integer kernels for x86 (Highway's AVX2 and AVX-512 targets), included by
// kernels_simd.cpp inside its per-target namespace, so it is compiled once per target.
//
// A tile is R weight rows x T activation rows. Each weight block is loaded and unpacked once
// per tile and used for T tokens; each activation block is loaded once and used for R rows.
// Products of 8-bit values use maddubs (unsigned x signed bytes -> pairs summed into int16)
// followed by madd into int32: Q8_0 weights use the sign trick |w| * (a * sign(w)); Q4_K and
// Q6_K quants are already unsigned. All integer sums are exact (the ranges are checked in the
// comments); each block adds one float term per int32 lane.
//
// Every (row, token) pair is computed by the same sequence of operations whatever R and T
// are, so a 1x1 tile (vec_dot), the decode tiles and the prefill tiles agree bit for bit.
// Kernels write out[r * T + t].

// ---------------------------------------------------------------- shared helpers

HWY_INLINE float HalfToFloat(uint16_t h) { return _cvtsh_ss(h); }

HWY_INLINE float HSum256(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 s2 = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

HWY_INLINE __m256i Load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Decode streams the weights once, and one core's streaming speed is limited by memory latency:
// while a tile of R consecutive rows is read, fetch the same place of the next tile's rows
// (a measured 1.5-2.5x on one core). Prefetches past the matrix are harmless.
template <int R, int T, class Block>
HWY_INLINE ptrdiff_t NextTileDistance(const Block* const* w) {
  if constexpr (T == 1 && R > 1) return R * (reinterpret_cast<const char*>(w[1]) - reinterpret_cast<const char*>(w[0]));
  return 0;
}
template <int T, class Block>
HWY_INLINE void PrefetchNextTile(const Block* b, ptrdiff_t ahead) {
  if constexpr (T == 1) {
    const char* p = reinterpret_cast<const char*>(b) + ahead;
    for (size_t off = 0; off < sizeof(Block); off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
  }
}

// ---------------------------------------------------------------- Q8_0 / Q4_0 / Q5_0 x Q8_0

// A 32-value weight block as signed bytes in element order.
HWY_INLINE __m256i LoadWeight(const BlockQ8_0& b) { return Load256(b.qs); }
// Q4_0: element j < 16 is the low nibble of qs[j], element j + 16 its high nibble; minus 8.
HWY_INLINE __m256i Nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}
HWY_INLINE __m256i LoadWeight(const BlockQ4_0& b) { return _mm256_sub_epi8(Nibbles(b.qs), _mm256_set1_epi8(8)); }
// Q5_0: as Q4_0 plus bit j of the little-endian qh as bit 4 of element j; minus 16.
HWY_INLINE __m256i LoadWeight(const BlockQ5_0& b) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  // Byte k gets qh's byte k / 8, then keeps bit k % 8.
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(qh)),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  const __m256i high = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
  return _mm256_sub_epi8(_mm256_or_si256(Nibbles(b.qs), high), _mm256_set1_epi8(16));
}

// One block per 256-bit vector; _mm256_sign_epi8 gives |w| and a * sign(w). With kSplit,
// even and odd blocks go to two accumulators added at the end, which is exactly what the
// AVX-512 kernel computes in its two halves (and its _mm512_reduce_add_ps adds the halves
// first, then reduces like HSum256), so both kernels give identical results.
// Q4_0 and Q5_0 weights (|w| <= 16) use the same kernel after unpacking to bytes.
template <int R, int T, bool kSplit, class Block = BlockQ8_0>
HWY_INLINE void TileQ8_0x256(int64_t nb, const Block* const* w, const BlockQ8_0* const* a, float* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[2][R][T];
  for (int h = 0; h < 2; ++h)
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[h][r][t] = _mm256_setzero_ps();
  const ptrdiff_t ahead = NextTileDistance<R, T>(w);
  for (int64_t i = 0; i < nb; ++i) {
    const int h = kSplit ? static_cast<int>(i & 1) : 0;
    __m256i wv[R], aw[R];
    float dw[R];
    for (int r = 0; r < R; ++r) {
      if (ahead) PrefetchNextTile<T>(w[r] + i, ahead);
      wv[r] = LoadWeight(w[r][i]);
      aw[r] = _mm256_sign_epi8(wv[r], wv[r]);
      dw[r] = HalfToFloat(w[r][i].d);
    }
    for (int t = 0; t < T; ++t) {
      const __m256i av = Load256(a[t][i].qs);
      const float da = HalfToFloat(a[t][i].d);
      for (int r = 0; r < R; ++r) {
        // Activations are in [-127, 127]: |w| * a pairs stay within int16 (2 * 128 * 127).
        // The scale product is the same float as the AVX-512 kernel's vector product.
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw[r], _mm256_sign_epi8(av, wv[r])), ones);
        acc[h][r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * da), _mm256_cvtepi32_ps(p), acc[h][r][t]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t)
      out[r * T + t] = HSum256(kSplit ? _mm256_add_ps(acc[0][r][t], acc[1][r][t]) : acc[0][r][t]);
}

#if HWY_TARGET <= HWY_AVX3
// AVX-512: two 32-value blocks per vector. Lanes 0..7 accumulate even blocks, 8..15 odd ones.
template <int R, int T>
HWY_INLINE void TileQ8_0x512(int64_t nb, const BlockQ8_0* const* w, const BlockQ8_0* const* a, float* out) {
  [[maybe_unused]] const __m512i ones = _mm512_set1_epi16(1);
  const __m512i zero = _mm512_setzero_si512();
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  auto load2 = [](const BlockQ8_0* b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(Load256(b[0].qs)), Load256(b[1].qs), 1);
  };
  // Both f16 scales of a block pair lie in its first 64 bytes (at bytes 0 and 34): one load,
  // one word permute to [d0 x 8, d1 x 8] and one conversion.
  const __m256i pick_d = _mm256_setr_epi16(0, 0, 0, 0, 0, 0, 0, 0, 17, 17, 17, 17, 17, 17, 17, 17);
  auto scale2 = [&](const BlockQ8_0* b) {
    const __m512i raw = _mm512_loadu_si512(b);
    return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(_mm512_castsi256_si512(pick_d), raw)));
  };
  // The last block of an odd count: upper half zero (its products are 0 and add nothing).
  auto load1 = [](const BlockQ8_0* b) { return _mm512_zextsi256_si512(Load256(b[0].qs)); };
  auto scale1 = [](const BlockQ8_0* b) { return _mm512_maskz_mov_ps(0x00FF, _mm512_set1_ps(HalfToFloat(b[0].d))); };
  auto step = [&](int64_t i, auto load, auto scale) {
    __m512i aw[R];
    __mmask64 neg[R];
    __m512 dw[R];
    for (int r = 0; r < R; ++r) {
      const __m512i v = load(w[r] + i);
      aw[r] = _mm512_abs_epi8(v);  // -128 -> 0x80, read as 128 by maddubs
      neg[r] = _mm512_movepi8_mask(v);
      dw[r] = scale(w[r] + i);
    }
    for (int t = 0; t < T; ++t) {
      const __m512i av = load(a[t] + i);
      const __m512 da = scale(a[t] + i);
      for (int r = 0; r < R; ++r) {
        // a * sign(w): activations are in [-127, 127], so |w| * a pairs stay within int16
        // (2 * 128 * 127 = 32512).
        const __m512i sa = _mm512_mask_sub_epi8(av, neg[r], zero, av);
        const __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16(aw[r], sa), ones);
        acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(dw[r], da), _mm512_cvtepi32_ps(p), acc[r][t]);
      }
    }
  };
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) step(i, load2, scale2);
  if (i < nb) step(i, load1, scale1);
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r * T + t] = _mm512_reduce_add_ps(acc[r][t]);
}
// Prefill: AVX-512 tiles of 4 x 4. Decode: 256-bit vectors, which run on more ports and
// measured faster for one token; the split keeps both bit-identical.
template <int R, int T>
HWY_INLINE void TileQ8_0(int64_t nb, const BlockQ8_0* const* w, const BlockQ8_0* const* a, float* out) {
  if constexpr (T == 1) TileQ8_0x256<R, 1, true>(nb, w, a, out);
  else TileQ8_0x512<R, T>(nb, w, a, out);
}
constexpr int kQ8TileRows = 4, kQ8TileTokens = 4;
constexpr int kQ8DecodeRows = 4;
constexpr int kLegacyTileRows = 4, kLegacyTileTokens = 4;  // 256-bit, 32 registers
#else
template <int R, int T>
HWY_INLINE void TileQ8_0(int64_t nb, const BlockQ8_0* const* w, const BlockQ8_0* const* a, float* out) {
  TileQ8_0x256<R, T, false>(nb, w, a, out);
}
constexpr int kQ8TileRows = 2, kQ8TileTokens = 4, kQ8DecodeRows = 4;
constexpr int kLegacyTileRows = 2, kLegacyTileTokens = 4;
#endif

// ---------------------------------------------------------------- Q4_K x Q8_K

// Per 256-value block: Σ_j sc_j Σ q·a (q in 0..15, maddubs pairs <= 2·15·128, madd by a 6-bit
// scale <= 2·3840·63 per lane per step) minus the mins term Σ_j m_j (bsum pairs), both exact
// int32 lanes, scaled by d·d_a and dmin·d_a.
template <int R, int T>
HWY_INLINE void TileQ4_K(int64_t nb, const BlockQ4_K* const* w, const BlockQ8_K* const* a, float* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const ptrdiff_t ahead = NextTileDistance<R, T>(w);
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    alignas(16) uint8_t sc[R][8], mins2[R][16];
    if (ahead)
      for (int r = 0; r < R; ++r) PrefetchNextTile<T>(w[r] + i, ahead);
    for (int r = 0; r < R; ++r)
      for (int s = 0; s < 8; ++s) {
        uint8_t m;
        k4_scale_min(s, w[r][i].scales, sc[r][s], m);
        mins2[r][2 * s] = mins2[r][2 * s + 1] = m;  // pairs with bsums 2s, 2s+1
      }
    __m256i isum[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) isum[r][t] = _mm256_setzero_si256();
    for (int g = 0; g < 4; ++g) {
      __m256i lo[R], hi[R], slo[R], shi[R];
      for (int r = 0; r < R; ++r) {
        const __m256i q = Load256(w[r][i].qs + 32 * g);
        lo[r] = _mm256_and_si256(q, low4);
        hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
        slo[r] = _mm256_set1_epi16(sc[r][2 * g]);
        shi[r] = _mm256_set1_epi16(sc[r][2 * g + 1]);
      }
      for (int t = 0; t < T; ++t) {
        const __m256i alo = Load256(a[t][i].qs + 64 * g), ahi = Load256(a[t][i].qs + 64 * g + 32);
        for (int r = 0; r < R; ++r) {
          const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[r], alo), slo[r]);
          const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[r], ahi), shi[r]);
          isum[r][t] = _mm256_add_epi32(isum[r][t], _mm256_add_epi32(pl, ph));
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      const float dw = HalfToFloat(w[r][i].d), dmin = HalfToFloat(w[r][i].dmin);
      const __m256i m16 = _mm256_cvtepu8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(mins2[r])));
      for (int t = 0; t < T; ++t) {
        const float da = a[t][i].d;
        const __m256i msum = _mm256_madd_epi16(Load256(a[t][i].bsums), m16);
        acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * da), _mm256_cvtepi32_ps(isum[r][t]), acc[r][t]);
        acc[r][t] = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * da), _mm256_cvtepi32_ps(msum), acc[r][t]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r * T + t] = HSum256(acc[r][t]);
}

// ---------------------------------------------------------------- Q6_K x Q8_K

// Quants are used unsigned (q + 32 in 0..63; maddubs pairs <= 2·63·128); the offset is
// removed with the activation block sums: Σ_j sc_j (Σ (q+32)·a - 32 bsum_j). Per lane and
// block |Σ| <= 8 · 2 · 16128 · 128, well inside int32.
template <int R, int T>
HWY_INLINE void TileQ6_K(int64_t nb, const BlockQ6_K* const* w, const BlockQ8_K* const* a, float* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  const ptrdiff_t ahead = NextTileDistance<R, T>(w);
  for (int64_t i = 0; i < nb; ++i) {
    __m256i isum[R][T];
    if (ahead)
      for (int r = 0; r < R; ++r) PrefetchNextTile<T>(w[r] + i, ahead);
    for (int r = 0; r < R; ++r) {
      // 32 · Σ_j sc_j bsum_j, per lane pairs of sub-blocks (madd of int16 scales and sums).
      const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[r][i].scales)));
      for (int t = 0; t < T; ++t)
        isum[r][t] = _mm256_slli_epi32(_mm256_madd_epi16(Load256(a[t][i].bsums), sc16), 5);
      for (int t = 0; t < T; ++t) isum[r][t] = _mm256_sub_epi32(_mm256_setzero_si256(), isum[r][t]);
    }
    for (int n = 0; n < 2; ++n) {
      __m256i l0[R], l1[R], h[R];
      for (int r = 0; r < R; ++r) {
        l0[r] = Load256(w[r][i].ql + 64 * n);
        l1[r] = Load256(w[r][i].ql + 64 * n + 32);
        h[r] = Load256(w[r][i].qh + 32 * n);
      }
      for (int k = 0; k < 4; ++k) {
        __m256i q[R], s[R];
        for (int r = 0; r < R; ++r) {
          const int8_t* sc = w[r][i].scales + 8 * n + 2 * k;
          s[r] = _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
          switch (k) {
            case 0: q[r] = _mm256_or_si256(_mm256_and_si256(l0[r], low4), _mm256_and_si256(_mm256_slli_epi16(h[r], 4), bits45)); break;
            case 1: q[r] = _mm256_or_si256(_mm256_and_si256(l1[r], low4), _mm256_and_si256(_mm256_slli_epi16(h[r], 2), bits45)); break;
            case 2: q[r] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0[r], 4), low4), _mm256_and_si256(h[r], bits45)); break;
            default: q[r] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1[r], 4), low4), _mm256_and_si256(_mm256_srli_epi16(h[r], 2), bits45)); break;
          }
        }
        for (int t = 0; t < T; ++t) {
          const __m256i av = Load256(a[t][i].qs + 128 * n + 32 * k);
          for (int r = 0; r < R; ++r)
            isum[r][t] = _mm256_add_epi32(isum[r][t], _mm256_madd_epi16(_mm256_maddubs_epi16(q[r], av), s[r]));
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      const float dw = HalfToFloat(w[r][i].d);
      for (int t = 0; t < T; ++t)
        acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * a[t][i].d), _mm256_cvtepi32_ps(isum[r][t]), acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r * T + t] = HSum256(acc[r][t]);
}

#if HWY_TARGET <= HWY_AVX3
constexpr int kKTileRows = 2, kKTileTokens = 4;  // 32 vector registers
#else
constexpr int kKTileRows = 2, kKTileTokens = 2;
#endif

// ---------------------------------------------------------------- tiling

// Calls K::template Run<R, T>(rows, tokens, out) over n_rows x n_tokens in tiles of at most
// RM x TM (leftover rows one at a time, leftover tokens with a smaller T).
template <class Block, class Act, int R, int T, class Kern>
HWY_INLINE void RunTile(Kern kern, int64_t nb, const std::byte* w, size_t ws, int64_t r0, const std::byte* a,
                        size_t as, int64_t t0, float* y, size_t ys) {
  const Block* wr[R];
  const Act* at[T];
  for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const Block*>(w + (r0 + r) * ws);
  for (int t = 0; t < T; ++t) at[t] = reinterpret_cast<const Act*>(a + (t0 + t) * as);
  float out[R * T];
  kern.template operator()<R, T>(nb, wr, at, out);
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[(t0 + t) * ys + r0 + r] = out[r * T + t];
}

template <class Block, class Act, int R, int T, class Kern>
HWY_INLINE void RunTokens(Kern kern, int64_t tc, int64_t nb, const std::byte* w, size_t ws, int64_t r0,
                          const std::byte* a, size_t as, int64_t t0, float* y, size_t ys) {
  if constexpr (T > 1) {
    if (tc < T) return RunTokens<Block, Act, R, T - 1>(kern, tc, nb, w, ws, r0, a, as, t0, y, ys);
  }
  RunTile<Block, Act, R, T>(kern, nb, w, ws, r0, a, as, t0, y, ys);
}

template <class Block, class Act, int RM, int TM, class Kern>
HWY_INLINE void RunTiles(Kern kern, int64_t nb, const std::byte* w, size_t ws, int64_t n_rows, const std::byte* a,
                         size_t as, int64_t n_tokens, float* y, size_t ys) {
  for (int64_t t0 = 0; t0 < n_tokens; t0 += TM) {
    const int64_t tc = n_tokens - t0 < TM ? n_tokens - t0 : TM;
    int64_t r0 = 0;
    for (; r0 + RM <= n_rows; r0 += RM) RunTokens<Block, Act, RM, TM>(kern, tc, nb, w, ws, r0, a, as, t0, y, ys);
    for (; r0 < n_rows; ++r0) RunTokens<Block, Act, 1, TM>(kern, tc, nb, w, ws, r0, a, as, t0, y, ys);
  }
}

// Returns true when the type has an x86 tile kernel. Decode (one token) uses tiles of 4 rows.
HWY_INLINE bool GemmQuantX86(GgmlType type, const std::byte* w, size_t ws, int64_t n_rows, const std::byte* a,
                             size_t as, int64_t n_tokens, int64_t n, float* y, size_t ys) {
  const bool decode = n_tokens == 1;
  switch (type) {
    case GgmlType::Q8_0: {
      auto k = []<int R, int T>(int64_t nb, const BlockQ8_0* const* wr, const BlockQ8_0* const* at, float* o) {
        TileQ8_0<R, T>(nb, wr, at, o);
      };
      if (decode) RunTiles<BlockQ8_0, BlockQ8_0, kQ8DecodeRows, 1>(k, n / kQK, w, ws, n_rows, a, as, n_tokens, y, ys);
      else RunTiles<BlockQ8_0, BlockQ8_0, kQ8TileRows, kQ8TileTokens>(k, n / kQK, w, ws, n_rows, a, as, n_tokens, y, ys);
      return true;
    }
    case GgmlType::Q4_0: {
      auto k = []<int R, int T>(int64_t nb, const BlockQ4_0* const* wr, const BlockQ8_0* const* at, float* o) {
        TileQ8_0x256<R, T, false>(nb, wr, at, o);
      };
      if (decode) RunTiles<BlockQ4_0, BlockQ8_0, 4, 1>(k, n / kQK, w, ws, n_rows, a, as, n_tokens, y, ys);
      else RunTiles<BlockQ4_0, BlockQ8_0, kLegacyTileRows, kLegacyTileTokens>(k, n / kQK, w, ws, n_rows, a, as, n_tokens, y, ys);
      return true;
    }
    case GgmlType::Q5_0: {
      auto k = []<int R, int T>(int64_t nb, const BlockQ5_0* const* wr, const BlockQ8_0* const* at, float* o) {
        TileQ8_0x256<R, T, false>(nb, wr, at, o);
      };
      if (decode) RunTiles<BlockQ5_0, BlockQ8_0, 4, 1>(k, n / kQK, w, ws, n_rows, a, as, n_tokens, y, ys);
      else RunTiles<BlockQ5_0, BlockQ8_0, kLegacyTileRows, kLegacyTileTokens>(k, n / kQK, w, ws, n_rows, a, as, n_tokens, y, ys);
      return true;
    }
    case GgmlType::Q4_K: {
      auto k = []<int R, int T>(int64_t nb, const BlockQ4_K* const* wr, const BlockQ8_K* const* at, float* o) {
        TileQ4_K<R, T>(nb, wr, at, o);
      };
      if (decode) RunTiles<BlockQ4_K, BlockQ8_K, 4, 1>(k, n / kQKK, w, ws, n_rows, a, as, n_tokens, y, ys);
      else RunTiles<BlockQ4_K, BlockQ8_K, kKTileRows, kKTileTokens>(k, n / kQKK, w, ws, n_rows, a, as, n_tokens, y, ys);
      return true;
    }
    case GgmlType::Q6_K: {
      auto k = []<int R, int T>(int64_t nb, const BlockQ6_K* const* wr, const BlockQ8_K* const* at, float* o) {
        TileQ6_K<R, T>(nb, wr, at, o);
      };
      if (decode) RunTiles<BlockQ6_K, BlockQ8_K, 4, 1>(k, n / kQKK, w, ws, n_rows, a, as, n_tokens, y, ys);
      else RunTiles<BlockQ6_K, BlockQ8_K, kKTileRows, kKTileTokens>(k, n / kQKK, w, ws, n_rows, a, as, n_tokens, y, ys);
      return true;
    }
    default:
      return false;
  }
}
