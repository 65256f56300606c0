// Whether a donor's layer can stand in a host's layer sequence: every shape and
// hyperparameter the layer's math depends on must agree. Equal shapes are allowed even
// though such transplants are expected to fail behaviourally; that is for the scan to show.
#pragma once

#include <string>
#include <vector>

#include "layerlab/model/config.h"
#include "layerlab/plan/plan.h"

namespace layerlab {

// One line per difference between donor layer `donor_layer` and host layer `host_layer`
// (the layer it replaces); empty if compatible.
std::vector<std::string> transplant_differences(const ModelConfig& host, int host_layer, const ModelConfig& donor,
                                                int donor_layer);

// Checks every donor slot of the plan; throws PlanError listing all differences, one per line.
void check_transplants(const Plan& plan, const ModelConfig& host, const std::vector<ModelConfig>& donors);

}  // namespace layerlab
