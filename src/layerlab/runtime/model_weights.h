// Non-owning views of a decoder model's tensors (llama / qwen2 / qwen3, qwen3moe, and the hybrid
// family qwen3next / qwen35 / qwen35moe), one entry per *source* layer. A layer plan picks entries from this table; nothing is copied, the views
// point into the ModelFile's mappings, which must outlive this table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "layerlab/io/model_file.h"
#include "layerlab/model/config.h"
#include "layerlab/runtime/gated_deltanet.h"
#include "layerlab/runtime/moe_ffn.h"
#include "layerlab/tensor/matmul.h"

namespace layerlab {

// A 1-D F32 tensor (norm weight, bias); data == nullptr when the tensor is optional and absent.
struct VectorView {
  const float* data = nullptr;
  int64_t size = 0;
  explicit operator bool() const { return data != nullptr; }
};

struct DenseLayerWeights {
  VectorView attn_norm;                    // {E}
  // Softmax-attention layers. Gated attention (hybrid family): attn_q is {E, 2*H*dk}, per head
  // [q (dk) | gate (dk)], and the attention output is multiplied by sigmoid(gate).
  bool gated_attention = false;
  WeightView attn_q, attn_k, attn_v;       // {E, H*dk}, {E, Hkv*dk}, {E, Hkv*dv}
  VectorView attn_q_bias, attn_k_bias, attn_v_bias;  // qwen2
  VectorView attn_q_norm, attn_k_norm;     // {dk}, qwen3: RMSNorm per head before RoPE
  WeightView attn_output;                  // {H*dv, E}
  VectorView attn_output_bias;
  // Linear-attention (Gated DeltaNet) layers of the hybrid family.
  DeltaNetWeights linear;
  // Norm before the FFN: ffn_norm, or post_attention_norm in the hybrid family.
  VectorView ffn_norm;                     // {E}
  WeightView ffn_gate, ffn_up;             // {E, F}, dense FFN
  WeightView ffn_down;                     // {F, E}
  MoeWeights moe;                          // MoE FFN (LayerSpec::ffn == kMoe)
  // Vectors of the linear-attention layer kept for memory accounting (views of linear.*).
  VectorView ssm_conv1d, ssm_dt_bias, ssm_a, ssm_norm;
  VectorView moe_shared_gate_inp;
};

struct DenseModelWeights {
  const TensorInfo* token_embd = nullptr;  // {E, V}; rows are dequantized on lookup
  VectorView output_norm;                  // {E}
  WeightView output;                       // {E, V}; token_embd when the embeddings are tied
  VectorView output_bias;                  // qwen2, optional
  VectorView rope_freqs;                   // {n_rot/2}, llama3-style frequency factors, optional
  std::vector<DenseLayerWeights> layers;   // by source layer index
};

// The bytes of every weight of one layer (matrices, norms, biases), for memory accounting.
std::vector<std::span<const std::byte>> layer_weight_bytes(const DenseLayerWeights& layer);
// The same for the weights outside the decoder layers (embedding, output norm and head, ...).
std::vector<std::span<const std::byte>> global_weight_bytes(const DenseModelWeights& weights);

// Looks up and checks every tensor (presence, shape, a type layerlab can compute with).
// Throws layerlab::Error naming the tensor and the problem.
DenseModelWeights bind_dense_weights(const ModelFile& file, const ModelConfig& config);

}  // namespace layerlab
