// Register-blocked integer kernels for x86 (Highway's AVX2, AVX3 and AVX3_DL targets), included by
// kernels_simd.cpp inside its per-target namespace, so it is compiled once per target.
//
// A tile is R weight rows x T activation rows. Each weight block is loaded and unpacked once
// per tile and used for T tokens; each activation block is loaded once and used for R rows.
// Products of 8-bit values use maddubs (unsigned x signed bytes -> pairs summed into int16)
// followed by madd into int32: Q8_0 weights use the sign trick |w| * (a * sign(w)); Q4_K and
// Q6_K quants are already unsigned. On the AVX3_DL target (AVX-512 VNNI) the prefill of Q8_0,
// Q4_0 and Q5_0 uses vpdpbusd instead (see TileQ8_0Packed). All integer sums are exact (the
// ranges are checked in the comments); each block adds one float term per int32 lane.
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
// while a block of a row is read, fetch the same place `ahead` bytes further, in the row that
// is read next (DecodeStreams passes one row: its tile's rows come from R distant runs; a
// measured 1.5-2.5x on one core over no prefetch). 0: no prefetch (prefill, where rows are
// reused across tokens). Prefetches past the matrix are harmless.
template <int T, class Block>
HWY_INLINE void PrefetchAhead(const Block* b, ptrdiff_t ahead) {
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
HWY_INLINE void TileQ8_0x256(int64_t nb, const Block* const* w, const BlockQ8_0* const* a, float* out,
                             ptrdiff_t ahead = 0) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[2][R][T];
  for (int h = 0; h < 2; ++h)
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[h][r][t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const int h = kSplit ? static_cast<int>(i & 1) : 0;
    __m256i wv[R], aw[R];
    float dw[R];
    for (int r = 0; r < R; ++r) {
      if (ahead) PrefetchAhead<T>(w[r] + i, ahead);
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
// Every int32 lane holds the exact sum of four consecutive byte products (bytes 4k..4k+3 of
// its half), whichever instructions compute it (maddubs + madd here, vpdpbusd in the VNNI
// kernel below), so the float work per lane, and the result, is the same on AVX3 and AVX3_DL.
template <class Block>
HWY_INLINE __m512i LoadWeight2(const Block* b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(LoadWeight(b[0])), LoadWeight(b[1]), 1);
}
template <class Block>
HWY_INLINE __m512i LoadWeight1(const Block* b) {  // upper half zero: its products add nothing
  return _mm512_zextsi256_si512(LoadWeight(b[0]));
}
// Both f16 scales of a block pair (at bytes 0 and sizeof(Block)) as [d0 x 8, d1 x 8]: one
// load (masked where 64 bytes would reach past the pair), one word permute, one conversion.
template <class Block>
HWY_INLINE __m512 Scale2(const Block* b) {
  static_assert(sizeof(Block) % 2 == 0 && sizeof(Block) <= 62);
  constexpr int k = static_cast<int>(sizeof(Block) / 2);
  const __m256i pick_d = _mm256_setr_epi16(0, 0, 0, 0, 0, 0, 0, 0, k, k, k, k, k, k, k, k);
  __m512i raw;
  if constexpr (2 * sizeof(Block) >= 64) raw = _mm512_loadu_si512(b);
  else raw = _mm512_maskz_loadu_epi16(static_cast<__mmask32>((2ULL << k) - 1), b);
  return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(_mm512_castsi256_si512(pick_d), raw)));
}
template <class Block>
HWY_INLINE __m512 Scale1(const Block* b) {
  return _mm512_maskz_mov_ps(0x00FF, _mm512_set1_ps(HalfToFloat(b[0].d)));
}

