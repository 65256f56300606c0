// Building blocks of the decoder forward passes, shared by the per-family forward functions:
// embedding lookup, linear layers, the attention block of one slot, the SwiGLU FFN block and
// the output head. Blocks read and write the buffers of DenseScratch.
#pragma once

#include <cstdint>
#include <vector>

#include "layerlab/runtime/forward_dense.h"

namespace layerlab {

// The buffer resized to n elements (no reallocation when it already had the room).
template <typename T>
T* sized(std::vector<T>& buffer, int64_t n) {
  buffer.resize(static_cast<size_t>(n));
  return buffer.data();
}

// x[rows][E] = the embedding rows of the batch's tokens (exact dequantization, as get_rows).
void embed_tokens(const DenseModelWeights& w, const DenseBatch& batch, int64_t E, float* x);

// y = W x (+ bias) for `rows` activation rows.
void linear(const WeightView& w, const VectorView& bias, const float* x, int64_t rows, float* y,
            ActivationMode mode, ThreadPool& pool);

// Self-attention of slot `slot` running layer weights L (gated when L.gated_attention): reads s.xn, appends the batch's K/V to
// the slot's cache, writes s.proj (the block output before the residual add).
void attention_block(const DenseModel& m, int slot, const DenseLayerWeights& L, const LayerSpec& spec,
                     const DenseBatch& batch, KvCache& cache, DenseScratch& s, ActivationMode mode,
                     ThreadPool& pool);

// Feed-forward: SwiGLU, or for MoE layers the routed experts (experts_per_token of them).
// Reads s.xn, writes s.proj.
void ffn_block(const DenseLayerWeights& L, const LayerSpec& spec, int64_t rows, DenseScratch& s,
               ActivationMode mode, ThreadPool& pool, int experts_per_token = 0);

// Final norm and output projection of the batch's output rows of x, into logits.
void output_head(const DenseModel& m, const DenseBatch& batch, const float* x, DenseScratch& s,
                 ActivationMode mode, ThreadPool& pool, float* logits);

}  // namespace layerlab
