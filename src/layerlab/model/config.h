// What the math of a model depends on, read from canonical (GGUF-style) metadata and the
// tensor list: architecture, hyperparameters, and the kind of every decoder layer.
// Architectures are data here; the per-family forward functions read this struct.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "layerlab/io/model_file.h"

namespace layerlab {

enum class Arch { kLlama, kQwen2, kQwen3, kQwen3Moe, kQwen3Next, kQwen35, kQwen35Moe, kUnknown };
enum class MixerKind { kAttention, kLinearAttention };  // softmax attention / Gated DeltaNet
enum class FfnKind { kDense, kMoe };
enum class RopeType { kNorm, kNeox, kMrope, kImrope };
enum class RopeScaling { kNone, kLinear, kYarn, kLongrope };  // rope.scaling.type

struct LayerSpec {
  MixerKind mixer = MixerKind::kAttention;
  FfnKind ffn = FfnKind::kDense;
  int n_head = 0;
  int n_head_kv = 0;
  int n_ff = 0;
};

struct ModelConfig {
  std::string arch_name;  // general.architecture
  Arch arch = Arch::kUnknown;
  int n_embd = 0;
  int n_layer = 0;        // decoder layers that execute (block_count - nextn_predict_layers)
  int n_layer_all = 0;    // block_count
  int n_vocab = 0;
  int n_ctx_train = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim_k = 0;     // attention.key_length (Q and K)
  int head_dim_v = 0;     // attention.value_length
  int n_ff = 0;
  float rms_eps = 1e-5f;

  RopeType rope_type = RopeType::kNorm;
  int n_rot = 0;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;
  std::array<int, 4> rope_sections = {0, 0, 0, 0};
  RopeScaling rope_scaling = RopeScaling::kLinear;  // absent key means linear (factor 1)
  int rope_n_ctx_orig = 0;         // rope.scaling.original_context_length, default n_ctx_train
  float rope_attn_factor = 1.0f;   // rope.scaling.attn_factor (YaRN magnitude multiplier)

  int n_expert = 0;
  int n_expert_used = 0;
  int n_ff_expert = 0;
  int n_ff_shared_expert = 0;

  int ssm_conv_kernel = 0;
  int ssm_state_size = 0;      // head_k_dim = head_v_dim
  int ssm_group_count = 0;     // k heads
  int ssm_time_step_rank = 0;  // v heads
  int ssm_inner_size = 0;
  int full_attention_interval = 0;

  bool tied_embeddings = false;
  std::vector<LayerSpec> layers;  // n_layer entries, by source layer index
};

std::string_view arch_display_name(Arch arch);
// general.architecture value -> Arch (kUnknown for anything else).
Arch arch_from_name(std::string_view name);
// Stable lower-case names used in `inspect` output and JSON.
std::string_view mixer_kind_name(MixerKind kind);  // "attention" / "linear_attention"
std::string_view ffn_kind_name(FfnKind kind);      // "dense" / "moe"
std::string_view rope_type_name(RopeType type);    // "norm" / "neox" / "mrope" / "imrope"
std::string_view rope_scaling_name(RopeScaling scaling);  // "none" / "linear" / "yarn" / "longrope"
// Throws layerlab::Error naming the key for missing or inconsistent hyperparameters, and
// naming the architecture if it is not one layerlab can describe.
ModelConfig read_model_config(const ModelFile& file);

}  // namespace layerlab