template <int R, int T, class Block = BlockQ8_0>
HWY_INLINE void TileQ8_0x512(int64_t nb, const Block* const* w, const BlockQ8_0* const* a, float* out) {
  const __m512i ones = _mm512_set1_epi16(1);
  const __m512i zero = _mm512_setzero_si512();
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  auto step = [&](int64_t i, auto load_w, auto load_a, auto scale_w, auto scale_a) {
    __m512i aw[R];
    __mmask64 neg[R];
    __m512 dw[R];
    for (int r = 0; r < R; ++r) {
      const __m512i v = load_w(w[r] + i);
      aw[r] = _mm512_abs_epi8(v);  // -128 -> 0x80, read as 128 by maddubs
      neg[r] = _mm512_movepi8_mask(v);
      dw[r] = scale_w(w[r] + i);
    }
    for (int t = 0; t < T; ++t) {
      const __m512i av = load_a(a[t] + i);
      const __m512 da = scale_a(a[t] + i);
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
  for (; i + 2 <= nb; i += 2) step(i, LoadWeight2<Block>, LoadWeight2<BlockQ8_0>, Scale2<Block>, Scale2<BlockQ8_0>);
  if (i < nb) step(i, LoadWeight1<Block>, LoadWeight1<BlockQ8_0>, Scale1<Block>, Scale1<BlockQ8_0>);
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r * T + t] = _mm512_reduce_add_ps(acc[r][t]);
}

#if HWY_TARGET == HWY_AVX3_DL
// Prefill with VNNI: unpacking a block pair (weights: insert, correction, scale permute and
// conversion; activations: insert, bias, scale) costs as many instructions as the products
// of a 4 x 4 tile, and the tile loop meets the same rows for every token group and the same
// tokens for every row tile. So the rows of a call (up to 16) and the current group of
// tokens are unpacked once into the forms below, and the tile kernel does only loads,
// vpdpbusd and the float update. Lane values are those of TileQ8_0x512 (the odd last block
// is padded the same way), so results are identical to it and to the decode kernel.
// Plain arrays with explicit loads and stores: the scratch is aligned by hand.
struct PackedWeightPair {
  int8_t w[64];      // two blocks' weights (upper half zero for an odd last block)
  int32_t corr[16];  // -128 * Σw per int32 lane
  float d[16];       // [d0 x 8, d1 x 8]
};
struct PackedActPair {
  uint8_t a[64];  // a + 128 (a ^ 0x80)
  float d[16];
};

template <class Block>
HWY_INLINE void PackWeightRow(int64_t nb, const Block* w, PackedWeightPair* out) {
  const __m512i zero = _mm512_setzero_si512(), bias = _mm512_set1_epi8(static_cast<char>(0x80));
  auto put = [&](PackedWeightPair* o, __m512i v, __m512 d) {
    _mm512_store_si512(o->w, v);
    _mm512_store_si512(o->corr, _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, v)));
    _mm512_store_ps(o->d, d);
  };
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2, ++out) put(out, LoadWeight2(w + i), Scale2(w + i));
  if (i < nb) put(out, LoadWeight1(w + i), Scale1(w + i));
}

HWY_INLINE void PackActRow(int64_t nb, const BlockQ8_0* a, PackedActPair* out) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2, ++out) {
    _mm512_store_si512(out->a, _mm512_xor_si512(LoadWeight2(a + i), bias));
    _mm512_store_ps(out->d, Scale2(a + i));
  }
  if (i < nb) {
    _mm512_store_si512(out->a, _mm512_xor_si512(LoadWeight1(a + i), bias));
    _mm512_store_ps(out->d, Scale1(a + i));
  }
}

template <int R, int T>
HWY_INLINE void TileQ8_0Packed(int64_t np, const PackedWeightPair* const* w, const PackedActPair* const* a,
                               float* out) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < np; ++i) {
    for (int t = 0; t < T; ++t) {
      const __m512i av = _mm512_load_si512(a[t][i].a);
      const __m512 da = _mm512_load_ps(a[t][i].d);
      for (int r = 0; r < R; ++r) {
        const PackedWeightPair& q = w[r][i];
        const __m512i p = _mm512_dpbusd_epi32(_mm512_load_si512(q.corr), av, _mm512_load_si512(q.w));
        acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_load_ps(q.d), da), _mm512_cvtepi32_ps(p), acc[r][t]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r * T + t] = _mm512_reduce_add_ps(acc[r][t]);
}
constexpr int kPackedTileRows = 4, kPackedTileTokens = 4;
constexpr int64_t kPackRows = 16;  // rows unpacked at once (the matmul's row tile)
#endif

// Prefill: AVX-512 tiles. Decode: 256-bit vectors, which run on more ports and measured
// faster for one token; the split keeps both bit-identical.
template <int R, int T, class Block = BlockQ8_0>
HWY_INLINE void TileQ8_0(int64_t nb, const Block* const* w, const BlockQ8_0* const* a, float* out,
                         ptrdiff_t ahead = 0) {
  if constexpr (T == 1) TileQ8_0x256<R, 1, true, Block>(nb, w, a, out, ahead);
  else TileQ8_0x512<R, T, Block>(nb, w, a, out);
}
constexpr int kQ8TileRows = 4, kQ8TileTokens = 4;
constexpr int kQ8DecodeRows = 4;
constexpr int kLegacyTileRows = 4, kLegacyTileTokens = 4;

#else
template <int R, int T, class Block = BlockQ8_0>
HWY_INLINE void TileQ8_0(int64_t nb, const Block* const* w, const BlockQ8_0* const* a, float* out,
                         ptrdiff_t ahead = 0) {
  TileQ8_0x256<R, T, false, Block>(nb, w, a, out, ahead);
}
constexpr int kQ8TileRows = 2, kQ8TileTokens = 4, kQ8DecodeRows = 4;
constexpr int kLegacyTileRows = 2, kLegacyTileTokens = 4;
#endif

// ---------------------------------------------------------------- Q4_K x Q8_K

