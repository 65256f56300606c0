// Hugging Face tensor names <-> GGUF tensor names (llama.cpp's tensor_mapping), for the
// architectures of hf_config.h. Names only: shapes and values are handled in hf_mapping.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "layerlab/io/hf_config.h"

namespace layerlab {

struct GgufTensorName {
  std::string name;     // e.g. "blk.0.ffn_gate_exps.weight"
  int expert = -1;      // >= 0: one expert's slice of a stacked *_exps tensor
  bool fused_gate_up = false;  // HF mlp.experts.gate_up_proj: splits into gate_exps + up_exps
};

// nullopt for tensors a text model does not use (vision tower, MTP heads); throws Error for
// a name that has no GGUF equivalent.
std::optional<GgufTensorName> hf_to_gguf_name(std::string_view hf_name, const HfArch& arch);

// The HF name of a canonical tensor; for a stacked *_exps tensor, of expert `expert`.
// Throws Error for a name with no HF equivalent.
std::string gguf_to_hf_name(std::string_view gguf_name, const HfArch& arch, int expert = -1);

// True for the stacked expert tensors (blk.N.ffn_{gate,up,down}_exps.weight).
bool is_stacked_experts(std::string_view gguf_name);

}  // namespace layerlab
