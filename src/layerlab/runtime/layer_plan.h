// The executed sequence of decoder-layer slots. Slot j runs the weights of source layer
// `source_layers[j]`; everything that belongs to an execution (KV cache, output position)
// is keyed by the slot j, everything that belongs to the weights by the source layer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace layerlab {

struct LayerPlan {
  std::vector<int> source_layers;  // one entry per executed slot, in execution order

  int n_slots() const { return static_cast<int>(source_layers.size()); }
  bool empty() const { return source_layers.empty(); }

  // 0, 1, ..., n_layer-1: the model as it was trained.
  static LayerPlan identity(int n_layer);
  // "0,1,2,3,2,3,4,5" (spaces allowed). Throws layerlab::Error on malformed text.
  static LayerPlan parse(std::string_view text);

  // Throws layerlab::Error naming the slot whose source layer is outside [0, n_layer),
  // or if the plan has no slots.
  void validate(int n_layer) const;
  std::string to_string() const;  // "0,1,2"
};

}  // namespace layerlab