// A byte shuffle that copies int16 word k of each 128-bit half to all its words.
HWY_INLINE __m256i PickWord(int k) { return _mm256_set1_epi16(static_cast<short>(((2 * k + 1) << 8) | (2 * k))); }

// The 8 mins (bytes 8..15 of k4_unpack_scales_mins) as 16 int16, each twice: they pair with
// the activation's 16 partial sums (bsums 2s and 2s+1 cover sub-block s).
HWY_INLINE __m256i MinPairs(const uint8_t* scales_mins) {
  const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(scales_mins));
  return _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(v, v));
}

// Per 256-value block: Σ_j sc_j Σ q·a (q in 0..15, maddubs pairs <= 2·15·128, madd by a 6-bit
// scale <= 2·3840·63 per lane per step) minus the mins term Σ_j m_j (bsum pairs), both exact
// int32 lanes, scaled by d·d_a and dmin·d_a.
#if HWY_TARGET == HWY_AVX3_DL
// Prefill with VNNI: a 64-value group in one 512-bit vector (low nibbles of 32 bytes in the
// lower half, high nibbles in the upper half: exactly the order of the 64 activations),
// maddubs, then vpdpwssd multiplies the int16 pairs by the sub-block scale and adds into int32
// in one instruction (madd + add before). Same ranges as below. Per (row, token) and block:
// acc = fma(d·d_a, float(isum), acc), then acc = fnma(dmin·d_a, float(Σ_j m_j bsum pairs) in
// the lower 8 lanes and 0 in the upper 8, acc), and finally _mm512_reduce_add_ps. Decode and
// vec_dot use the split 256-bit kernel, which computes the same lanes.
//
// Packed (same idea as PrefillPacked): a plain tile would redo the nibble unpacking and the
// scale permutes of a row for every group of tokens, and the scalar scale products and the
// mins sum for every (row, token). So the rows of a call (up to kPackRows)
// are unpacked once into the form below, and for each group of tokens the products d·d_a and
// dmin·d_a of all those rows are computed together, 16 rows per vector multiply. The tile
// kernel then only loads, multiplies and adds (measured 1.4x over such a 2 x 4 tile for 128 and
// 512 tokens). Every lane gets the same integer sums and the same float operations in the same
// order as that tile (the scale products are the same float multiplications, done in
// vectors), so results are bit-identical to it. 4 x 4 tiles measured faster than 4 x 5, 5 x 4,
// 6 x 4 and 4 x 6; so did the mins term as int32 madd + conversion over
// a float product of mins and bsum pairs.
struct PackedQ4KBlock {
  uint8_t q[4][64];    // group g: 32 low nibbles then 32 high nibbles (the activation order)
  int16_t sg[4][32];   // group g: scale 2g in words 0..15, scale 2g + 1 in words 16..31
  int16_t m16[32];     // the 8 mins, each twice (MinPairs), then 16 zero words
};
static_assert(sizeof(PackedQ4KBlock) % 64 == 0 && kPackRows == 16);  // tables: 16 rows per vector

// One row's blocks; d and dmin go to column `col` of the per-block tables of kPackRows floats.
HWY_INLINE void PackQ4KRow(int64_t nb, const BlockQ4_K* w, PackedQ4KBlock* out, float* dw, float* dmin,
                           int64_t col) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i shifts = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
  for (int64_t i = 0; i < nb; ++i) {
    alignas(16) uint8_t sc[16];
    k4_unpack_scales_mins(w[i].scales, sc);
    const __m512i sc16 =
        _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc))));
    for (int g = 0; g < 4; ++g) {
      const __m512i pick = _mm512_inserti64x4(_mm512_set1_epi16(static_cast<short>(2 * g)),
                                              _mm256_set1_epi16(static_cast<short>(2 * g + 1)), 1);
      const __m512i both = _mm512_broadcast_i64x4(Load256(w[i].qs + 32 * g));
      _mm512_store_si512(out[i].q[g], _mm512_and_si512(_mm512_srlv_epi16(both, shifts), low4));
      _mm512_store_si512(out[i].sg[g], _mm512_permutexvar_epi16(pick, sc16));
    }
    _mm512_store_si512(out[i].m16, _mm512_zextsi256_si512(MinPairs(sc)));
    dw[i * kPackRows + col] = HalfToFloat(w[i].d);
    dmin[i * kPackRows + col] = HalfToFloat(w[i].dmin);
  }
}

