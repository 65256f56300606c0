// The forward pass of the hybrid family (qwen3next, qwen35, qwen35moe): Gated DeltaNet
// (linear attention) layers and gated softmax-attention layers, each followed by a dense or
// MoE FFN, executing a layer plan slot by slot.
#pragma once

#include "layerlab/runtime/forward_dense.h"
#include "layerlab/runtime/recurrent_state.h"

namespace layerlab {

// Like forward_dense; attention slots use `cache`, linear-attention slots advance their own
// per-slot, per-sequence state in `recurrent` (whose sequences must already be started).
void forward_hybrid(const DenseModel& model, const DenseBatch& batch, KvCache& cache, RecurrentState& recurrent,
                    DenseScratch& scratch, ActivationMode mode, ThreadPool& pool, float* logits,
                    const SlotRange& range = {});

// The DeltaNet dimensions of a hybrid model (head order by architecture: tiled for qwen35*,
// grouped for qwen3next).
DeltaNetDims deltanet_dims(const ModelConfig& config);

}  // namespace layerlab
