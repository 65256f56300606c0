// Forward pass of llama, qwen2 and qwen3 (one family; the differences are config flags and
// optional tensors: q/k/v biases, per-head q/k RMSNorm, NORM vs NEOX RoPE, tied output).
#include "layerlab/runtime/blocks.h"
#include "layerlab/runtime/forward_dense.h"
#include "layerlab/runtime/norms.h"

namespace layerlab {

void forward_dense(const DenseModel& m, const DenseBatch& batch, KvCache& cache, DenseScratch& s,
                   ActivationMode mode, ThreadPool& pool, float* logits) {
  const ModelConfig& c = *m.config;
  const DenseModelWeights& w = *m.weights;
  const int64_t E = c.n_embd, rows = batch.n_rows();

  float* x = sized(s.x, rows * E);
  float* xn = sized(s.xn, rows * E);
  float* proj = sized(s.proj, rows * E);
  embed_tokens(w, batch, E, x);
  s.rope.compute(m.rope, batch.positions.data(), rows);

  for (int slot = 0; slot < m.plan->n_slots(); ++slot) {
    const int src = m.plan->source_layers[static_cast<size_t>(slot)];
    const DenseLayerWeights& L = w.layers[static_cast<size_t>(src)];
    const LayerSpec& spec = c.layers[static_cast<size_t>(src)];

    rms_norm_rows(x, rows, E, L.attn_norm.data, c.rms_eps, xn);
    attention_block(m, slot, L, spec, batch, cache, s, mode, pool);
    add_in_place(x, proj, rows * E);

    rms_norm_rows(x, rows, E, L.ffn_norm.data, c.rms_eps, xn);
    ffn_block(L, spec, rows, s, mode, pool);
    add_in_place(x, proj, rows * E);
  }

  output_head(m, batch, x, s, mode, pool, logits);
}

}  // namespace layerlab