// R packed rows (rows rr.. of the row group) x T tokens. cs[t] holds per block the kPackRows
// products d·d_a, then the kPackRows products dmin·d_a of token t. The float accumulators live
// in memory (the integer sums of a 4 x 4 tile already take 16 of the 32 registers); they are
// touched once per block.
template <int R, int T>
HWY_INLINE void TileQ4_KPacked(int64_t nb, const PackedQ4KBlock* const* w, const BlockQ8_K* const* a,
                               const float* const* cs, int64_t rr, float* out) {
  alignas(64) float acc[R][T][16];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) _mm512_store_ps(acc[r][t], _mm512_setzero_ps());
  for (int64_t i = 0; i < nb; ++i) {
    __m512i isum[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) isum[r][t] = _mm512_setzero_si512();
    for (int g = 0; g < 4; ++g) {
      __m512i av[T];
      for (int t = 0; t < T; ++t) av[t] = _mm512_loadu_si512(a[t][i].qs + 64 * g);
      for (int r = 0; r < R; ++r) {
        const __m512i q = _mm512_load_si512(w[r][i].q[g]);
        const __m512i sg = _mm512_load_si512(w[r][i].sg[g]);
        for (int t = 0; t < T; ++t) isum[r][t] = _mm512_dpwssd_epi32(isum[r][t], _mm512_maddubs_epi16(q, av[t]), sg);
      }
    }
    for (int t = 0; t < T; ++t) {
      const __m512i bsums = _mm512_zextsi256_si512(Load256(a[t][i].bsums));
      const float* c = cs[t] + i * 2 * kPackRows + rr;
      for (int r = 0; r < R; ++r) {
        const __m512i msum = _mm512_madd_epi16(bsums, _mm512_load_si512(w[r][i].m16));
        __m512 x = _mm512_load_ps(acc[r][t]);
        x = _mm512_fmadd_ps(_mm512_set1_ps(c[r]), _mm512_cvtepi32_ps(isum[r][t]), x);
        x = _mm512_fnmadd_ps(_mm512_set1_ps(c[kPackRows + r]), _mm512_cvtepi32_ps(msum), x);
        _mm512_store_ps(acc[r][t], x);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r * T + t] = _mm512_reduce_add_ps(_mm512_load_ps(acc[r][t]));
}
constexpr int kQ4KPackedRows = 4, kQ4KPackedTokens = 4;

// Runs the packed rows of a row group against T tokens (leftover rows one at a time).
template <int T>
HWY_INLINE void Q4KPackedTokens(int64_t nb, const PackedQ4KBlock* wpack, int64_t rows, const BlockQ8_K* const* at,
                                const float* const* cs, float* y, size_t ys) {
  constexpr int RM = kQ4KPackedRows;
  auto run = [&]<int R>(int64_t rr) {
    const PackedQ4KBlock* wr[R];
    for (int r = 0; r < R; ++r) wr[r] = wpack + (rr + r) * nb;
    float out[R * T];
    TileQ4_KPacked<R, T>(nb, wr, at, cs, rr, out);
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) y[t * ys + rr + r] = out[r * T + t];
  };
  int64_t rr = 0;
  for (; rr + RM <= rows; rr += RM) run.template operator()<RM>(rr);
  for (; rr < rows; ++rr) run.template operator()<1>(rr);
}

// Prefill of Q4_K weights with VNNI: rows in groups of kPackRows, unpacked once per group;
// tokens in groups of kQ4KPackedTokens, their scale tables computed once per row group.
// Not inlined: inlined into GemmQuantX86 it changed the code of the decode loops there, and
// Q4_K decode measured ~7% slower.
HWY_NOINLINE void PrefillQ4_K(const std::byte* w, size_t ws, int64_t n_rows, const std::byte* a, size_t as,
                              int64_t n_tokens, int64_t nb, float* y, size_t ys) {
  constexpr int TM = kQ4KPackedTokens;
  const size_t wbytes = static_cast<size_t>(nb) * sizeof(PackedQ4KBlock);
  const size_t tbytes = static_cast<size_t>(nb) * kPackRows * sizeof(float);  // one d or dmin table
  thread_local std::vector<std::byte> scratch;
  const size_t need = kPackRows * wbytes + (2 + 2 * TM) * tbytes + 64;
  if (scratch.size() < need) scratch.resize(need);
  std::byte* base = scratch.data() + (-reinterpret_cast<uintptr_t>(scratch.data()) & 63);
  auto* wpack = reinterpret_cast<PackedQ4KBlock*>(base);
  auto* dw = reinterpret_cast<float*>(base + kPackRows * wbytes);
  float* dmin = dw + nb * kPackRows;
  float* cbase = dmin + nb * kPackRows;  // per token: [block][d·d_a x kPackRows, dmin·d_a x kPackRows]
  for (int64_t r0 = 0; r0 < n_rows; r0 += kPackRows) {
    const int64_t rows = n_rows - r0 < kPackRows ? n_rows - r0 : kPackRows;
    std::memset(dw, 0, 2 * tbytes);  // columns of missing rows: zero (their products go unused)
    for (int64_t r = 0; r < rows; ++r)
      PackQ4KRow(nb, reinterpret_cast<const BlockQ4_K*>(w + (r0 + r) * ws), wpack + r * nb, dw, dmin, r);
    for (int64_t t0 = 0; t0 < n_tokens; t0 += TM) {
      const int64_t tc = n_tokens - t0 < TM ? n_tokens - t0 : TM;
      const BlockQ8_K* at[TM];
      const float* cs[TM];
      for (int64_t t = 0; t < tc; ++t) {
        at[t] = reinterpret_cast<const BlockQ8_K*>(a + (t0 + t) * as);
        float* c = cbase + t * 2 * nb * kPackRows;
        cs[t] = c;
        // The same float products as a scalar dw * da per row, 16 rows at once.
        for (int64_t i = 0; i < nb; ++i) {
          const __m512 da = _mm512_set1_ps(at[t][i].d);
          _mm512_store_ps(c + (2 * i) * kPackRows, _mm512_mul_ps(_mm512_load_ps(dw + i * kPackRows), da));
          _mm512_store_ps(c + (2 * i + 1) * kPackRows, _mm512_mul_ps(_mm512_load_ps(dmin + i * kPackRows), da));
        }
      }
      float* yt = y + t0 * ys + r0;
      switch (tc) {
        case 1: Q4KPackedTokens<1>(nb, wpack, rows, at, cs, yt, ys); break;
        case 2: Q4KPackedTokens<2>(nb, wpack, rows, at, cs, yt, ys); break;
        case 3: Q4KPackedTokens<3>(nb, wpack, rows, at, cs, yt, ys); break;
        default: Q4KPackedTokens<4>(nb, wpack, rows, at, cs, yt, ys); break;
      }
    }
  }
}
#endif

