// Forward pass of llama, qwen2, qwen3 and qwen3moe (one family; the differences are config flags
// and optional tensors: q/k/v biases, per-head q/k RMSNorm, NORM vs NEOX RoPE, tied output, MoE FFN).
#include "layerlab/runtime/blocks.h"
#include "layerlab/runtime/forward_dense.h"
#include "layerlab/runtime/norms.h"

namespace layerlab {

void forward_dense(const DenseModel& m, const DenseBatch& batch, KvCache& cache, DenseScratch& s,
                   ActivationMode mode, ThreadPool& pool, float* logits, const SlotRange& range) {
  const ModelConfig& c = *m.config;
  const int64_t E = c.n_embd, rows = batch.n_rows();

  const int end = begin_slot_range(m, batch, s, range);
  float* x = s.x.data();
  float* xn = sized(s.xn, rows * E);
  float* proj = sized(s.proj, rows * E);

  for (int slot = range.first; slot < end; ++slot) {
    const PlanSlot& ps = m.plan->slots[static_cast<size_t>(slot)];
    const auto source = static_cast<size_t>(ps.model);
    const DenseLayerWeights& L = m.layer_sources[source]->layers[static_cast<size_t>(ps.layer)];
    const LayerSpec& spec = m.layer_configs[source]->layers[static_cast<size_t>(ps.layer)];
    // Repeated passes of a layer may add only a damped share of its residual update.
    const float scale = ps.pass > 0 ? m.plan->repeat_scale : 1.0f;

    rms_norm_rows(x, rows, E, L.attn_norm.data, c.rms_eps, xn);
    attention_block(m, slot, L, spec, batch, cache, s, mode, pool);
    add_scaled_in_place(x, proj, scale, rows * E);

    rms_norm_rows(x, rows, E, L.ffn_norm.data, c.rms_eps, xn);
    ffn_block(L, spec, rows, s, mode, pool, m.experts_per_token);
    add_scaled_in_place(x, proj, scale, rows * E);
  }

  end_slot_range(m, batch, s, mode, pool, logits, range);
}

}  // namespace layerlab
