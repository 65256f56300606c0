// Matrix products W x: validation, activation conversion and the split into row tiles that
// the pool's threads compute. The per-tile work is in kernels_simd.cpp.
#include "layerlab/tensor/matmul.h"

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "layerlab/io/error.h"
#include "layerlab/tensor/dequantize.h"
#include "layerlab/tensor/kernels.h"
#include "layerlab/tensor/quantize_activations.h"
#include "layerlab/util/thread_pool.h"

namespace layerlab {
namespace {

// Bytes of dequantized float rows a thread keeps per tile: a tile stays in L2 while every
// token passes over it.
constexpr int64_t kTileFloats = 64 * 1024;
// Reduction (n_in) block of the float path for prefill: 3 weight rows and 4 token rows of
// this length stay in L1 inside the kernel.
constexpr int64_t kKBlock = 512;
// Rows per tile of the quantized path (their blocks stay in cache for every token).
constexpr int64_t kQuantTileRows = 16;

void validate(const WeightView& w) {
  const auto info = ggml_type_info(static_cast<uint32_t>(w.type));
  if (!info || !can_dequantize(w.type))
    throw Error("matmul: unsupported weight type " + std::string(ggml_type_name(w.type)));
  if (w.n_in <= 0 || w.n_out < 0 || w.n_in % info->block_size != 0)
    throw Error("matmul: row length " + std::to_string(w.n_in) + " is not a multiple of the " +
                std::string(info->name) + " block size");
  const size_t needed = static_cast<size_t>(w.n_in / info->block_size) * info->type_size;
  if (w.row_bytes < needed)
    throw Error("matmul: row stride " + std::to_string(w.row_bytes) + " is smaller than a " +
                std::string(info->name) + " row of " + std::to_string(w.n_in) + " values");
  if (w.data == nullptr && w.n_out > 0) throw Error("matmul: weight has no data");
}

bool is_float_type(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A float buffer whose data() is 64-byte aligned.
class AlignedFloats {
 public:
  size_t size() const { return size_; }
  void resize(size_t n) {
    buf_.assign(n + 16, 0.0f);
    const auto addr = reinterpret_cast<uintptr_t>(buf_.data());
    offset_ = ((64 - addr % 64) % 64) / sizeof(float);
    size_ = n;
  }
  float* data() { return buf_.data() + offset_; }

 private:
  std::vector<float> buf_;
  size_t offset_ = 0, size_ = 0;
};

// How one weight's rows are computed: a contiguous range of its row tiles at a time. The
// tile sizes depend only on the weight and the token count, so a tile gives the same numbers
// whichever thread computes it, alone or next to the tiles of other weights.
enum class TileKind { kGemvF16, kFloat, kQuant };

struct TiledWeight {
  const WeightView* w = nullptr;
  float* y = nullptr;
  TileKind kind = TileKind::kFloat;
  int64_t tile = 1;      // rows per tile
  int64_t n_tiles = 0;
  const float* xf = nullptr;        // float activations (float kinds)
  const std::byte* act = nullptr;   // quantized activations (kQuant), rows a_row bytes apart
  size_t a_row = 0;
};

// Float path: W's rows turned into float32 (in place for F32, else dequantized tile by tile
// into a per-thread scratch) and a blocked float kernel; f16 decode converts in registers.
TiledWeight plan_float(const WeightView& w, const float* xf, int64_t n_tokens, float* y) {
  TiledWeight p;
  p.w = &w;
  p.y = y;
  p.xf = xf;
  // Decode: small tiles so both threads get equal shares; prefill: tiles as large as fit
  // (a multiple of the 3- and 4-row micro-kernels).
  int64_t tile = std::clamp<int64_t>(kTileFloats / w.n_in, 12, 96);
  if (n_tokens == 1) tile = std::min<int64_t>(tile, 16);
  p.tile = std::max<int64_t>(1, tile - tile % (n_tokens == 1 ? 8 : 12));
  p.n_tiles = ceil_div(w.n_out, p.tile);
  // Decode of f16 weights: converted in registers, no float copy of the rows.
  p.kind = n_tokens == 1 && w.type == GgmlType::F16 && w.row_bytes % 2 == 0 ? TileKind::kGemvF16 : TileKind::kFloat;
  return p;
}

// Block-quantized path: integer dot products against the activations quantized once.
TiledWeight plan_quant(const WeightView& w, const std::byte* act, size_t a_row, float* y) {
  TiledWeight p;
  p.w = &w;
  p.y = y;
  p.kind = TileKind::kQuant;
  p.tile = kQuantTileRows;
  p.n_tiles = ceil_div(w.n_out, kQuantTileRows);
  p.act = act;
  p.a_row = a_row;
  return p;
}

// Tiles [tb, te) of p.
void run_tiles(const TiledWeight& p, int64_t tb, int64_t te, int64_t n_tokens) {
  const WeightView& w = *p.w;
  const int64_t n = w.n_in;
  switch (p.kind) {
    case TileKind::kGemvF16: {
      const int64_t r0 = tb * p.tile, r1 = std::min(te * p.tile, w.n_out);
      gemv_f16(reinterpret_cast<const uint16_t*>(w.data + r0 * static_cast<int64_t>(w.row_bytes)), w.row_bytes / 2,
               r1 - r0, p.xf, n, p.y + r0);
      return;
    }
    case TileKind::kFloat: {
      const int64_t kblock = n_tokens >= 4 ? kKBlock : n;
      // 64-byte aligned rows: full-vector loads do not straddle cache lines.
      thread_local AlignedFloats scratch;
      for (int64_t ti = tb; ti < te; ++ti) {
        const int64_t r0 = ti * p.tile;
        const int64_t rows = std::min(p.tile, w.n_out - r0);
        const float* wf;
        size_t ws;
        if (w.type == GgmlType::F32) {
          wf = reinterpret_cast<const float*>(w.data + r0 * static_cast<int64_t>(w.row_bytes));
          ws = w.row_bytes / sizeof(float);
        } else {
          if (scratch.size() < static_cast<size_t>(rows * n)) scratch.resize(static_cast<size_t>(rows * n));
          for (int64_t r = 0; r < rows; ++r)
            dequantize_row(w.type, w.data + (r0 + r) * static_cast<int64_t>(w.row_bytes), scratch.data() + r * n, n);
          wf = scratch.data();
          ws = static_cast<size_t>(n);
        }
        for (int64_t k0 = 0; k0 < n; k0 += kblock)
          gemm_f32(wf + k0, ws, rows, p.xf + k0, static_cast<size_t>(n), n_tokens, std::min(kblock, n - k0),
                   p.y + r0, static_cast<size_t>(w.n_out), k0 > 0);
      }
      return;
    }
    case TileKind::kQuant:
      if (n_tokens == 1) {
        // Decode: the whole range at once, so the kernel can lay its streams out over it.
        const int64_t r0 = tb * kQuantTileRows, r1 = std::min(te * kQuantTileRows, w.n_out);
        gemm_quant(w.type, w.data + r0 * static_cast<int64_t>(w.row_bytes), w.row_bytes, r1 - r0, p.act, p.a_row,
                   1, n, p.y + r0, static_cast<size_t>(w.n_out));
        return;
      }
      for (int64_t ti = tb; ti < te; ++ti) {
        const int64_t r0 = ti * kQuantTileRows;
        const int64_t rows = std::min(kQuantTileRows, w.n_out - r0);
        gemm_quant(w.type, w.data + r0 * static_cast<int64_t>(w.row_bytes), w.row_bytes, rows, p.act, p.a_row,
                   n_tokens, n, p.y + r0, static_cast<size_t>(w.n_out));
      }
      return;
  }
}

// The activation form a weight's product reads in mode: none (x itself), f16/bf16 rounding
// (F16 / BF16 weights in kGgml: ggml rounds x to the weight's type; the products of two such
// numbers are exact in f32, so the float kernel on the rounded values is ggml's formula), or
// the weight's quantized vec_dot_type.
enum class ConversionKind { kNone, kRound, kQuantize };

ConversionKind conversion_of(const WeightView& w, ActivationMode mode) {
  if (mode == ActivationMode::kExact || w.type == GgmlType::F32) return ConversionKind::kNone;
  return is_float_type(w.type) ? ConversionKind::kRound : ConversionKind::kQuantize;
}

// One converted copy of x: rounded floats or quantized rows, for one target type.
struct ConvertedInput {
  ConversionKind kind = ConversionKind::kNone;
  GgmlType type = GgmlType::F32;  // F16/BF16 for kRound, the vec_dot_type for kQuantize
  std::vector<float> rounded;
  std::vector<std::byte> act;
  size_t a_row = 0;
};

}  // namespace

void matmul_multi(std::span<const MatmulJob> jobs, const float* x, int64_t n_tokens, ActivationMode mode,
                  ThreadPool& pool) {
  for (const MatmulJob& j : jobs) validate(j.w);
  if (jobs.empty() || n_tokens <= 0) return;
  const int64_t n = jobs.front().w.n_in;
  for (const MatmulJob& j : jobs)
    if (j.w.n_in != n)
      throw Error("matmul_multi: row lengths differ (" + std::to_string(j.w.n_in) + " and " + std::to_string(n) + ")");

  // The distinct conversions of x the weights need (at most a handful).
  std::vector<ConvertedInput> inputs;
  std::vector<size_t> input_of(jobs.size(), SIZE_MAX);
  for (size_t i = 0; i < jobs.size(); ++i) {
    const WeightView& w = jobs[i].w;
    if (w.n_out == 0) continue;
    const ConversionKind kind = conversion_of(w, mode);
    if (kind == ConversionKind::kNone) continue;
    const GgmlType type = kind == ConversionKind::kRound ? w.type : vec_dot_type(w.type);
    size_t k = 0;
    while (k < inputs.size() && !(inputs[k].kind == kind && inputs[k].type == type)) ++k;
    if (k == inputs.size()) {
      ConvertedInput c;
      c.kind = kind;
      c.type = type;
      if (kind == ConversionKind::kRound) {
        c.rounded.resize(static_cast<size_t>(n_tokens * n));
      } else {
        c.a_row = activation_row_bytes(type, n);
        c.act.resize(c.a_row * static_cast<size_t>(n_tokens));
      }
      inputs.push_back(std::move(c));
    }
    input_of[i] = k;
  }
  if (!inputs.empty()) {
    // One token row per item: a single decode token converts on the calling thread.
    pool.parallel_for(n_tokens, [&](int64_t tb, int64_t te) {
      for (ConvertedInput& c : inputs)
        for (int64_t t = tb; t < te; ++t) {
          if (c.kind == ConversionKind::kQuantize)
            quantize_activation_row(c.type, x + t * n, c.act.data() + t * c.a_row, n);
          else if (c.type == GgmlType::F16)
            round_row_fp16(x + t * n, c.rounded.data() + t * n, n);
          else
            round_row_bf16(x + t * n, c.rounded.data() + t * n, n);
        }
    });
  }

  // Every weight's tiles, numbered one after the other.
  std::vector<TiledWeight> plans;
  std::vector<int64_t> first_tile;  // global index of each plan's tile 0
  int64_t total_tiles = 0;
  plans.reserve(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    const MatmulJob& j = jobs[i];
    if (j.w.n_out == 0) continue;
    TiledWeight p;
    if (input_of[i] == SIZE_MAX) {
      p = plan_float(j.w, x, n_tokens, j.y);
    } else {
      const ConvertedInput& c = inputs[input_of[i]];
      p = c.kind == ConversionKind::kRound ? plan_float(j.w, c.rounded.data(), n_tokens, j.y)
                                           : plan_quant(j.w, c.act.data(), c.a_row, j.y);
    }
    plans.push_back(p);
    first_tile.push_back(total_tiles);
    total_tiles += p.n_tiles;
  }
  pool.parallel_for(total_tiles, [&](int64_t gb, int64_t ge) {
    for (size_t k = 0; k < plans.size(); ++k) {
      const int64_t tb = std::max(gb, first_tile[k]) - first_tile[k];
      const int64_t te = std::min(ge, first_tile[k] + plans[k].n_tiles) - first_tile[k];
      if (tb < te) run_tiles(plans[k], tb, te, n_tokens);
    }
  });
}

void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, ActivationMode mode,
            ThreadPool& pool) {
  const MatmulJob job{w, y};
  matmul_multi(std::span<const MatmulJob>(&job, 1), x, n_tokens, mode, pool);
}

}  // namespace layerlab