// kSplit: the low-nibble and high-nibble halves of each group sum into separate lanes and
// accumulators (the mins term goes into the first; the second subtracts dmin·d_a·0, as the
// upper lanes of the 512-bit prefill kernel do), which is lane for lane what that kernel
// computes; its reduction adds the halves first, then reduces like HSum256, so both give
// identical results.
template <int R, int T, bool kSplit = false>
HWY_INLINE void TileQ4_Kx256(int64_t nb, const BlockQ4_K* const* w, const BlockQ8_K* const* a, float* out,
    ptrdiff_t ahead = 0) {
  constexpr int H = kSplit ? 2 : 1;
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc[H][R][T];
  for (int h = 0; h < H; ++h)
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[h][r][t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    alignas(16) uint8_t sc[R][16];  // 8 scales, then 8 mins
    if (ahead)
      for (int r = 0; r < R; ++r) PrefetchAhead<T>(w[r] + i, ahead);
    for (int r = 0; r < R; ++r) k4_unpack_scales_mins(w[r][i].scales, sc[r]);
    __m256i sc16[R];  // the 8 scales as int16, in both 128-bit halves
    for (int r = 0; r < R; ++r)
      sc16[r] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc[r]))));
    __m256i isum[H][R][T];
    for (int h = 0; h < H; ++h)
      for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) isum[h][r][t] = _mm256_setzero_si256();
    for (int g = 0; g < 4; ++g) {
      __m256i lo[R], hi[R], slo[R], shi[R];
      for (int r = 0; r < R; ++r) {
        const __m256i q = Load256(w[r][i].qs + 32 * g);
        lo[r] = _mm256_and_si256(q, low4);
        hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
        slo[r] = _mm256_shuffle_epi8(sc16[r], PickWord(2 * g));
        shi[r] = _mm256_shuffle_epi8(sc16[r], PickWord(2 * g + 1));
      }
      for (int t = 0; t < T; ++t) {
        const __m256i alo = Load256(a[t][i].qs + 64 * g), ahi = Load256(a[t][i].qs + 64 * g + 32);
        for (int r = 0; r < R; ++r) {
          const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[r], alo), slo[r]);
          const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[r], ahi), shi[r]);
          if constexpr (kSplit) {
            isum[0][r][t] = _mm256_add_epi32(isum[0][r][t], pl);
            isum[1][r][t] = _mm256_add_epi32(isum[1][r][t], ph);
          } else {
            isum[0][r][t] = _mm256_add_epi32(isum[0][r][t], _mm256_add_epi32(pl, ph));
          }
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      const float dw = HalfToFloat(w[r][i].d), dmin = HalfToFloat(w[r][i].dmin);
      const __m256i m16 = MinPairs(sc[r]);
      for (int t = 0; t < T; ++t) {
        const float da = a[t][i].d;
        const __m256i msum = _mm256_madd_epi16(Load256(a[t][i].bsums), m16);
        for (int h = 0; h < H; ++h) {
          acc[h][r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * da), _mm256_cvtepi32_ps(isum[h][r][t]), acc[h][r][t]);
          acc[h][r][t] = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * da),
                                          h == 0 ? _mm256_cvtepi32_ps(msum) : _mm256_setzero_ps(), acc[h][r][t]);
        }
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t)
      out[r * T + t] = HSum256(kSplit ? _mm256_add_ps(acc[0][r][t], acc[1][r][t]) : acc[0][r][t]);
}

