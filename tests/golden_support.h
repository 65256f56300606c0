// Reading llama.cpp's golden outputs (fixtures/golden) and driving the engine the way the
// goldens were made: all cases of a set batched, then greedy or teacher-forced decode steps.
// Shared by the golden tests of every model family.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "layerlab/io/model_file.h"
#include "layerlab/model/config.h"
#include "layerlab/runtime/engine.h"

namespace layerlab::golden {

using TopK = std::vector<std::pair<int32_t, float>>;
constexpr int kThreads = 2;

struct GoldenCase {
  std::string id;
  std::vector<int32_t> prompt;
  std::vector<float> logits;            // last prompt position
  std::vector<int32_t> greedy;          // 24 ids
  std::vector<TopK> step_top10;         // distribution before choosing greedy[i]
};

// Every case of golden set `model_id` listed in golden/index.json.
std::vector<GoldenCase> load_golden(const std::string& model_id);

struct LoadedModel {
  ModelFile file;
  ModelConfig config;
};
// Models are read once per test process.
const LoadedModel& model(const std::string& file_name);

std::unique_ptr<Engine> make_engine(const std::string& file_name, ActivationMode mode,
                                    const std::vector<int>& plan = {});

// One line per test with the worst values seen, for the docs.
void report(const std::string& what, double worst_abs, double worst_kl = -1.0);

std::vector<std::vector<int32_t>> prompts(const std::vector<GoldenCase>& cases);

// Per case: the prompt logits and the free-running greedy continuation (all cases batched).
struct GreedyRun {
  std::vector<std::vector<float>> prompt_logits;
  std::vector<std::vector<int32_t>> ids;
};
GreedyRun run_greedy(Engine& engine, const std::vector<GoldenCase>& cases, size_t n_steps);

// Per case and step: our logits given the prompt and the golden ids before that step.
std::vector<std::vector<std::vector<float>>> run_teacher_forced(Engine& engine,
                                                                const std::vector<GoldenCase>& cases);

}  // namespace layerlab::golden
