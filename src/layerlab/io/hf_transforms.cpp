#include "layerlab/io/hf_transforms.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <string>

#include "layerlab/io/error.h"
#include "layerlab/tensor/f16.h"

namespace layerlab {
namespace {

size_t element_bytes(GgmlType type) {
  auto info = ggml_type_info(static_cast<uint32_t>(type));
  return info && info->block_size == 1 ? info->type_size : 0;
}

std::string_view layer_suffix(std::string_view name) {
  if (name.substr(0, 4) != "blk.") return name;
  size_t dot = name.find('.', 4);
  return dot == std::string_view::npos ? name : name.substr(dot + 1);
}

std::vector<std::byte> copy_bytes(const TensorInfo& t) { return {t.data.begin(), t.data.end()}; }

// Element k of a plain floating-point tensor, widened to double.
double read_value(const TensorInfo& t, int64_t k) {
  const std::byte* p = t.data.data();
  switch (t.type) {
    case GgmlType::F32: { float v; std::memcpy(&v, p + 4 * k, 4); return v; }
    case GgmlType::F64: { double v; std::memcpy(&v, p + 8 * k, 8); return v; }
    case GgmlType::F16: { uint16_t v; std::memcpy(&v, p + 2 * k, 2); return fp16_to_fp32(v); }
    case GgmlType::BF16: { uint16_t v; std::memcpy(&v, p + 2 * k, 2); return bf16_to_fp32(v); }
    default:
      throw Error(fmt::format("tensor '{}': type {} cannot be converted here (expected a float type)", t.name,
                              ggml_type_name(t.type)));
  }
}

template <typename T>
std::vector<std::byte> pack(const std::vector<T>& values) {
  std::vector<std::byte> out(values.size() * sizeof(T));
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

void set_data(TensorInfo& t, GgmlType type, std::vector<std::byte> bytes, const OwnBuffer& own) {
  t.type = type;
  t.data = own(std::move(bytes));
}

// --- zero-centred norms ------------------------------------------------------------------

bool is_offset_norm(std::string_view name) {
  return name.ends_with("norm.weight") && !name.ends_with("ssm_norm.weight");
}

void norm_add_one(TensorInfo& t, const OwnBuffer& own) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  // The sum of two floats is exact in double, so one rounding gives float32 addition.
  for (int64_t k = 0; k < t.n_elements(); ++k) out[k] = static_cast<float>(read_value(t, k) + 1.0);
  set_data(t, GgmlType::F32, pack(out), own);
}

// w = x - 1 as F32 when that is exact for every element (it reads back bit-identically);
// otherwise as F64, where it always is.
void norm_sub_one(TensorInfo& t, const OwnBuffer& own) {
  const int64_t n = t.n_elements();
  std::vector<float> f(static_cast<size_t>(n));
  bool exact = true;
  for (int64_t k = 0; k < n; ++k) {
    const double x = read_value(t, k);
    f[k] = static_cast<float>(x - 1.0);
    if (static_cast<float>(static_cast<double>(f[k]) + 1.0) != static_cast<float>(x)) exact = false;
  }
  if (exact) return set_data(t, GgmlType::F32, pack(f), own);
  std::vector<double> d(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) d[k] = read_value(t, k) - 1.0;
  set_data(t, GgmlType::F64, pack(d), own);
}

// --- A_log <-> ssm_a ---------------------------------------------------------------------

float a_from_log(double a_log) { return static_cast<float>(-std::exp(a_log)); }

void a_log_to_ssm_a(TensorInfo& t, const OwnBuffer& own) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  for (int64_t k = 0; k < t.n_elements(); ++k) out[k] = a_from_log(read_value(t, k));
  set_data(t, GgmlType::F32, pack(out), own);
}

// A_log as F32 if every value has an F32 preimage under -exp (searched around log(-a)),
// otherwise as F64, so that importing the result gives back the same ssm_a bits.
void ssm_a_to_a_log(TensorInfo& t, const OwnBuffer& own) {
  const int64_t n = t.n_elements();
  std::vector<float> f(static_cast<size_t>(n));
  std::vector<double> d(static_cast<size_t>(n));
  bool exact = true;
  for (int64_t k = 0; k < n; ++k) {
    const float a = static_cast<float>(read_value(t, k));
    if (!(a < 0.0f) || !std::isfinite(a))
      throw Error(fmt::format("tensor '{}': element {} is {}, but ssm_a must be negative (it is -exp(A_log))",
                              t.name, k, a));
    d[k] = std::log(-static_cast<double>(a));
    float guess = static_cast<float>(d[k]);
    bool found = false;
    float lo = guess, hi = guess;
    for (int step = 0; step < 4 && !found; ++step) {
      if (a_from_log(lo) == a) guess = lo, found = true;
      else if (a_from_log(hi) == a) guess = hi, found = true;
      lo = std::nextafter(lo, -INFINITY);
      hi = std::nextafter(hi, INFINITY);
    }
    f[k] = guess;
    if (!found) exact = false;
  }
  if (exact) return set_data(t, GgmlType::F32, pack(f), own);
  set_data(t, GgmlType::F64, pack(d), own);
}

// --- V-head order (qwen35 family) ----------------------------------------------------------

struct VHeads {
  int64_t hk, hv, dk, dv;
  int64_t r() const { return hv / hk; }
};

VHeads v_heads(const Metadata& md, std::string_view arch, const std::string& tensor) {
  const std::string p = std::string(arch) + ".";
  auto need = [&](const char* key) {
    auto v = md.get_int(p + key);
    if (!v || *v <= 0) throw Error(fmt::format("tensor '{}': metadata '{}{}' is missing", tensor, p, key));
    return *v;
  };
  VHeads h{need("ssm.group_count"), need("ssm.time_step_rank"), need("ssm.state_size"), 0};
  h.dv = need("ssm.inner_size") / h.hv;
  if (h.hv % h.hk != 0)
    throw Error(fmt::format("tensor '{}': {} value heads are not a multiple of {} key heads", tensor, h.hv, h.hk));
  return h;
}

// Within each of `outer` strides, permutes hv consecutive blocks of block_bytes starting at
// `offset`, between grouped (g*R + r) and tiled (r*Hk + g) head order.
void permute_heads(std::span<std::byte> data, int64_t outer, size_t stride, size_t offset, const VHeads& h,
                   size_t block_bytes, bool to_tiled) {
  std::vector<std::byte> tmp(static_cast<size_t>(h.hv) * block_bytes);
  for (int64_t o = 0; o < outer; ++o) {
    std::byte* base = data.data() + static_cast<size_t>(o) * stride + offset;
    std::memcpy(tmp.data(), base, tmp.size());
    for (int64_t g = 0; g < h.hk; ++g)
      for (int64_t r = 0; r < h.r(); ++r) {
        const int64_t tiled = r * h.hk + g, grouped = g * h.r() + r;
        const int64_t dst = to_tiled ? tiled : grouped, src = to_tiled ? grouped : tiled;
        std::memcpy(base + dst * block_bytes, tmp.data() + src * block_bytes, block_bytes);
      }
  }
}

void reorder_v(TensorInfo& t, const HfArch& arch, const Metadata& md, const OwnBuffer& own, bool to_tiled) {
  const std::string_view s = layer_suffix(t.name);
  const bool rows = s == "attn_qkv.weight" || s == "attn_gate.weight" || s == "ssm_beta.weight" ||
                    s == "ssm_alpha.weight" || s == "ssm_conv1d.weight";
  const bool elems = s == "ssm_a" || s == "ssm_dt.bias";
  const bool cols = s == "ssm_out.weight";
  if (!rows && !elems && !cols) return;
  const VHeads h = v_heads(md, arch.gguf, t.name);
  if (h.r() == 1) return;  // one value head per key head: both orders agree
  const int64_t kd = h.dk * h.hk, vd = h.dv * h.hv;
  const size_t elt = element_bytes(t.type);
  auto mismatch = [&](int64_t want) {
    return Error(fmt::format("tensor '{}' {}: expected {} along the head dimension from the ssm.* metadata",
                             t.name, t.shape_string(), want));
  };
  std::vector<std::byte> bytes = copy_bytes(t);
  if (rows) {
    const bool has_qk = s == "attn_qkv.weight" || s == "ssm_conv1d.weight";
    const int64_t per_head = (s == "ssm_beta.weight" || s == "ssm_alpha.weight") ? 1 : h.dv;
    const int64_t want = (has_qk ? 2 * kd : 0) + per_head * h.hv;
    if (t.ne[1] != want || t.ne[2] != 1) throw mismatch(want);
    const size_t rb = t.row_bytes();
    permute_heads(bytes, 1, 0, has_qk ? static_cast<size_t>(2 * kd) * rb : 0, h, static_cast<size_t>(per_head) * rb,
                  to_tiled);
  } else if (elems) {
    if (t.ne[0] != h.hv || t.n_dims != 1 || elt == 0) throw mismatch(h.hv);
    permute_heads(bytes, 1, 0, 0, h, elt, to_tiled);
  } else {
    if (t.ne[0] != vd || elt == 0) throw mismatch(vd);
    permute_heads(bytes, t.ne[1] * t.ne[2], t.row_bytes(), 0, h, static_cast<size_t>(h.dv) * elt, to_tiled);
  }
  t.data = own(std::move(bytes));
}

// --- llama Q/K ---------------------------------------------------------------------------

void permute_qk(TensorInfo& t, const HfArch& arch, const Metadata& md, const OwnBuffer& own, bool to_gguf) {
  const std::string_view s = layer_suffix(t.name);
  const bool q = s == "attn_q.weight" || s == "attn_q.bias";
  const bool k = s == "attn_k.weight" || s == "attn_k.bias";
  if (!q && !k) return;
  const std::string p = std::string(arch.gguf) + ".";
  const auto n_head = md.get_int(p + "attention.head_count");
  const int64_t heads = q ? n_head.value_or(0) : md.get_int(p + "attention.head_count_kv").value_or(n_head.value_or(0));
  if (heads <= 0) throw Error(fmt::format("tensor '{}': head count missing from the metadata", t.name));
  const bool bias = s.ends_with(".bias");
  const int64_t n_rows = bias ? t.ne[0] : t.ne[1];
  const size_t row_bytes = bias ? element_bytes(t.type) : t.row_bytes();
  if ((bias && t.n_dims != 1) || (!bias && (t.n_dims != 2)) || row_bytes == 0)
    throw Error(fmt::format("tensor '{}' {}: unexpected shape for a Q/K projection", t.name, t.shape_string()));
  std::vector<std::byte> bytes = copy_bytes(t);
  permute_qk_rows(bytes, n_rows, row_bytes, heads, to_gguf);
  t.data = own(std::move(bytes));
  (void)arch;
}

}  // namespace

