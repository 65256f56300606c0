// Forward pass of the hybrid family. Per slot:
//   x += mixer(RMSNorm(x) * attn_norm)   (Gated DeltaNet or gated attention, by source layer)
//   x += ffn(RMSNorm(x) * post_attention_norm)
// The mixer kind belongs to the source layer; the state it reads and writes (KV cache or
// conv + SSM state) belongs to the slot.
#include "layerlab/runtime/forward_hybrid.h"

#include <vector>

#include "layerlab/runtime/blocks.h"
#include "layerlab/runtime/norms.h"

namespace layerlab {

DeltaNetDims deltanet_dims(const ModelConfig& c) {
  DeltaNetDims d;
  d.state = c.ssm_state_size;
  d.n_k_heads = c.ssm_group_count;
  d.n_v_heads = c.ssm_time_step_rank;
  d.conv_kernel = c.ssm_conv_kernel;
  // The qwen35 converters reorder the v heads to tiled order; qwen3next keeps them grouped.
  d.tiled_heads = c.arch != Arch::kQwen3Next;
  return d;
}

void forward_hybrid(const DenseModel& m, const DenseBatch& batch, KvCache& cache, RecurrentState& recurrent,
                    DenseScratch& s, ActivationMode mode, ThreadPool& pool, float* logits, const SlotRange& range) {
  const ModelConfig& c = *m.config;
  const int64_t E = c.n_embd, rows = batch.n_rows();

  const int end = begin_slot_range(m, batch, s, range);
  float* x = s.x.data();
  float* xn = sized(s.xn, rows * E);
  float* proj = sized(s.proj, rows * E);

  std::vector<DeltaNetSequence> seqs(batch.chunks.size());
  for (int slot = range.first; slot < end; ++slot) {
    const PlanSlot& ps = m.plan->slots[static_cast<size_t>(slot)];
    const auto source = static_cast<size_t>(ps.model);
    const ModelConfig& sc = *m.layer_configs[source];
    const DenseLayerWeights& L = m.layer_sources[source]->layers[static_cast<size_t>(ps.layer)];
    const LayerSpec& spec = sc.layers[static_cast<size_t>(ps.layer)];
    const float scale = ps.pass > 0 ? m.plan->repeat_scale : 1.0f;

    rms_norm_rows(x, rows, E, L.attn_norm.data, c.rms_eps, xn);
    if (spec.mixer == MixerKind::kLinearAttention) {
      for (size_t i = 0; i < batch.chunks.size(); ++i) {
        const SequenceChunk& ch = batch.chunks[i];
        seqs[i] = {ch.first_row, ch.n_tokens, recurrent.conv(slot, ch.seq), recurrent.ssm(slot, ch.seq)};
      }
      gated_deltanet_block(L.linear, deltanet_dims(sc), sc.rms_eps, xn, rows, seqs, proj, s.deltanet, mode, pool);
    } else {
      attention_block(m, slot, L, spec, batch, cache, s, mode, pool);
    }
    add_scaled_in_place(x, proj, scale, rows * E);

    rms_norm_rows(x, rows, E, L.ffn_norm.data, c.rms_eps, xn);
    ffn_block(L, spec, rows, s, mode, pool, m.experts_per_token);
    add_scaled_in_place(x, proj, scale, rows * E);
  }

  end_slot_range(m, batch, s, mode, pool, logits, range);
}

}  // namespace layerlab
