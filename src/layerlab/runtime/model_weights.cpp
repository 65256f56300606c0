#include "layerlab/runtime/model_weights.h"

#include <initializer_list>
#include <string>

#include "layerlab/io/error.h"
#include "layerlab/tensor/dequantize.h"

namespace layerlab {
namespace {

class Binder {
 public:
  explicit Binder(const ModelFile& file) : file_(file) {}

  const TensorInfo* find(const std::string& name, bool required) const {
    const TensorInfo* t = file_.find_tensor(name);
    if (!t && required) throw Error("tensor " + name + ": missing from the model file");
    return t;
  }

  // A matrix {n_in, n_out} of any type the matmul kernels can use.
  WeightView matrix(const std::string& name, int64_t n_in, int64_t n_out) const {
    return to_weight(*find(name, true), n_in, n_out);
  }

  static WeightView to_weight(const TensorInfo& t, int64_t n_in, int64_t n_out) {
    if (t.n_dims != 2 || t.ne[0] != n_in || t.ne[1] != n_out)
      throw Error("tensor " + t.name + ": shape " + t.shape_string() + ", expected {" +
                  std::to_string(n_in) + ", " + std::to_string(n_out) + "}");
    if (!can_dequantize(t.type))
      throw Error("tensor " + t.name + ": weight type " + std::string(ggml_type_name(t.type)) +
                  " is not supported");
    WeightView w;
    w.type = t.type;
    w.n_in = n_in;
    w.n_out = n_out;
    w.data = t.data.data();
    w.row_bytes = t.row_bytes();
    return w;
  }

  // A stacked expert tensor {n_in, n_out, n_expert}.
  ExpertStack experts(const std::string& name, int64_t n_in, int64_t n_out, int n_expert) const {
    const TensorInfo& t = *find(name, true);
    if (t.n_dims != 3 || t.ne[0] != n_in || t.ne[1] != n_out || t.ne[2] != n_expert)
      throw Error("tensor " + name + ": shape " + t.shape_string() + ", expected {" + std::to_string(n_in) +
                  ", " + std::to_string(n_out) + ", " + std::to_string(n_expert) + "}");
    if (!can_dequantize(t.type))
      throw Error("tensor " + name + ": weight type " + std::string(ggml_type_name(t.type)) + " is not supported");
    ExpertStack e;
    e.all.type = t.type;
    e.all.n_in = n_in;
    e.all.n_out = n_out * n_expert;
    e.all.data = t.data.data();
    e.all.row_bytes = t.row_bytes();
    e.n_expert = n_expert;
    e.n_out = n_out;
    return e;
  }

  // An F32 tensor of exactly these dimensions (ne), as a flat vector.
  VectorView f32(const std::string& name, std::initializer_list<int64_t> ne, bool required) const {
    const TensorInfo* t = find(name, required);
    if (!t) return {};
    bool ok = t->n_dims == static_cast<int>(ne.size());
    int d = 0;
    int64_t n = 1;
    for (int64_t v : ne) {
      ok = ok && t->ne[d++] == v;
      n *= v;
    }
    if (!ok) throw Error("tensor " + name + ": shape " + t->shape_string() + " does not fit the model's hyperparameters");
    if (t->type != GgmlType::F32)
      throw Error("tensor " + name + ": type " + std::string(ggml_type_name(t->type)) + ", expected F32");
    return VectorView{reinterpret_cast<const float*>(t->data.data()), n};
  }

  // A 1-D F32 tensor of n values (norm weights and biases are always F32 in GGUF files).
  VectorView vector(const std::string& name, int64_t n, bool required) const {
    const TensorInfo* t = find(name, required);
    if (!t) return {};
    if (t->n_elements() != n || t->ne[0] != n)
      throw Error("tensor " + name + ": shape " + t->shape_string() + ", expected {" +
                  std::to_string(n) + "}");
    if (t->type != GgmlType::F32)
      throw Error("tensor " + name + ": type " + std::string(ggml_type_name(t->type)) +
                  ", expected F32");
    return VectorView{reinterpret_cast<const float*>(t->data.data()), n};
  }

