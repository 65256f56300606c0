#include "layerlab/io/hf_mapping.h"

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <unordered_set>

#include "layerlab/io/error.h"
#include "layerlab/io/hf_names.h"
#include "layerlab/io/hf_transforms.h"
#include "layerlab/tensor/dequantize.h"

namespace layerlab {
namespace {

using json = nlohmann::json;

bool is_conv1d(std::string_view name) { return name.ends_with(".ssm_conv1d.weight"); }

// HF conv1d weights are [C, 1, K]; GGUF squeezes the middle dimension away: {K, C}.
void squeeze_conv1d(TensorInfo& t) {
  if (t.n_dims == 3) {
    if (t.ne[1] != 1)
      throw Error(fmt::format("tensor '{}' {}: conv1d weight must have a middle dimension of 1", t.name,
                              t.shape_string()));
    t.ne = {t.ne[0], t.ne[2], 1, 1};
    t.n_dims = 2;
  }
}

// HF fused experts.gate_up_proj {E, 2F, n}: per expert, the first F rows are the gate.
std::pair<TensorInfo, TensorInfo> split_gate_up(const TensorInfo& t, const std::string& gate_name,
                                                ModelFile& out) {
  if (t.n_dims != 3 || t.ne[1] % 2 != 0)
    throw Error(fmt::format("tensor '{}' {}: expected {{in, 2*F, experts}}", t.name, t.shape_string()));
  const size_t half = static_cast<size_t>(t.ne[1] / 2) * t.row_bytes();
  std::vector<std::byte> gate, up;
  for (int64_t e = 0; e < t.ne[2]; ++e) {
    const std::byte* base = t.data.data() + static_cast<size_t>(e) * 2 * half;
    gate.insert(gate.end(), base, base + half);
    up.insert(up.end(), base + half, base + 2 * half);
  }
  TensorInfo g = t, u = t;
  g.ne[1] = u.ne[1] = t.ne[1] / 2;
  g.name = gate_name;
  u.name = gate_name.substr(0, gate_name.size() - std::string("ffn_gate_exps.weight").size()) + "ffn_up_exps.weight";
  g.data = out.own(std::move(gate));
  u.data = out.own(std::move(up));
  return {g, u};
}

TensorInfo stack_experts(const std::string& name, const std::map<int, TensorInfo>& experts, ModelFile& out,
                         std::optional<int64_t> expert_count) {
  const int n = static_cast<int>(experts.size());
  if (experts.rbegin()->first != n - 1)
    throw Error(fmt::format("tensor '{}': experts are not numbered 0..{} (found {} of them)", name, n - 1, n));
  if (expert_count && *expert_count != n)
    throw Error(fmt::format("tensor '{}': {} experts in the checkpoint, config says {}", name, n, *expert_count));
  const TensorInfo& first = experts.begin()->second;
  if (first.n_dims != 2)
    throw Error(fmt::format("tensor '{}': expert weights must be 2-D, got {}", first.name, first.shape_string()));
  std::vector<std::byte> bytes;
  bytes.reserve(first.data.size() * static_cast<size_t>(n));
  for (const auto& [e, t] : experts) {
    if (t.type != first.type || t.ne != first.ne)
      throw Error(fmt::format("tensor '{}': expert {} is {} {}, expert 0 is {} {}", name, e, ggml_type_name(t.type),
                              t.shape_string(), ggml_type_name(first.type), first.shape_string()));
    bytes.insert(bytes.end(), t.data.begin(), t.data.end());
  }
  TensorInfo s = first;
  s.name = name;
  s.ne = {first.ne[0], first.ne[1], n, 1};
  s.n_dims = 3;
  s.data = out.own(std::move(bytes));
  return s;
}

std::vector<int64_t> hf_shape(const TensorInfo& t) {
  std::vector<int64_t> shape;
  for (uint32_t d = t.n_dims; d-- > 0;) shape.push_back(t.ne[d]);
  return shape;
}

}  // namespace

ModelFile hf_to_canonical(SafetensorsSet raw, const json& config, const std::string& config_path) {
  const HfArch& arch = detect_hf_arch(config, config_path);
  const json cfg = merge_text_config(config);
  ModelFile out;
  out.format = FileFormat::SAFETENSORS;
  out.paths = std::move(raw.model.paths);
  out.paths.push_back(config_path);
  out.mappings = std::move(raw.model.mappings);
  out.owned_buffers = std::move(raw.model.owned_buffers);
  out.metadata = config_to_metadata(cfg, arch, config_path);
  const bool tied = cfg.contains("tie_word_embeddings") && cfg["tie_word_embeddings"].is_boolean() &&
                    cfg["tie_word_embeddings"].get<bool>();
  const auto expert_count = out.metadata.get_int(std::string(arch.gguf) + ".expert_count");

  struct Group {
    size_t slot;
    std::map<int, TensorInfo> experts;
  };
  std::map<std::string, Group> groups;
  std::vector<TensorInfo> tensors;
  for (auto& t : raw.model.tensors) {
    auto g = hf_to_gguf_name(t.name, arch);
    if (!g) continue;
    if (g->name == "output.weight" && tied) continue;  // the converter writes no output for tied embeddings
    const std::string hf_name = t.name;
    t.name = g->name;
    if (is_conv1d(t.name)) squeeze_conv1d(t);
    if (g->expert >= 0) {
      auto [it, inserted] = groups.try_emplace(g->name, Group{tensors.size(), {}});
      if (inserted) {
        TensorInfo slot;
        slot.name = g->name;
        tensors.push_back(std::move(slot));
      }
      t.name = hf_name;  // errors about one expert name it
      if (!it->second.experts.emplace(g->expert, t).second)
        throw Error(fmt::format("tensor '{}' appears twice", hf_name));
      continue;
    }
    if (g->fused_gate_up) {
      auto [gate, up] = split_gate_up(t, g->name, out);
      tensors.push_back(std::move(gate));
      tensors.push_back(std::move(up));
      continue;
    }
    tensors.push_back(t);
  }
  for (auto& [name, group] : groups) tensors[group.slot] = stack_experts(name, group.experts, out, expert_count);

  std::unordered_set<std::string> names;
  for (const auto& t : tensors)
    if (!names.insert(t.name).second)
      throw Error(fmt::format("{}: two checkpoint tensors map to '{}'", config_path, t.name));

  OwnBuffer own = [&out](std::vector<std::byte> b) { return out.own(std::move(b)); };
  for (auto& t : tensors) import_tensor_values(t, arch, out.metadata, own);
  out.tensors = std::move(tensors);
  return out;
}

HfCheckpoint canonical_to_hf(const ModelFile& model, bool dequantize) {
  const std::string arch_name = model.architecture();
  const HfArch* arch = hf_arch_for_gguf(arch_name);
  if (!arch)
    throw Error(fmt::format("architecture '{}' cannot be written as a Hugging Face checkpoint (supported: llama, "
                            "qwen2, qwen3, qwen3moe, qwen3next, qwen35, qwen35moe)",
                            arch_name));
  HfCheckpoint out;
  out.config = metadata_to_config(model, *arch);
  OwnBuffer own = [&out](std::vector<std::byte> b) {
    auto shared = std::make_shared<const std::vector<std::byte>>(std::move(b));
    out.buffers.push_back(shared);
    return std::span<const std::byte>(shared->data(), shared->size());
  };

  // Refuse before converting anything, so the error comes at once.
  if (!dequantize)
    for (const auto& t : model.tensors)
      if (!ggml_to_safetensors_dtype(t.type))
        throw Error(fmt::format("tensor '{}' has type {}, which safetensors cannot hold (F32, F16, BF16 and plain "
                                "integer types only); use --dequantize to write it as F32",
                                t.name, ggml_type_name(t.type)));

  for (const auto& src : model.tensors) {
    TensorInfo t = src;
    if (!ggml_to_safetensors_dtype(t.type)) {
      if (!can_dequantize(t.type))
        throw Error(fmt::format("tensor '{}' has type {}, which cannot be dequantized", t.name, ggml_type_name(t.type)));
      const int64_t rows = t.ne[1] * t.ne[2] * t.ne[3];
      const size_t rb = t.row_bytes();
      std::vector<std::byte> f32(static_cast<size_t>(t.n_elements()) * 4);
      for (int64_t r = 0; r < rows; ++r)
        dequantize_row(t.type, t.data.data() + static_cast<size_t>(r) * rb,
                       reinterpret_cast<float*>(f32.data()) + r * t.ne[0], t.ne[0]);
      t.type = GgmlType::F32;
      t.data = own(std::move(f32));
    }
    export_tensor_values(t, *arch, model.metadata, own);
    if (is_stacked_experts(t.name) && t.n_dims == 3) {
      const size_t slice = t.data.size() / static_cast<size_t>(t.ne[2]);
      for (int64_t e = 0; e < t.ne[2]; ++e)
        out.tensors.push_back({gguf_to_hf_name(t.name, *arch, static_cast<int>(e)), t.type, {t.ne[1], t.ne[0]},
                               t.data.subspan(static_cast<size_t>(e) * slice, slice)});
      continue;
    }
    HfTensor h{gguf_to_hf_name(t.name, *arch), t.type, hf_shape(t), t.data};
    if (is_conv1d(t.name) && t.n_dims == 2) h.shape = {t.ne[1], 1, t.ne[0]};
    out.tensors.push_back(std::move(h));
  }
  return out;
}

}  // namespace layerlab
