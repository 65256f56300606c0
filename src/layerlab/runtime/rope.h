// Rotary position embedding (ggml's rope with ext_factor 0: plain and linearly scaled RoPE,
// optional per-frequency factors as written by the llama3 converter).
#pragma once

#include <cstdint>
#include <vector>

#include "layerlab/model/config.h"

namespace layerlab {

struct RopeParams {
  RopeType type = RopeType::kNorm;  // kNorm: pairs (2i, 2i+1); kNeox: pairs (i, i + n_rot/2)
  int n_rot = 0;                    // rotated dimensions at the start of each head
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;          // theta = freq_scale * p * base^(-2i/n_rot) / factor_i
  const float* freq_factors = nullptr;  // n_rot/2 values, or nullptr
};

// cos/sin of every rotated pair for the positions of one batch, computed once per forward
// and shared by all layer slots (RoPE depends on the token position only).
class RopeTable {
 public:
  // Throws layerlab::Error for RoPE types other than NORM and NEOX.
  void compute(const RopeParams& params, const int32_t* positions, int64_t n_tokens);
  // Rotates x: n_tokens rows of n_heads * head_dim values, row t at position positions[t].
  void apply(float* x, int64_t n_tokens, int n_heads, int head_dim) const;

 private:
  RopeParams params_;
  int64_t n_tokens_ = 0;
  std::vector<float> cos_, sin_;  // [n_tokens][n_rot/2]
};

}  // namespace layerlab
