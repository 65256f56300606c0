#include "layerlab/plan/materialize.h"

#include <fmt/format.h>

#include <map>

#include "layerlab/model/config.h"

namespace layerlab {
namespace {

// "blk.12.attn_q.weight" -> {12, "attn_q.weight"}; {-1, ""} for non-layer tensors.
std::pair<int, std::string> split_layer_name(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return {-1, ""};
  size_t dot = name.find('.', 4);
  if (dot == std::string::npos || dot == 4) return {-1, ""};
  int layer = 0;
  for (size_t k = 4; k < dot; ++k) {
    if (name[k] < '0' || name[k] > '9') return {-1, ""};
    layer = layer * 10 + (name[k] - '0');
    if (layer > 1000000) return {-1, ""};
  }
  return {layer, name.substr(dot + 1)};
}

void keep_alive(ModelFile& out, const ModelFile& src) {
  out.mappings.insert(out.mappings.end(), src.mappings.begin(), src.mappings.end());
  out.owned_buffers.insert(out.owned_buffers.end(), src.owned_buffers.begin(), src.owned_buffers.end());
}

bool is_hybrid(Arch arch) { return arch == Arch::kQwen3Next || arch == Arch::kQwen35 || arch == Arch::kQwen35Moe; }

}  // namespace

bool is_per_layer_key(const std::string& key, const Value& value, const std::string& arch, int64_t block_count) {
  if (!value.is_array() || static_cast<int64_t>(value.items.size()) != block_count) return false;
  if (key.rfind(arch + ".", 0) != 0) return false;
  // Fixed-size arrays that are not per layer even when their length happens to match.
  static const char* kFixed[] = {".rope.dimension_sections"};
  for (const char* suffix : kFixed)
    if (key.size() >= std::string_view(suffix).size() && key.ends_with(suffix)) return false;
  return true;
}

ModelFile materialize_plan(const MaterializeInput& input, const Plan& plan) {
  const ModelFile& host = *input.host;
  const std::string arch = host.architecture();
  ModelConfig host_cfg = read_model_config(host);
  std::vector<ModelConfig> donor_cfgs;
  for (const ModelFile* d : input.donors) donor_cfgs.push_back(read_model_config(*d));
  auto model_of = [&](int m) -> const ModelFile& { return m == 0 ? host : *input.donors.at(static_cast<size_t>(m - 1)); };
  auto config_of = [&](int m) -> const ModelConfig& { return m == 0 ? host_cfg : donor_cfgs.at(static_cast<size_t>(m - 1)); };

  const int64_t host_blocks = host_cfg.n_layer_all;
  const int n_trunk = host_cfg.n_layer;
  const int n_nextn = host_cfg.n_layer_all - host_cfg.n_layer;
  const int64_t new_blocks = static_cast<int64_t>(plan.slots.size()) + n_nextn;
  if (plan.slots.empty()) throw PlanError("apply: the plan is empty");

  ModelFile out;
  out.format = FileFormat::GGUF;
  out.gguf_version = 3;
  out.alignment = host.alignment;
  keep_alive(out, host);
  for (const ModelFile* d : input.donors) keep_alive(out, *d);

  // Metadata: copy the host's, remapping per-layer arrays slot by slot.
  for (const auto& [key, value] : host.metadata.items()) {
    if (key == arch + ".block_count") {
      Value v = value;
      v.u = static_cast<uint64_t>(new_blocks);
      v.i = new_blocks;
      out.metadata.set(key, v);
    } else if (is_per_layer_key(key, value, arch, host_blocks)) {
      Value v = value;
      v.items.clear();
      for (const PlanSlot& s : plan.slots) {
        const Value* src = model_of(s.model).metadata.find(key);
        const ModelConfig& cfg = config_of(s.model);
        if (src && src->is_array() && static_cast<int64_t>(src->items.size()) == cfg.n_layer_all) {
          v.items.push_back(src->items[static_cast<size_t>(s.layer)]);
        } else if (src && !src->is_array() && src->type != ValueType::STRING) {
          Value scalar;  // a donor with one value for all layers, in the host array's element type
          scalar.type = value.elem_type;
          scalar.f = src->as_double().value_or(0.0);
          scalar.i = src->as_int().value_or(static_cast<int64_t>(scalar.f));
          scalar.u = static_cast<uint64_t>(scalar.i);
          v.items.push_back(scalar);
        } else {
          throw PlanError(fmt::format("apply: donor{} has no value of '{}' for its layer {}", s.model, key, s.layer));
        }
      }
      for (int j = 0; j < n_nextn; ++j) v.items.push_back(value.items[static_cast<size_t>(n_trunk + j)]);
      out.metadata.set(key, v);
    } else {
      out.metadata.set(key, value);
    }
  }
  if (is_hybrid(host_cfg.arch)) {
    std::vector<Value> flags;
    for (const PlanSlot& s : plan.slots)
      flags.push_back(Value::boolean(config_of(s.model).layers.at(static_cast<size_t>(s.layer)).mixer ==
                                     MixerKind::kLinearAttention));
    for (int j = 0; j < n_nextn; ++j) flags.push_back(Value::boolean(false));
    out.metadata.set(arch + ".attention.recurrent_layers", Value::array(ValueType::BOOL, std::move(flags)));
  }
  out.metadata.set("layerlab.plan", Value::string(plan.to_string()));
  out.metadata.set("layerlab.source", Value::string(input.source_label));

  // Tensors: non-layer tensors of the host in order, then each slot's layer, then NextN blocks.
  std::map<int, std::vector<const TensorInfo*>> host_layers;
  std::vector<const TensorInfo*> globals;
  for (const auto& t : host.tensors) {
    auto [layer, rest] = split_layer_name(t.name);
    if (layer < 0) globals.push_back(&t);
    else host_layers[layer].push_back(&t);
  }
  auto layer_tensors = [&](int m, int layer) {
    if (m == 0) return host_layers[layer];
    std::vector<const TensorInfo*> list;
    for (const auto& t : model_of(m).tensors)
      if (split_layer_name(t.name).first == layer) list.push_back(&t);
    return list;
  };
  auto emit = [&](const TensorInfo* t, int new_layer) {
    TensorInfo copy = *t;
    copy.name = fmt::format("blk.{}.{}", new_layer, split_layer_name(t->name).second);
    copy.source_index = 0;
    out.tensors.push_back(std::move(copy));
  };
  for (const TensorInfo* t : globals) out.tensors.push_back(*t);
  for (size_t j = 0; j < plan.slots.size(); ++j) {
    const PlanSlot& s = plan.slots[j];
    auto list = layer_tensors(s.model, s.layer);
    if (list.empty()) throw PlanError(fmt::format("apply: layer {} of model {} has no tensors", s.layer, s.model));
    for (const TensorInfo* t : list) emit(t, static_cast<int>(j));
  }
  for (int k = 0; k < n_nextn; ++k)
    for (const TensorInfo* t : host_layers[n_trunk + k]) emit(t, static_cast<int>(plan.slots.size()) + k);
  out.paths = host.paths;
  return out;
}

}  // namespace layerlab
