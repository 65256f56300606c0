#include "layerlab/plan/plan.h"

#include <fmt/format.h>

#include <map>
#include <utility>

namespace layerlab {

Plan Plan::identity(int n_layer) {
  Plan p;
  for (int l = 0; l < n_layer; ++l) p.slots.push_back({0, l, 0});
  return p;
}

Plan Plan::from_layers(const std::vector<int>& layers) {
  Plan p;
  for (int l : layers) p.slots.push_back({0, l, 0});
  assign_passes(p);
  return p;
}

std::vector<int> Plan::host_layers() const {
  std::vector<int> out;
  out.reserve(slots.size());
  for (const auto& s : slots) {
    if (s.model != 0) throw PlanError("plan uses donor layers where only host layers are allowed");
    out.push_back(s.layer);
  }
  return out;
}

bool Plan::is_identity(int n_layer) const {
  if (static_cast<int>(slots.size()) != n_layer) return false;
  for (int l = 0; l < n_layer; ++l)
    if (slots[static_cast<size_t>(l)].model != 0 || slots[static_cast<size_t>(l)].layer != l) return false;
  return true;
}

bool Plan::uses_donors() const {
  for (const auto& s : slots)
    if (s.model != 0) return true;
  return false;
}

std::string Plan::to_string() const {
  std::string out;
  size_t i = 0;
  while (i < slots.size()) {
    // Extend a run of consecutive layers of one model.
    size_t j = i;
    while (j + 1 < slots.size() && slots[j + 1].model == slots[i].model && slots[j + 1].layer == slots[j].layer + 1) ++j;
    if (!out.empty()) out += ',';
    if (slots[i].model != 0) out += fmt::format("donor{}:", slots[i].model);
    out += j == i ? fmt::format("{}", slots[i].layer) : fmt::format("{}-{}", slots[i].layer, slots[j].layer);
    i = j + 1;
  }
  return out;
}

void assign_passes(Plan& plan) {
  std::map<std::pair<int, int>, int> seen;
  for (auto& s : plan.slots) s.pass = seen[{s.model, s.layer}]++;
}

}  // namespace layerlab
