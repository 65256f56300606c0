// Causal softmax attention for one query head of one sequence, in F32 (llama.cpp with flash
// attention off and an F32 KV cache).
#pragma once

#include <cstdint>

namespace layerlab {

// Score rows a call may use at once: query tokens are handled in tiles of this many.
constexpr int kAttentionScoreRows = 4;

struct HeadAttentionArgs {
  const float* q = nullptr;        // first new token's query head; rows q_stride apart
  int64_t q_stride = 0;
  int64_t n_new = 0;               // new tokens; token t sits at position start + t
  int64_t start = 0;               // positions already in the cache before these tokens
  const float* k = nullptr;        // position 0's key head in the cache; rows k_stride apart
  int64_t k_stride = 0;
  const float* v = nullptr;        // position 0's value head; rows v_stride apart
  int64_t v_stride = 0;
  int head_dim_k = 0;
  int head_dim_v = 0;
  float scale = 1.0f;              // kq_scale, 1/sqrt(head_dim_k)
  float* scores = nullptr;         // scratch, kAttentionScoreRows * (start + n_new) floats
  float* out = nullptr;            // first new token's output head; rows out_stride apart
  int64_t out_stride = 0;
};

// out_t = sum_{j <= start+t} softmax_j(scale * q_t . k_j) v_j for each new token t.
// The cache must already hold K/V of the new tokens (positions start .. start+n_new-1).
// A token's output has the same bits however the tokens are split into calls (one prefill,
// chunks, decode steps).
void attend_head(const HeadAttentionArgs& a);

}  // namespace layerlab
