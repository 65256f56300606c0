#include "layerlab/runtime/layer_plan.h"

#include <charconv>
#include <numeric>

#include "layerlab/io/error.h"

namespace layerlab {

LayerPlan LayerPlan::identity(int n_layer) {
  LayerPlan plan;
  plan.source_layers.resize(static_cast<size_t>(n_layer > 0 ? n_layer : 0));
  std::iota(plan.source_layers.begin(), plan.source_layers.end(), 0);
  return plan;
}

LayerPlan LayerPlan::parse(std::string_view text) {
  LayerPlan plan;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(pos, comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    int value = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size())
      throw Error("layer plan: item " + std::to_string(plan.source_layers.size()) + " ('" +
                  std::string(item) + "') is not a layer index");
    plan.source_layers.push_back(value);
    pos = comma + 1;
  }
  return plan;
}

void LayerPlan::validate(int n_layer) const {
  if (source_layers.empty()) throw Error("layer plan: no slots");
  for (size_t j = 0; j < source_layers.size(); ++j)
    if (source_layers[j] < 0 || source_layers[j] >= n_layer)
      throw Error("layer plan: slot " + std::to_string(j) + " names source layer " +
                  std::to_string(source_layers[j]) + ", but the model has layers 0.." +
                  std::to_string(n_layer - 1));
}

std::string LayerPlan::to_string() const {
  std::string out;
  for (size_t j = 0; j < source_layers.size(); ++j) {
    if (j) out += ',';
    out += std::to_string(source_layers[j]);
  }
  return out;
}

}  // namespace layerlab
