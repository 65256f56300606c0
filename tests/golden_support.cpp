#include "golden_support.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <map>

#include <nlohmann/json.hpp>

#include "layerlab/eval/compare.h"
#include "layerlab/io/gguf_reader.h"
#include "test_support.h"

namespace layerlab::golden {

namespace {

using Json = nlohmann::json;

TopK read_top_k(const Json& j) {
  TopK out;
  for (const Json& e : j) out.emplace_back(e[0].get<int32_t>(), e[1].get<float>());
  return out;
}

std::vector<float> read_logits(const std::string& path) {
  const std::string bytes = testing::read_file(path);
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

}  // namespace

// Every case of golden set `model_id` listed in golden/index.json.
std::vector<GoldenCase> load_golden(const std::string& model_id) {
  const std::string dir = testing::fixture_path("golden/");
  const Json index = Json::parse(testing::read_file(dir + "index.json"));
  std::vector<GoldenCase> cases;
  for (const Json& id : index.at("models").at(model_id).at("cases")) {
    const std::string base = dir + model_id + "/" + id.get<std::string>();
    const Json j = Json::parse(testing::read_file(base + ".json"));
    GoldenCase c;
    c.id = id.get<std::string>();
    c.prompt = j.at("prompt_tokens").get<std::vector<int32_t>>();
    c.logits = read_logits(dir + model_id + "/" + j.at("logits_file").get<std::string>());
    c.greedy = j.at("greedy").at("ids").get<std::vector<int32_t>>();
    for (const Json& step : j.at("greedy").at("step_top10")) c.step_top10.push_back(read_top_k(step));
    EXPECT_EQ(c.logits.size(), j.at("n_vocab").get<size_t>()) << base;
    cases.push_back(std::move(c));
  }
  EXPECT_FALSE(cases.empty()) << model_id;
  return cases;
}

// Models are read once per test process.
const LoadedModel& model(const std::string& file_name) {
  static std::map<std::string, std::unique_ptr<LoadedModel>> cache;
  auto& slot = cache[file_name];
  if (!slot) {
    slot = std::make_unique<LoadedModel>();
    slot->file = read_gguf(testing::fixture_model(file_name));
    slot->config = read_model_config(slot->file);
  }
  return *slot;
}

std::unique_ptr<Engine> make_engine(const std::string& file_name, ActivationMode mode,
                                    const std::vector<int>& plan) {
  const LoadedModel& m = model(file_name);
  EngineOptions opt;
  opt.threads = kThreads;
  opt.mode = mode;
  opt.plan = Plan::from_layers(plan);
  return std::make_unique<Engine>(m.file, m.config, opt);
}

// One line per test with the worst values seen, for docs/engine.md.
void report(const std::string& what, double worst_abs, double worst_kl) {
  if (worst_kl >= 0)
    std::printf("[measured] %s: max |d| %.3g, max KL %.3g\n", what.c_str(), worst_abs, worst_kl);
  else
    std::printf("[measured] %s: max |d| %.3g\n", what.c_str(), worst_abs);
}

std::vector<std::vector<int32_t>> prompts(const std::vector<GoldenCase>& cases) {
  std::vector<std::vector<int32_t>> out;
  for (const GoldenCase& c : cases) out.push_back(c.prompt);
  return out;
}

// Per case: the prompt logits and the free-running greedy continuation (all cases batched).

GreedyRun run_greedy(Engine& engine, const std::vector<GoldenCase>& cases, size_t n_steps) {
  GreedyRun run;
  const Logits* logits = &engine.prefill(prompts(cases));
  for (size_t s = 0; s < cases.size(); ++s) {
    auto last = logits->last(static_cast<int>(s));
    run.prompt_logits.emplace_back(last.begin(), last.end());
  }
  run.ids.resize(cases.size());
  std::vector<int32_t> step(cases.size());
  for (size_t i = 0; i < n_steps; ++i) {
    for (size_t s = 0; s < cases.size(); ++s) {
      step[s] = argmax(logits->last(static_cast<int>(s)));
      run.ids[s].push_back(step[s]);
    }
    if (i + 1 < n_steps) logits = &engine.decode(step);
  }
  return run;
}

// Per case and step: our logits given the prompt and the golden ids before that step.
std::vector<std::vector<std::vector<float>>> run_teacher_forced(Engine& engine,
                                                                const std::vector<GoldenCase>& cases) {
  const size_t n_steps = cases.front().step_top10.size();
  std::vector<std::vector<std::vector<float>>> out(cases.size());
  const Logits* logits = &engine.prefill(prompts(cases));
  std::vector<int32_t> step(cases.size());
  for (size_t i = 0; i < n_steps; ++i) {
    for (size_t s = 0; s < cases.size(); ++s) {
      auto row = logits->last(static_cast<int>(s));
      out[s].emplace_back(row.begin(), row.end());
      step[s] = cases[s].greedy[i];
    }
    if (i + 1 < n_steps) logits = &engine.decode(step);
  }
  return out;
}

}  // namespace layerlab::golden
