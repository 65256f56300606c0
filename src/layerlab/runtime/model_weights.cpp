#include "layerlab/runtime/model_weights.h"

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
                              &L.attn_k_norm, &L.attn_output_bias, &L.ffn_norm})
    add_span(out, *v);
  for (const WeightView* w : {&L.attn_q, &L.attn_k, &L.attn_v, &L.attn_output, &L.ffn_gate, &L.ffn_up, &L.ffn_down})
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

DenseModelWeights bind_dense_weights(const ModelFile& file, const ModelConfig& c) {
  if (c.arch != Arch::kLlama && c.arch != Arch::kQwen2 && c.arch != Arch::kQwen3)
    throw Error("architecture " + c.arch_name + " is not supported by the dense engine");
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
    if (spec.mixer != MixerKind::kAttention || spec.ffn != FfnKind::kDense)
      throw Error("layer " + std::to_string(il) + ": only attention layers with a dense FFN are supported");
    const std::string p = "blk." + std::to_string(il) + ".";
    const int64_t q_dim = int64_t{spec.n_head} * c.head_dim_k;
    const int64_t k_dim = int64_t{spec.n_head_kv} * c.head_dim_k;
    const int64_t v_dim = int64_t{spec.n_head_kv} * c.head_dim_v;
    const int64_t o_dim = int64_t{spec.n_head} * c.head_dim_v;
    if (b.find(p + "attn_qkv.weight", false))
      throw Error("tensor " + p + "attn_qkv.weight: fused QKV projections are not supported");

    DenseLayerWeights L;
    L.attn_norm = b.vector(p + "attn_norm.weight", E, true);
    L.attn_q = b.matrix(p + "attn_q.weight", E, q_dim);
    L.attn_k = b.matrix(p + "attn_k.weight", E, k_dim);
    L.attn_v = b.matrix(p + "attn_v.weight", E, v_dim);
    L.attn_q_bias = b.vector(p + "attn_q.bias", q_dim, false);
    L.attn_k_bias = b.vector(p + "attn_k.bias", k_dim, false);
    L.attn_v_bias = b.vector(p + "attn_v.bias", v_dim, false);
    const bool qk_norm_required = c.arch == Arch::kQwen3;
    L.attn_q_norm = b.vector(p + "attn_q_norm.weight", c.head_dim_k, qk_norm_required);
    L.attn_k_norm = b.vector(p + "attn_k_norm.weight", c.head_dim_k, qk_norm_required);
    L.attn_output = b.matrix(p + "attn_output.weight", o_dim, E);
    L.attn_output_bias = b.vector(p + "attn_output.bias", E, false);
    L.ffn_norm = b.vector(p + "ffn_norm.weight", E, true);
    L.ffn_gate = b.matrix(p + "ffn_gate.weight", E, spec.n_ff);
    L.ffn_up = b.matrix(p + "ffn_up.weight", E, spec.n_ff);
    L.ffn_down = b.matrix(p + "ffn_down.weight", spec.n_ff, E);
    w.layers.push_back(L);
  }
  return w;
}

}  // namespace layerlab
