#include "layerlab/runtime/gated_deltanet.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "layerlab/runtime/norms.h"
#include "layerlab/util/thread_pool.h"

namespace layerlab {
namespace {

// Multiply-adds below which the heads run on the calling thread (waking the pool costs more).
constexpr int64_t kMinParallelWork = int64_t{1} << 16;

template <typename T>
T* sized(std::vector<T>& buffer, int64_t n) {
  buffer.resize(static_cast<size_t>(n));
  return buffer.data();
}

float silu(float v) { return v / (1.0f + std::exp(-v)); }
float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }
float softplus(float v) { return v > 20.0f ? v : std::log(1.0f + std::exp(v)); }

// y = x / max(||x||, eps) with the sum of squares in double (ggml's l2_norm), in place.
void l2_normalise(float* x, int n, float eps, float extra_scale) {
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::max(std::sqrt(static_cast<float>(sum)), eps);
  for (int i = 0; i < n; ++i) x[i] = x[i] * scale * extra_scale;
}

// Causal depth-wise conv + SiLU over one sequence's rows of u (in place), with the conv state
// supplying the K-1 inputs before the first new token; the state then holds the last K-1 inputs.
// Token-major, so the inner loops run over contiguous channels (and vectorise); outputs go from
// the last token back, so every input row is read before its output overwrites it.
void causal_conv_silu(float* u, int64_t n_tokens, int64_t C, int K, const float* w, float* state,
                      std::vector<float>& window) {
  const int64_t hist = K - 1;
  float* taps = sized(window, (K + hist + 1) * C);  // [K][C]: tap j of every channel
  float* prev = taps + K * C;                       // [hist][C]: the state, token-major
  float* acc = prev + hist * C;                     // [C]
  for (int64_t ch = 0; ch < C; ++ch) {
    for (int j = 0; j < K; ++j) taps[j * C + ch] = w[ch * K + j];
    for (int64_t i = 0; i < hist; ++i) prev[i * C + ch] = state[ch * hist + i];
  }
  // Input row r of [state | u].
  auto input = [&](int64_t r) -> const float* { return r < hist ? prev + r * C : u + (r - hist) * C; };
  for (int64_t i = 0; i < hist; ++i) {
    const float* x = input(n_tokens + i);
    for (int64_t ch = 0; ch < C; ++ch) state[ch * hist + i] = x[ch];
  }
  for (int64_t t = n_tokens - 1; t >= 0; --t) {
    std::fill(acc, acc + C, 0.0f);
    for (int j = 0; j < K; ++j) {
      const float* x = input(t + j);
      const float* wj = taps + j * C;
      for (int64_t ch = 0; ch < C; ++ch) acc[ch] += wj[ch] * x[ch];
    }
    float* row = u + t * C;
    for (int64_t ch = 0; ch < C; ++ch) row[ch] = silu(acc[ch]);
  }
}

}  // namespace

// delta_rule_recurrent and delta_rule_chunked are the SIMD kernels in delta_rule_simd.cpp.

void gated_deltanet_block(const DeltaNetWeights& w, const DeltaNetDims& d, float eps, const float* xn,
                          int64_t rows, std::span<const DeltaNetSequence> sequences, float* out,
                          DeltaNetScratch& s, ActivationMode mode, ThreadPool& pool, DeltaRuleForm form) {
  const int S = d.state, Hk = d.n_k_heads, Hv = d.n_v_heads, K = d.conv_kernel;
  const int64_t C = d.channels(), Kd = d.key_dim(), Vd = d.value_dim();

  float* qkv = sized(s.qkv, rows * C);
  float* z = sized(s.z, rows * Vd);
  float* beta = sized(s.beta, rows * Hv);
  float* g = sized(s.g, rows * Hv);
  float* o = sized(s.o, rows * Vd);
  // The four input projections read the same xn: one pass over the pool.
  const MatmulJob inputs[] = {{w.qkv, qkv}, {w.gate, z}, {w.beta, beta}, {w.alpha, g}};
  matmul_multi(inputs, xn, rows, mode, pool);
  for (int64_t r = 0; r < rows; ++r)
    for (int h = 0; h < Hv; ++h) {
      float& b = beta[r * Hv + h];
      b = sigmoid(b);
      float& x = g[r * Hv + h];
      x = softplus(x + w.dt_bias[h]) * w.a[h];
    }

  const float q_scale = 1.0f / std::sqrt(static_cast<float>(S));
  for (const DeltaNetSequence& seq : sequences) {
    float* u = qkv + seq.first_row * C;
    causal_conv_silu(u, seq.n_tokens, C, K, w.conv, seq.conv_state, s.window);
    for (int64_t t = 0; t < seq.n_tokens; ++t) {
      float* row = u + t * C;
      for (int h = 0; h < Hk; ++h) {
        l2_normalise(row + h * S, S, eps, q_scale);
        l2_normalise(row + Kd + h * S, S, eps, 1.0f);
      }
    }
  }

  // One job per (sequence, v-head).
  const int64_t n_jobs = static_cast<int64_t>(sequences.size()) * Hv;
  auto run_jobs = [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const DeltaNetSequence& seq = sequences[static_cast<size_t>(job / Hv)];
      const int h = static_cast<int>(job % Hv), kh = d.k_head_of(h);
      DeltaHeadArgs a;
      const float* base = qkv + seq.first_row * C;
      a.q = base + kh * S;
      a.k = base + Kd + kh * S;
      a.qk_stride = C;
      a.v = base + 2 * Kd + h * S;
      a.v_stride = C;
      a.g = g + seq.first_row * Hv + h;
      a.beta = beta + seq.first_row * Hv + h;
      a.gb_stride = Hv;
      a.n_tokens = seq.n_tokens;
      a.state_size = S;
      a.state = seq.ssm_state + static_cast<int64_t>(h) * S * S;
      a.out = o + seq.first_row * Vd + h * S;
      a.out_stride = Vd;
      const bool chunked = form == DeltaRuleForm::kChunked || (form == DeltaRuleForm::kAuto && seq.n_tokens > 1);
      if (chunked)
        delta_rule_chunked(a);
      else
        delta_rule_recurrent(a);
    }
  };
  int64_t work = 0;
  for (const DeltaNetSequence& seq : sequences) work += seq.n_tokens;
  work *= int64_t{Hv} * S * S * 4;
  if (work < kMinParallelWork)
    run_jobs(0, n_jobs);
  else
    pool.parallel_for(n_jobs, run_jobs);

  // Gated RMSNorm per head, then the output projection.
  rms_norm_rows(o, rows * Hv, S, w.norm, eps, o);
  for (int64_t i = 0; i < rows * Vd; ++i) o[i] *= silu(z[i]);
  matmul(w.out, o, rows, out, mode, pool);
}

}  // namespace layerlab
