#include "layerlab/plan/plan_source.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "layerlab/plan/mergekit.h"

namespace layerlab {

Plan load_plan_spec(const std::string& spec, const PlanLimits& limits) {
  if (!spec.ends_with(".yaml") && !spec.ends_with(".yml")) return parse_plan(spec, limits);
  std::ifstream in(spec, std::ios::binary);
  if (!in) throw PlanError(spec + ": cannot open plan file");
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1u << 20)) throw PlanError(spec + ": plan file is larger than 1 MiB");
  MergekitPlan m;
  try {
    m = plan_from_mergekit_yaml(text.str());
  } catch (const PlanError& e) {
    throw PlanError(spec + ": " + e.what());
  }
  size_t donors = m.model_names.size() - 1;
  if (donors > limits.donor_layers.size())
    throw PlanError(fmt::format("{}: names {} donor model(s) but {} --donor given", spec, donors, limits.donor_layers.size()));
  for (const auto& s : m.plan.slots) {
    int n = s.model == 0 ? limits.host_layers : limits.donor_layers[static_cast<size_t>(s.model - 1)];
    if (s.layer >= n)
      throw PlanError(fmt::format("{}: layer {} of '{}' is out of range (it has {} layers)", spec, s.layer,
                                  m.model_names[static_cast<size_t>(s.model)], n));
  }
  return m.plan;
}

}  // namespace layerlab