void permute_qk_rows(std::span<std::byte> data, int64_t n_rows, size_t row_bytes, int64_t n_head, bool to_gguf) {
  if (n_head <= 0 || n_rows % n_head != 0 || (n_rows / n_head) % 2 != 0)
    throw Error(fmt::format("cannot permute {} Q/K rows into {} heads of an even size", n_rows, n_head));
  const int64_t d = n_rows / n_head, half = d / 2;
  std::vector<std::byte> tmp(static_cast<size_t>(d) * row_bytes);
  for (int64_t h = 0; h < n_head; ++h) {
    std::byte* head = data.data() + static_cast<size_t>(h * d) * row_bytes;
    std::memcpy(tmp.data(), head, tmp.size());
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        const int64_t gguf_row = 2 * i + j, hf_row = i + j * half;
        const int64_t dst = to_gguf ? gguf_row : hf_row, src = to_gguf ? hf_row : gguf_row;
        std::memcpy(head + dst * row_bytes, tmp.data() + src * row_bytes, row_bytes);
      }
  }
}

void import_tensor_values(TensorInfo& t, const HfArch& arch, const Metadata& md, const OwnBuffer& own) {
  if (arch.gguf == "llama") permute_qk(t, arch, md, own, true);
  if (arch.hybrid) {
    if (is_offset_norm(t.name)) norm_add_one(t, own);
    if (layer_suffix(t.name) == "ssm_a") a_log_to_ssm_a(t, own);
  }
  if (arch.v_tiled) reorder_v(t, arch, md, own, true);
}

void export_tensor_values(TensorInfo& t, const HfArch& arch, const Metadata& md, const OwnBuffer& own) {
  if (arch.v_tiled) reorder_v(t, arch, md, own, false);
  if (arch.hybrid) {
    if (is_offset_norm(t.name)) norm_sub_one(t, own);
    if (layer_suffix(t.name) == "ssm_a") ssm_a_to_a_log(t, own);
  }
  if (arch.gguf == "llama") permute_qk(t, arch, md, own, false);
}

}  // namespace layerlab