 private:
  const ModelFile& file_;
};

}  // namespace

namespace {
void add_span(std::vector<std::span<const std::byte>>& out, const WeightView& w) {
  if (w.data) out.emplace_back(w.data, w.row_bytes * static_cast<size_t>(w.n_out));
}
void add_span(std::vector<std::span<const std::byte>>& out, const VectorView& v) {
  if (v.data) out.emplace_back(reinterpret_cast<const std::byte*>(v.data), static_cast<size_t>(v.size) * sizeof(float));
}
}  // namespace

std::vector<std::span<const std::byte>> layer_weight_bytes(const DenseLayerWeights& L) {
  std::vector<std::span<const std::byte>> out;
  for (const VectorView* v : {&L.attn_norm, &L.attn_q_bias, &L.attn_k_bias, &L.attn_v_bias, &L.attn_q_norm,
                              &L.attn_k_norm, &L.attn_output_bias, &L.ffn_norm, &L.ssm_conv1d, &L.ssm_dt_bias,
                              &L.ssm_a, &L.ssm_norm, &L.moe_shared_gate_inp})
    add_span(out, *v);
  for (const WeightView* w : {&L.attn_q, &L.attn_k, &L.attn_v, &L.attn_output, &L.ffn_gate, &L.ffn_up, &L.ffn_down,
                              &L.linear.qkv, &L.linear.gate, &L.linear.beta, &L.linear.alpha, &L.linear.out,
                              &L.moe.router, &L.moe.gate.all, &L.moe.up.all, &L.moe.down.all,
                              &L.moe.shared_gate, &L.moe.shared_up, &L.moe.shared_down})
    add_span(out, *w);
  return out;
}

std::vector<std::span<const std::byte>> global_weight_bytes(const DenseModelWeights& w) {
  std::vector<std::span<const std::byte>> out;
  if (w.token_embd) out.push_back(w.token_embd->data);
  add_span(out, w.output_norm);
  add_span(out, w.output);
  add_span(out, w.output_bias);
  add_span(out, w.rope_freqs);
  return out;
}

namespace {

bool is_hybrid_arch(Arch a) { return a == Arch::kQwen3Next || a == Arch::kQwen35 || a == Arch::kQwen35Moe; }

// Softmax attention: plain (q/k/v/o, optional biases and q/k norms) or gated (hybrid family).
void bind_attention(const Binder& b, const ModelConfig& c, const LayerSpec& spec, const std::string& p,
                    DenseLayerWeights& L) {
  const int64_t E = c.n_embd;
  const int64_t q_dim = int64_t{spec.n_head} * c.head_dim_k;
  const int64_t k_dim = int64_t{spec.n_head_kv} * c.head_dim_k;
  const int64_t v_dim = int64_t{spec.n_head_kv} * c.head_dim_v;
  const int64_t o_dim = int64_t{spec.n_head} * c.head_dim_v;
  if (b.find(p + "attn_qkv.weight", false))
    throw Error("tensor " + p + "attn_qkv.weight: fused QKV projections are not supported");
  L.gated_attention = is_hybrid_arch(c.arch);
  if (L.gated_attention && c.head_dim_k != c.head_dim_v)
    throw Error("gated attention needs attention.key_length = value_length (" + std::to_string(c.head_dim_k) +
                " vs " + std::to_string(c.head_dim_v) + ")");
  L.attn_q = b.matrix(p + "attn_q.weight", E, L.gated_attention ? 2 * q_dim : q_dim);
  L.attn_k = b.matrix(p + "attn_k.weight", E, k_dim);
  L.attn_v = b.matrix(p + "attn_v.weight", E, v_dim);
  L.attn_q_bias = b.vector(p + "attn_q.bias", q_dim, false);
  L.attn_k_bias = b.vector(p + "attn_k.bias", k_dim, false);
  L.attn_v_bias = b.vector(p + "attn_v.bias", v_dim, false);
  const bool qk_norm_required = c.arch != Arch::kLlama && c.arch != Arch::kQwen2;
  L.attn_q_norm = b.vector(p + "attn_q_norm.weight", c.head_dim_k, qk_norm_required);
  L.attn_k_norm = b.vector(p + "attn_k_norm.weight", c.head_dim_k, qk_norm_required);
  L.attn_output = b.matrix(p + "attn_output.weight", o_dim, E);
  L.attn_output_bias = b.vector(p + "attn_output.bias", E, false);
}

// Gated DeltaNet tensors (attn_qkv / attn_gate / ssm_beta / ssm_alpha form).
void bind_linear_attention(const Binder& b, const ModelConfig& c, const std::string& p, DenseLayerWeights& L) {
  const int64_t E = c.n_embd, S = c.ssm_state_size, Hk = c.ssm_group_count, Hv = c.ssm_time_step_rank;
  const int64_t C = 2 * S * Hk + S * Hv, Vd = S * Hv;
  for (const char* legacy : {"ssm_in.weight", "ssm_ba.weight"})
    if (b.find(p + legacy, false))
      throw Error("tensor " + p + legacy + ": the legacy fused DeltaNet projections are not supported "
                  "(re-convert to attn_qkv / attn_gate / ssm_beta / ssm_alpha)");
  if (c.ssm_conv_kernel < 1) throw Error("ssm.conv_kernel must be at least 1");
  DeltaNetWeights& d = L.linear;
  d.qkv = b.matrix(p + "attn_qkv.weight", E, C);
  d.gate = b.matrix(p + "attn_gate.weight", E, Vd);
  d.beta = b.matrix(p + "ssm_beta.weight", E, Hv);
  d.alpha = b.matrix(p + "ssm_alpha.weight", E, Hv);
  d.out = b.matrix(p + "ssm_out.weight", Vd, E);
  L.ssm_conv1d = b.f32(p + "ssm_conv1d.weight", {c.ssm_conv_kernel, C}, true);
  L.ssm_dt_bias = b.f32(p + "ssm_dt.bias", {Hv}, true);
  L.ssm_a = b.f32(p + "ssm_a", {Hv}, true);
  L.ssm_norm = b.f32(p + "ssm_norm.weight", {S}, true);
  d.conv = L.ssm_conv1d.data;
  d.dt_bias = L.ssm_dt_bias.data;
  d.a = L.ssm_a.data;
  d.norm = L.ssm_norm.data;
}

void bind_moe(const Binder& b, const ModelConfig& c, const std::string& p, DenseLayerWeights& L) {
  const int64_t E = c.n_embd, F = c.n_ff_expert;
  const int n = c.n_expert;
  if (b.find(p + "ffn_gate_up_exps.weight", false))
    throw Error("tensor " + p + "ffn_gate_up_exps.weight: fused gate/up expert tensors are not supported");
  MoeWeights& m = L.moe;
  m.router = b.matrix(p + "ffn_gate_inp.weight", E, n);
  m.gate = b.experts(p + "ffn_gate_exps.weight", E, F, n);
  m.up = b.experts(p + "ffn_up_exps.weight", E, F, n);
  m.down = b.experts(p + "ffn_down_exps.weight", F, E, n);
  if (b.find(p + "ffn_gate_shexp.weight", false)) {
    const int64_t Fs = c.n_ff_shared_expert > 0 ? c.n_ff_shared_expert : F;
    m.shared_gate = b.matrix(p + "ffn_gate_shexp.weight", E, Fs);
    m.shared_up = b.matrix(p + "ffn_up_shexp.weight", E, Fs);
    m.shared_down = b.matrix(p + "ffn_down_shexp.weight", Fs, E);
    L.moe_shared_gate_inp = b.f32(p + "ffn_gate_inp_shexp.weight", {E}, true);
    m.shared_gate_inp.type = GgmlType::F32;
    m.shared_gate_inp.n_in = E;
    m.shared_gate_inp.n_out = 1;
    m.shared_gate_inp.data = reinterpret_cast<const std::byte*>(L.moe_shared_gate_inp.data);
    m.shared_gate_inp.row_bytes = sizeof(float) * static_cast<size_t>(E);
  }
}

}  // namespace

DenseModelWeights bind_dense_weights(const ModelFile& file, const ModelConfig& c) {
  if (c.arch == Arch::kUnknown)
    throw Error("architecture " + c.arch_name + " is not supported by the engine");
  Binder b(file);
  DenseModelWeights w;
  const int64_t E = c.n_embd, V = c.n_vocab;

  w.token_embd = b.find("token_embd.weight", true);
  Binder::to_weight(*w.token_embd, E, V);  // checks shape and type
  w.output_norm = b.vector("output_norm.weight", E, true);
  if (const TensorInfo* out = b.find("output.weight", false))
    w.output = Binder::to_weight(*out, E, V);
  else
    w.output = Binder::to_weight(*w.token_embd, E, V);
  w.output_bias = b.vector("output.bias", V, false);
  w.rope_freqs = b.vector("rope_freqs.weight", c.n_rot / 2, false);

  for (int il = 0; il < c.n_layer; ++il) {
    const LayerSpec& spec = c.layers.at(static_cast<size_t>(il));
    const std::string p = "blk." + std::to_string(il) + ".";
    DenseLayerWeights L;
    L.attn_norm = b.vector(p + "attn_norm.weight", E, true);
    if (spec.mixer == MixerKind::kAttention)
      bind_attention(b, c, spec, p, L);
    else
      bind_linear_attention(b, c, p, L);
    // The hybrid family names the pre-FFN norm post_attention_norm; its role is ffn_norm's.
    L.ffn_norm = b.vector(p + (is_hybrid_arch(c.arch) ? "post_attention_norm.weight" : "ffn_norm.weight"), E, true);
    if (spec.ffn == FfnKind::kMoe) {
      bind_moe(b, c, p, L);
    } else {
      L.ffn_gate = b.matrix(p + "ffn_gate.weight", E, spec.n_ff);
      L.ffn_up = b.matrix(p + "ffn_up.weight", E, spec.n_ff);
      L.ffn_down = b.matrix(p + "ffn_down.weight", spec.n_ff, E);
    }
    w.layers.push_back(L);
  }
  return w;
}

}  // namespace layerlab
