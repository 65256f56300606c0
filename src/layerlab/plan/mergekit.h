// mergekit passthrough YAML (slices / sources / layer_range), so plans move between
// layerlab and mergekit. mergekit's layer_range is half-open: [start, end).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "layerlab/plan/plan.h"

namespace layerlab {

// model_names[0] names the host, model_names[k] donor k.
std::string plan_to_mergekit_yaml(const Plan& plan, const std::vector<std::string>& model_names);

struct MergekitPlan {
  Plan plan;
  std::vector<std::string> model_names;  // [0] host, then donors in order of first appearance
};

// Reads the passthrough subset of mergekit's YAML. `host_name`, if not empty, fixes which
// model name is the host (otherwise the first named model is). Errors name the line.
MergekitPlan plan_from_mergekit_yaml(std::string_view yaml, const std::string& host_name = "");

}  // namespace layerlab
