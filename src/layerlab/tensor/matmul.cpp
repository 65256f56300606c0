// Matrix products W x: validation, activation conversion and the split into row tiles that
// the pool's threads compute. The per-tile work is in kernels_simd.cpp.
#include "layerlab/tensor/matmul.h"

#include <algorithm>
#include <cstdint>
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

// Float path: y = W x with W's rows turned into float32 (in place for F32, else dequantized
// tile by tile into a per-thread scratch) and a blocked float kernel.
void matmul_float_rows(const WeightView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  const int64_t n = w.n_in;
  // Decode: small tiles so both threads get equal shares; prefill: tiles as large as fit
  // (a multiple of the 3- and 4-row micro-kernels).
  int64_t tile = std::clamp<int64_t>(kTileFloats / n, 12, 96);
  if (n_tokens == 1) tile = std::min<int64_t>(tile, 16);
  tile = std::max<int64_t>(1, tile - tile % (n_tokens == 1 ? 8 : 12));
  const int64_t n_tiles = ceil_div(w.n_out, tile);
  if (n_tokens == 1 && w.type == GgmlType::F16 && w.row_bytes % 2 == 0) {
    // Decode of f16 weights: converted in registers, no float copy of the rows.
    pool.parallel_for(n_tiles, [&](int64_t tb, int64_t te) {
      const int64_t r0 = tb * tile, r1 = std::min(te * tile, w.n_out);
      gemv_f16(reinterpret_cast<const uint16_t*>(w.data + r0 * static_cast<int64_t>(w.row_bytes)), w.row_bytes / 2,
               r1 - r0, x, n, y + r0);
    });
    return;
  }
  const int64_t kblock = n_tokens >= 4 ? kKBlock : n;
  pool.parallel_for(n_tiles, [&](int64_t tb, int64_t te) {
    // 64-byte aligned rows: full-vector loads do not straddle cache lines.
    thread_local AlignedFloats scratch;
    for (int64_t ti = tb; ti < te; ++ti) {
      const int64_t r0 = ti * tile;
      const int64_t rows = std::min(tile, w.n_out - r0);
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
        gemm_f32(wf + k0, ws, rows, x + k0, static_cast<size_t>(n), n_tokens, std::min(kblock, n - k0),
                 y + r0, static_cast<size_t>(w.n_out), k0 > 0);
    }
  });
}

}  // namespace

void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, ActivationMode mode,
            ThreadPool& pool) {
  validate(w);
  if (n_tokens <= 0 || w.n_out == 0) return;
  const int64_t n = w.n_in;

  if (mode == ActivationMode::kExact || w.type == GgmlType::F32) {
    matmul_float_rows(w, x, n_tokens, y, pool);
    return;
  }
  if (is_float_type(w.type)) {
    // ggml rounds the activations to the weight's f16/bf16 type; the products of two such
    // numbers are exact in f32, so the float kernel on the rounded values is ggml's formula.
    std::vector<float> rounded(static_cast<size_t>(n_tokens * n));
    pool.parallel_for(n_tokens, [&](int64_t tb, int64_t te) {
      for (int64_t t = tb; t < te; ++t) {
        if (w.type == GgmlType::F16) round_row_fp16(x + t * n, rounded.data() + t * n, n);
        else round_row_bf16(x + t * n, rounded.data() + t * n, n);
      }
    });
    matmul_float_rows(w, rounded.data(), n_tokens, y, pool);
    return;
  }

  // Block-quantized weights: quantize each activation row once, then integer dot products.
  const GgmlType vdt = vec_dot_type(w.type);
  const size_t a_row = activation_row_bytes(vdt, n);
  std::vector<std::byte> act(a_row * static_cast<size_t>(n_tokens));
  pool.parallel_for(n_tokens, [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; ++t) quantize_activation_row(vdt, x + t * n, act.data() + t * a_row, n);
  });
  const int64_t n_tiles = ceil_div(w.n_out, kQuantTileRows);
  pool.parallel_for(n_tiles, [&](int64_t tb, int64_t te) {
    for (int64_t ti = tb; ti < te; ++ti) {
      const int64_t r0 = ti * kQuantTileRows;
      const int64_t rows = std::min(kQuantTileRows, w.n_out - r0);
      gemm_quant(w.type, w.data + r0 * static_cast<int64_t>(w.row_bytes), w.row_bytes, rows, act.data(), a_row,
                 n_tokens, n, y + r0, static_cast<size_t>(w.n_out));
    }
  });
}

}  // namespace layerlab
