#include <gtest/gtest.h>

#include "layerlab/plan/mergekit.h"
#include "layerlab/plan/plan.h"

using namespace layerlab;

namespace {

std::vector<int> layers(const Plan& p) {
  std::vector<int> out;
  for (const auto& s : p.slots) out.push_back(s.layer);
  return out;
}

PlanLimits host(int n) { return PlanLimits{n, {}}; }

std::string error_of(std::string_view text, const PlanLimits& limits) {
  try {
    parse_plan(text, limits);
  } catch (const PlanError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Plan, ExplicitRanges) {
  Plan p = parse_plan("0-3,2-3,4-5", host(6));
  EXPECT_EQ(layers(p), (std::vector<int>{0, 1, 2, 3, 2, 3, 4, 5}));
  EXPECT_EQ(p.slots[4].pass, 1);
  EXPECT_EQ(p.slots[2].pass, 0);
  EXPECT_EQ(p.to_string(), "0-3,2-5");
}

TEST(Plan, RysDuplicationMatchesFixturePlans) {
  // dup:2,4 repeats layers 2..3 once: the fixtures' dup_2_3 plan.
  EXPECT_EQ(layers(parse_plan("dup:2,4", host(6))), (std::vector<int>{0, 1, 2, 3, 2, 3, 4, 5}));
  EXPECT_EQ(layers(parse_plan("dup:3,4", host(8))), (std::vector<int>{0, 1, 2, 3, 3, 4, 5, 6, 7}));
  Plan x2 = parse_plan("dup:2,4,x2", host(6));
  EXPECT_EQ(layers(x2), (std::vector<int>{0, 1, 2, 3, 2, 3, 2, 3, 4, 5}));
  EXPECT_EQ(x2.slots[6].pass, 2);
}

TEST(Plan, Deletion) {
  EXPECT_EQ(layers(parse_plan("del:3", host(6))), (std::vector<int>{0, 1, 2, 4, 5}));
  EXPECT_EQ(layers(parse_plan("del:5", host(8))), (std::vector<int>{0, 1, 2, 3, 4, 6, 7}));
  EXPECT_EQ(layers(parse_plan("del:1-2,5", host(6))), (std::vector<int>{0, 3, 4}));
}

TEST(Plan, Transplant) {
  PlanLimits limits{24, {24}};
  Plan p = parse_plan("0-9,donor:10-12,13-23", limits);
  ASSERT_EQ(p.slots.size(), 24u);
  EXPECT_EQ(p.slots[10].model, 1);
  EXPECT_EQ(p.slots[12].layer, 12);
  EXPECT_EQ(p.slots[13].model, 0);
  EXPECT_TRUE(p.uses_donors());
  EXPECT_EQ(p.to_string(), "0-9,donor1:10-12,13-23");
  PlanLimits two{4, {4, 2}};
  EXPECT_EQ(parse_plan("0,donor2:1,donor1:3", two).slots[1].model, 2);
}

TEST(Plan, Identity) {
  EXPECT_TRUE(parse_plan("all", host(5)).is_identity(5));
  EXPECT_TRUE(parse_plan("0-4", host(5)).is_identity(5));
  EXPECT_FALSE(parse_plan("0-3", host(5)).is_identity(5));
}

TEST(Plan, ErrorsNameTokenAndColumn) {
  EXPECT_EQ(error_of("0-3,2-9", host(6)), "plan '0-3,2-9': column 5: '2-9': layer 9 is out of range: the model has layers 0-5");
  EXPECT_EQ(error_of("0-3,,4", host(6)), "plan '0-3,,4': column 5: '': empty item");
  EXPECT_NE(error_of("0-3,x", host(6)).find("column 5: 'x'"), std::string::npos);
  EXPECT_NE(error_of("3-1", host(6)).find("before its start"), std::string::npos);
  EXPECT_NE(error_of("", host(6)).find("empty"), std::string::npos);
  EXPECT_NE(error_of("dup:4,2", host(6)).find("J must be greater"), std::string::npos);
  EXPECT_NE(error_of("dup:2,7", host(6)).find("at most the layer count"), std::string::npos);
  EXPECT_NE(error_of("dup:2,4,3", host(6)).find("expected xK"), std::string::npos);
  EXPECT_NE(error_of("del:0-5", host(6)).find("empty plan"), std::string::npos);
  EXPECT_NE(error_of("0,donor:1", host(6)).find("no --donor"), std::string::npos);
  EXPECT_NE(error_of("0,donor2:1", PlanLimits{6, {6}}).find("only 1 donor"), std::string::npos);
  EXPECT_NE(error_of("0,donor:9", PlanLimits{6, {6}}).find("donor1 has layers 0-5"), std::string::npos);
  EXPECT_NE(error_of("-1", host(6)).find("non-negative"), std::string::npos);
  EXPECT_NE(error_of("99999999999999", host(6)).find("non-negative layer number"), std::string::npos);
}

TEST(Mergekit, ExportThenImportGivesTheSamePlan) {
  PlanLimits limits{24, {24}};
  for (const char* text : {"0-3,2-3,4-23", "dup:10,14,x2", "del:5-7", "0-9,donor:10-12,13-23"}) {
    Plan p = parse_plan(text, limits);
    std::string yaml = plan_to_mergekit_yaml(p, {"org/host model", "org/donor"});
    MergekitPlan back = plan_from_mergekit_yaml(yaml, "org/host model");
    EXPECT_EQ(back.plan.slots, p.slots) << text << "\n" << yaml;
    EXPECT_EQ(back.plan.to_string(), p.to_string());
    if (p.uses_donors()) EXPECT_EQ(back.model_names.at(1), "org/donor");
  }
}

TEST(Mergekit, ReadsHandWrittenYaml) {
  const char* yaml = R"(slices:
- sources:
  - layer_range: [0, 24]   # first pass
    model: Qwen/Qwen2-72B
- sources:
  - model: Qwen/Qwen2-72B
    layer_range: [20, 28]
merge_method: passthrough
dtype: bfloat16
)";
  MergekitPlan m = plan_from_mergekit_yaml(yaml);
  ASSERT_EQ(m.plan.slots.size(), 32u);
  EXPECT_EQ(m.model_names, std::vector<std::string>{"Qwen/Qwen2-72B"});
  EXPECT_EQ(m.plan.slots[24].layer, 20);
  EXPECT_EQ(m.plan.slots[24].pass, 1);
}

TEST(Mergekit, RejectsWhatIsNotAPlan) {
  EXPECT_THROW(plan_from_mergekit_yaml("slices:\n- sources:\n  - model: a\n    layer_range: [4, 2]\n"), PlanError);
  EXPECT_THROW(plan_from_mergekit_yaml("merge_method: slerp\nslices:\n"), PlanError);
  EXPECT_THROW(plan_from_mergekit_yaml("models:\n  - model: a\n"), PlanError);
  EXPECT_THROW(plan_from_mergekit_yaml("slices:\n- sources:\n  - model: a\n    layer_range: [0, x]\n"), PlanError);
  EXPECT_THROW(plan_from_mergekit_yaml(
                   "slices:\n- sources:\n  - model: a\n    layer_range: [0, 2]\n  - model: b\n    layer_range: [0, 2]\n"),
               PlanError);
}
