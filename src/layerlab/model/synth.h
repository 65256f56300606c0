// Random-weight models with the exact tensor names, shapes and metadata of real ones, for
// benchmarks and tests that must not depend on downloaded weights.
//
// A synthetic model is a complete GGUF that llama.cpp can load: llama/qwen2/qwen3 (dense),
// qwen3moe (MoE FFN in every layer) or qwen35 (hybrid: Gated DeltaNet layers with a gated
// full-attention layer every full_attention_interval layers) tensors and hyperparameters, and a
// minimal SPM ("llama") vocabulary of n_vocab tokens (<unk>, <s>, </s>, the 256 byte tokens
// <0x00>..<0xFF> when they fit, then <tok_N>).
//
// Weight values: matrices N(0, 0.02) (the MoE router too, kept F32 as the converter does),
// norm weights 1 + N(0, 0.02), biases N(0, 0.02). Gated DeltaNet vectors: ssm_a = -exp(A_log)
// with A_log ~ U(0, 2), ssm_dt.bias N(0, 0.1), conv taps (ssm_conv1d, F32) N(0, 0.1).
// Block-quantized types are not produced by a quantizer: every block is built directly from
// uniformly random quants and f16 scales chosen so that the dequantized weights have a
// standard deviation close to 0.02 and (nearly) zero mean. Like llama-quantize, a matrix whose
// row length is not a multiple of the type's block size gets a fallback type (Q2_K/Q3_K ->
// IQ4_NL, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, otherwise F16).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "layerlab/io/ggml_type.h"
#include "layerlab/io/metadata.h"

namespace layerlab {

// Llama 3.x "llama3" RoPE scaling, baked into a rope_freqs.weight tensor as the converter does.
struct Llama3RopeScaling {
  float factor = 0;  // 0: none
  float low_freq_factor = 1;
  float high_freq_factor = 4;
  int original_context = 8192;
};

struct SynthShape {
  std::string name;  // "qwen2.5-0.5b", or "custom"
  std::string arch;  // "llama", "qwen2", "qwen3", "qwen3moe" or "qwen35"
  int n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_vocab = 0;
  int head_dim = 0;  // 0: n_embd / n_head
  int n_ctx = 2048;
  bool tied = false;
  bool qkv_bias = false;  // qwen2
  bool qk_norm = false;   // qwen3
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
  Llama3RopeScaling llama3_rope;

  // qwen3moe: every FFN is n_expert experts of width n_ff_expert, n_expert_used run per token
  // (n_ff is still written as feed_forward_length, as the converter does, but not used).
  int n_expert = 0, n_expert_used = 0, n_ff_expert = 0;

  // qwen35: layer i is full (gated) attention iff (i + 1) % full_attention_interval == 0, else
  // Gated DeltaNet with ssm_group_count key heads and ssm_time_step_rank value heads of
  // ssm_state_size dims, and a causal conv of ssm_conv_kernel taps. RoPE rotates the first
  // n_rot dims of a head (IMROPE, sections summing to n_rot / 2).
  int full_attention_interval = 0;
  int ssm_conv_kernel = 0, ssm_state_size = 0, ssm_group_count = 0, ssm_time_step_rank = 0;
  int n_rot = 0;  // 0: the whole head
  std::array<int, 4> rope_sections = {0, 0, 0, 0};

  int head_dim_or_default() const { return head_dim > 0 ? head_dim : n_embd / n_head; }
  int n_rot_or_default() const { return n_rot > 0 ? n_rot : head_dim_or_default(); }
  bool is_moe() const { return arch == "qwen3moe"; }
  bool is_hybrid() const { return arch == "qwen35"; }
  // qwen35: whether layer il is a full-attention layer (always true for the other families).
  bool is_attention_layer(int il) const {
    return !is_hybrid() || (il + 1) % full_attention_interval == 0;
  }
};

// The built-in table of real models; nullptr if `name` is not in it.
const SynthShape* find_synth_shape(std::string_view name);
std::vector<std::string> synth_shape_names();

// A shape for `--dims n_embd=..,n_layer=..,n_head=..,n_head_kv=..,n_ff=..,n_vocab=..` with
// optional head_dim, n_ctx, tied (0/1), rope_base, eps; defaults follow the architecture
// (llama: untied, base 1e4, eps 1e-5; qwen2: tied, biases, 1e6, 1e-6; qwen3: tied, q/k norm,
// 1e6, 1e-6; qwen3moe: untied, q/k norm, 1e6, 1e-6; qwen35: tied, q/k norm, 1e7, 1e-6).
// qwen3moe also needs n_expert, n_expert_used, n_ff_expert. qwen35 also needs ssm_state_size,
// ssm_group_count, ssm_time_step_rank, and takes ssm_conv_kernel (4), full_attention_interval
// (4), n_rot (head_dim / 4) and rope_sections=a:b:c:d (n_rot / 2 split in three).
// Throws layerlab::Error naming a bad or missing key.
SynthShape parse_synth_dims(std::string_view spec, std::string_view arch);

// Throws layerlab::Error if the shape cannot describe a model (non-positive sizes, heads that
// do not divide, unknown architecture, a qwen35 model with fewer layers than the interval).
void validate_synth_shape(const SynthShape& shape);

struct SynthTensor {
  std::string name;
  GgmlType type;
  std::vector<int64_t> ne;
  enum class Init { kMatrix, kNorm, kBias, kRopeFreqs, kConvTaps, kDtBias, kSsmA } init;
};

// Types `synth` accepts for the 2-D weights.
bool is_synth_weight_type(GgmlType type);
// The type a 2-D weight with rows of `row_length` gets when `type` is asked for.
GgmlType synth_matrix_type(GgmlType type, int64_t row_length);

// The tensor list (names, shapes, types) and metadata a synthetic model has; nothing is
// generated, so this is also the cheap way to check the shapes of a large model.
std::vector<SynthTensor> synth_tensors(const SynthShape& shape, GgmlType weight_type);
// Bytes of tensor data the model holds (what write_synth_model writes, less metadata).
uint64_t synth_tensor_bytes(const std::vector<SynthTensor>& tensors);
Metadata synth_metadata(const SynthShape& shape, GgmlType weight_type);

// llama3 frequency factors (ne = head_dim / 2), as the converter computes them.
std::vector<float> llama3_rope_factors(const SynthShape& shape);

// Writes the model. Tensor data are generated one tensor at a time into a temporary file next
// to `path`, which is then memory-mapped and streamed into the GGUF writer, so memory use does
// not grow with the model. The same seed gives the same file, and a layer's values do not
// depend on how many layers are written.
void write_synth_model(const SynthShape& shape, GgmlType weight_type, uint64_t seed,
                       const std::string& path);

}  // namespace layerlab