template <int R, int T>
HWY_INLINE void TileQ4_K(int64_t nb, const BlockQ4_K* const* w, const BlockQ8_K* const* a, float* out,
                         ptrdiff_t ahead = 0) {
#if HWY_TARGET == HWY_AVX3_DL
  // Decode only (prefill is PrefillQ4_K): 256-bit (measured faster for one token), split to
  // match the 512-bit lanes.
  static_assert(T == 1, "Q4_K prefill on AVX3_DL goes through PrefillQ4_K");
  TileQ4_Kx256<R, 1, true>(nb, w, a, out, ahead);
#else
  TileQ4_Kx256<R, T>(nb, w, a, out, ahead);
#endif
}

// ---------------------------------------------------------------- Q6_K x Q8_K

// Quants are used unsigned (q + 32 in 0..63; maddubs pairs <= 2·63·128); the offset is
// removed with the activation block sums: Σ_j sc_j (Σ (q+32)·a - 32 bsum_j). Per lane and
// block |Σ| <= 8 · 2 · 16128 · 128, well inside int32.
#if HWY_TARGET == HWY_AVX3_DL
// VNNI: two 32-value groups per 512-bit vector (k = 0, 1 and k = 2, 3 of each half-block:
// their 64 activations are contiguous), maddubs, then vpdpwssd by the four 16-value scales.
// The offset term starts the sums as below (in the lower 8 lanes). Used for every tile shape
// on this target, decode and vec_dot included.
template <int R, int T>
HWY_INLINE void TileQ6_Kx512(int64_t nb, const BlockQ6_K* const* w, const BlockQ8_K* const* a, float* out,
    ptrdiff_t ahead = 0) {
  const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
  auto halves = [](int lo, int hi) {
    return _mm512_inserti64x4(_mm512_set1_epi16(static_cast<short>(lo)), _mm256_set1_epi16(static_cast<short>(hi)), 1);
  };
  // qh bits to bits 4-5: k = 0 shifts left by 4, k = 1 by 2, k = 2 not at all, k = 3 right by 2.
  const __m512i left01 = halves(4, 2), right23 = halves(0, 2);
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    __m512i isum[R][T], sc16[R];
    if (ahead)
      for (int r = 0; r < R; ++r) PrefetchAhead<T>(w[r] + i, ahead);
    for (int r = 0; r < R; ++r) {
      const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[r][i].scales)));
      sc16[r] = _mm512_castsi256_si512(s16);
      for (int t = 0; t < T; ++t)
        isum[r][t] = _mm512_zextsi256_si512(_mm256_sub_epi32(
            _mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(Load256(a[t][i].bsums), s16), 5)));
    }
    for (int n = 0; n < 2; ++n) {
      for (int kk = 0; kk < 2; ++kk) {
        // Scales 8n + 4kk .. 8n + 4kk + 3, each for 16 values (8 words).
        const int s0 = 8 * n + 4 * kk;
        const __m512i pick = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_setr_epi16(s0, s0, s0, s0, s0, s0, s0, s0, s0 + 1, s0 + 1, s0 + 1, s0 + 1,
                                                     s0 + 1, s0 + 1, s0 + 1, s0 + 1)),
            _mm256_setr_epi16(s0 + 2, s0 + 2, s0 + 2, s0 + 2, s0 + 2, s0 + 2, s0 + 2, s0 + 2, s0 + 3, s0 + 3, s0 + 3,
                              s0 + 3, s0 + 3, s0 + 3, s0 + 3, s0 + 3),
            1);
        __m512i q[R], sg[R];
        for (int r = 0; r < R; ++r) {
          const __m512i l = _mm512_loadu_si512(w[r][i].ql + 64 * n);  // [l0, l1]
          const __m512i h = _mm512_broadcast_i64x4(Load256(w[r][i].qh + 32 * n));
          if (kk == 0)
            q[r] = _mm512_or_si512(_mm512_and_si512(l, low4), _mm512_and_si512(_mm512_sllv_epi16(h, left01), bits45));
          else
            q[r] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4),
                                   _mm512_and_si512(_mm512_srlv_epi16(h, right23), bits45));
          sg[r] = _mm512_permutexvar_epi16(pick, sc16[r]);
        }
        for (int t = 0; t < T; ++t) {
          const __m512i av = _mm512_loadu_si512(a[t][i].qs + 128 * n + 64 * kk);
          for (int r = 0; r < R; ++r)
            isum[r][t] = _mm512_dpwssd_epi32(isum[r][t], _mm512_maddubs_epi16(q[r], av), sg[r]);
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      const float dw = HalfToFloat(w[r][i].d);
      for (int t = 0; t < T; ++t)
        acc[r][t] = _mm512_fmadd_ps(_mm512_set1_ps(dw * a[t][i].d), _mm512_cvtepi32_ps(isum[r][t]), acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r * T + t] = _mm512_reduce_add_ps(acc[r][t]);
}
#endif

