// Picks the next token from a row of logits: greedy, or random with temperature, top-k and
// top-p (nucleus) filtering, driven by a seeded std::mt19937_64 so that the same seed and
// the same logits always give the same tokens.
//
// Order of the filters (llama.cpp's default sampler chain): top-k, then top-p on the
// untempered softmax, then temperature, then one draw from what is left.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace layerlab {

struct SamplerParams {
  float temperature = 0.8f;  // <= 0: greedy
  int top_k = 40;            // <= 0: no top-k limit
  float top_p = 0.95f;       // >= 1: no top-p limit
  uint64_t seed = 0;
};

// Index of the largest logit; the lowest index wins a tie. Throws for an empty row.
int32_t greedy_token(std::span<const float> logits);

class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);
  // Throws layerlab::Error for an empty row or one without a finite maximum.
  int32_t sample(std::span<const float> logits);
  const SamplerParams& params() const { return params_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };
  double uniform01();  // [0, 1), 53 random bits, same on every standard library

  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<Candidate> candidates_;  // reused between calls
  std::vector<double> probs_;
};

}  // namespace layerlab
