// Reading a plan as the user gives it on the command line: plan text, or a mergekit YAML file.
#pragma once

#include <string>

#include "layerlab/plan/plan.h"

namespace layerlab {

// `spec` is plan text (docs/plans.md) or the path of a mergekit passthrough YAML file
// (*.yaml / *.yml). In YAML, the first named model is the host and the others are donors
// 1, 2, ... in order of appearance, matched with the --donor options in that order.
Plan load_plan_spec(const std::string& spec, const PlanLimits& limits);

}  // namespace layerlab