template <int R, int T>
HWY_INLINE void TileQ6_Kx256(int64_t nb, const BlockQ6_K* const* w, const BlockQ8_K* const* a, float* out,
    ptrdiff_t ahead = 0) {
  const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    __m256i isum[R][T];
    if (ahead)
      for (int r = 0; r < R; ++r) PrefetchAhead<T>(w[r] + i, ahead);
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

template <int R, int T>
HWY_INLINE void TileQ6_K(int64_t nb, const BlockQ6_K* const* w, const BlockQ8_K* const* a, float* out,
                         ptrdiff_t ahead = 0) {
#if HWY_TARGET == HWY_AVX3_DL
  TileQ6_Kx512<R, T>(nb, w, a, out, ahead);
#else
  TileQ6_Kx256<R, T>(nb, w, a, out, ahead);
#endif
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

// Decode (one token): the rows are cut into R equal runs read side by side (row j of every
// run in one tile), each run prefetching its next row. Memory serves a few long sequential
// streams through distant parts of the matrix much faster than R adjacent short rows read
// together (1.2-1.3x for rows of ~1 KB; the same for rows longer than a page). Each row's
// sum is the tile kernel's, so results do not change.
template <class Block, class Act, int R, class Kern>
HWY_INLINE void DecodeStreams(Kern kern, int64_t nb, const std::byte* w, size_t ws, int64_t n_rows,
                              const std::byte* a, float* y) {
  const Act* at[1] = {reinterpret_cast<const Act*>(a)};
  const int64_t run = n_rows / R;
  const auto ahead = static_cast<ptrdiff_t>(ws);
  for (int64_t j = 0; j < run; ++j) {
    const Block* wr[R];
    for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const Block*>(w + (r * run + j) * static_cast<int64_t>(ws));
    float out[R];
    kern.template operator()<R, 1>(nb, wr, at, out, ahead);
    for (int r = 0; r < R; ++r) y[r * run + j] = out[r];
  }
  for (int64_t r = R * run; r < n_rows; ++r) {
    const Block* wr[1] = {reinterpret_cast<const Block*>(w + r * static_cast<int64_t>(ws))};
    kern.template operator()<1, 1>(nb, wr, at, y + r, ahead);
  }
}

#if HWY_TARGET == HWY_AVX3_DL
// Prefill of Q8_0 / Q4_0 / Q5_0 weights with VNNI (see TileQ8_0Packed): rows in groups of
// kPackRows, tokens in groups of kPackedTileTokens, each unpacked once per group.
template <class Block>
HWY_INLINE void PrefillPacked(const Block* w, size_t ws, int64_t n_rows, const std::byte* a, size_t as,
                              int64_t n_tokens, int64_t nb, float* y, size_t ys) {
  constexpr int TM = kPackedTileTokens;
  const int64_t np = (nb + 1) / 2;
  const size_t wbytes = static_cast<size_t>(np) * sizeof(PackedWeightPair);
  const size_t abytes = static_cast<size_t>(np) * sizeof(PackedActPair);
  thread_local std::vector<std::byte> scratch;
  const size_t need = kPackRows * wbytes + TM * abytes + 64;
  if (scratch.size() < need) scratch.resize(need);
  std::byte* base = scratch.data() + (-reinterpret_cast<uintptr_t>(scratch.data()) & 63);
  std::byte* wpack = base;
  std::byte* apack = base + kPackRows * wbytes;
  auto kern = []<int R, int T>(int64_t n_pairs, const PackedWeightPair* const* wr, const PackedActPair* const* at,
                               float* o) { TileQ8_0Packed<R, T>(n_pairs, wr, at, o); };
  const std::byte* wb = reinterpret_cast<const std::byte*>(w);
  for (int64_t r0 = 0; r0 < n_rows; r0 += kPackRows) {
    const int64_t rows = n_rows - r0 < kPackRows ? n_rows - r0 : kPackRows;
    for (int64_t r = 0; r < rows; ++r)
      PackWeightRow(nb, reinterpret_cast<const Block*>(wb + (r0 + r) * ws),
                    reinterpret_cast<PackedWeightPair*>(wpack + r * wbytes));
    for (int64_t t0 = 0; t0 < n_tokens; t0 += TM) {
      const int64_t tc = n_tokens - t0 < TM ? n_tokens - t0 : TM;
      for (int64_t t = 0; t < tc; ++t)
        PackActRow(nb, reinterpret_cast<const BlockQ8_0*>(a + (t0 + t) * as),
                   reinterpret_cast<PackedActPair*>(apack + t * abytes));
      RunTiles<PackedWeightPair, PackedActPair, kPackedTileRows, TM>(kern, np, wpack, wbytes, rows, apack, abytes,
                                                                     tc, y + t0 * ys + r0, ys);
    }
  }
}
#endif

// Q8_0, Q4_0 and Q5_0 weights against Q8_0 activations. Decode (one token): DecodeStreams.
// With VNNI every type goes through the packed prefill and the split decode kernel (the same
// lanes); otherwise Q8_0 uses TileQ8_0 and Q4_0 / Q5_0 the 256-bit kernel.
template <class Block>
HWY_INLINE void GemmQ8Family(const Block* w, size_t ws, int64_t n_rows, const std::byte* a, size_t as,
                             int64_t n_tokens, int64_t nb, float* y, size_t ys) {
  constexpr bool kQ8 = std::is_same_v<Block, BlockQ8_0>;
  auto k = []<int R, int T>(int64_t n_blocks, const Block* const* wr, const BlockQ8_0* const* at, float* o,
                            ptrdiff_t ahead = 0) {
    if constexpr (kQ8 || HWY_TARGET == HWY_AVX3_DL) TileQ8_0<R, T>(n_blocks, wr, at, o, ahead);
    else TileQ8_0x256<R, T, false>(n_blocks, wr, at, o, ahead);
  };
  const std::byte* wb = reinterpret_cast<const std::byte*>(w);
  if (n_tokens == 1) return DecodeStreams<Block, BlockQ8_0, kQ8DecodeRows>(k, nb, wb, ws, n_rows, a, y);
#if HWY_TARGET == HWY_AVX3_DL
  PrefillPacked(w, ws, n_rows, a, as, n_tokens, nb, y, ys);
#else
  if constexpr (kQ8) RunTiles<Block, BlockQ8_0, kQ8TileRows, kQ8TileTokens>(k, nb, wb, ws, n_rows, a, as, n_tokens, y, ys);
  else RunTiles<Block, BlockQ8_0, kLegacyTileRows, kLegacyTileTokens>(k, nb, wb, ws, n_rows, a, as, n_tokens, y, ys);
#endif
}

// Returns true when the type has an x86 tile kernel. Decode (one token) uses tiles of 4 rows.
HWY_INLINE bool GemmQuantX86(GgmlType type, const std::byte* w, size_t ws, int64_t n_rows, const std::byte* a,
                             size_t as, int64_t n_tokens, int64_t n, float* y, size_t ys) {
  const bool decode = n_tokens == 1;
  switch (type) {
    case GgmlType::Q8_0:
      GemmQ8Family(reinterpret_cast<const BlockQ8_0*>(w), ws, n_rows, a, as, n_tokens, n / kQK, y, ys);
      return true;
    case GgmlType::Q4_0:
      GemmQ8Family(reinterpret_cast<const BlockQ4_0*>(w), ws, n_rows, a, as, n_tokens, n / kQK, y, ys);
      return true;
    case GgmlType::Q5_0:
      GemmQ8Family(reinterpret_cast<const BlockQ5_0*>(w), ws, n_rows, a, as, n_tokens, n / kQK, y, ys);
      return true;
    case GgmlType::Q4_K: {
      auto k = []<int R, int T>(int64_t nb, const BlockQ4_K* const* wr, const BlockQ8_K* const* at, float* o,
                                ptrdiff_t ahead = 0) { TileQ4_K<R, T>(nb, wr, at, o, ahead); };
      if (decode) DecodeStreams<BlockQ4_K, BlockQ8_K, 4>(k, n / kQKK, w, ws, n_rows, a, y);
#if HWY_TARGET == HWY_AVX3_DL
      else PrefillQ4_K(w, ws, n_rows, a, as, n_tokens, n / kQKK, y, ys);
#else
      else RunTiles<BlockQ4_K, BlockQ8_K, kKTileRows, kKTileTokens>(k, n / kQKK, w, ws, n_rows, a, as, n_tokens, y, ys);
#endif
      return true;
    }
    case GgmlType::Q6_K: {
      auto k = []<int R, int T>(int64_t nb, const BlockQ6_K* const* wr, const BlockQ8_K* const* at, float* o,
                                ptrdiff_t ahead = 0) { TileQ6_K<R, T>(nb, wr, at, o, ahead); };
      if (decode) DecodeStreams<BlockQ6_K, BlockQ8_K, 4>(k, n / kQKK, w, ws, n_rows, a, y);
      else RunTiles<BlockQ6_K, BlockQ8_K, kKTileRows, kKTileTokens>(k, n / kQKK, w, ws, n_rows, a, as, n_tokens, y, ys);
      return true;
    }
    default:
      return false;
  }
}
