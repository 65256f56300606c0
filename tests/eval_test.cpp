// Evaluation against the trained organism model: per-item greedy exact match and perplexity by
// llama-perplexity's method reproduce the reference anatomy table (organism/anatomy-dev.json,
// computed in PyTorch and checked against llama.cpp) for the baseline and for layer plans.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "layerlab/eval/evaluator.h"
#include "layerlab/eval/probes.h"
#include "layerlab/io/error.h"
#include "layerlab/io/model_loader.h"
#include "layerlab/model/config.h"
#include "layerlab/runtime/engine.h"
#include "layerlab/text/tokenizer.h"
#include "test_support.h"

namespace layerlab {
namespace {

using testing::fixture_model;
using testing::fixture_path;

ProbeSet probes_of_tasks(const std::string& file, const std::vector<std::string>& tasks) {
  ProbeSet set = read_probe_file(fixture_path(file));
  std::erase_if(set.items, [&](const ProbeItem& i) { return std::find(tasks.begin(), tasks.end(), i.task) == tasks.end(); });
  return set;
}

struct Organism {
  ModelFile file = load_model(fixture_model("organism.gguf"));
  ModelConfig config = read_model_config(file);
  Tokenizer tokenizer = Tokenizer::from_model(file);
  nlohmann::json anatomy = nlohmann::json::parse(testing::read_file(fixture_path("organism/anatomy-dev.json")));

  const nlohmann::json& row(const std::string& kind, const std::string& where) const {
    for (const auto& r : anatomy["rows"])
      if (r["kind"] == kind && r["where"] == where) return r;
    throw Error("no anatomy row " + kind + " " + where);
  }
};

Organism& organism() {
  static Organism o;
  return o;
}

TEST(Probes, ParsesBothItemKindsAndNamesBadLines) {
  const ProbeSet s = parse_probes(
      "{\"prompt\": \"Q: 1+1=? A: \", \"answer\": \"2\", \"task\": \"add\"}\n\n"
      "{\"prompt\": \"sky is\", \"choices\": [\" blue\", \" green\"], \"answer\": 0, \"id\": 7}\n"
      "{\"prompt\": \"grass is\", \"choices\": [\" blue\", \" green\"], \"answer\": \" green\"}\n",
      "p.jsonl");
  ASSERT_EQ(s.items.size(), 3u);
  EXPECT_EQ(s.items[0].task, "add");
  EXPECT_EQ(s.items[0].id, "line 1");
  EXPECT_FALSE(s.items[0].is_choice());
  EXPECT_EQ(s.items[1].id, "7");
  EXPECT_EQ(s.items[1].answer_index, 0);
  EXPECT_EQ(s.items[2].answer_index, 1);
  EXPECT_EQ(s.items[2].task, "all");

  const auto error_of = [](const std::string& text) {
    try {
      parse_probes(text, "p.jsonl");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of("{\"prompt\": \"a\", \"answer\": \"b\"}\n{\"prompt\": \"a\"\n").substr(0, 25), "p.jsonl:2: not valid JSON");
  EXPECT_EQ(error_of("{\"answer\": \"b\"}"), "p.jsonl:1: missing \"prompt\"");
  EXPECT_EQ(error_of("{\"prompt\": \"a\"}"), "p.jsonl:1: missing \"answer\"");
  EXPECT_EQ(error_of("{\"prompt\": \"a\", \"answer\": 3}"), "p.jsonl:1: \"answer\" must be a string");
  EXPECT_EQ(error_of("{\"prompt\": \"a\", \"choices\": [\"x\", \"y\"], \"answer\": 2}"),
            "p.jsonl:1: \"answer\" 2 is not a choice index (0-1)");
  EXPECT_EQ(error_of("{\"prompt\": \"a\", \"choices\": [\"x\", \"y\"], \"answer\": \"z\"}"),
            "p.jsonl:1: \"answer\" is not one of the choices");
  EXPECT_EQ(error_of("[1, 2]"), "p.jsonl:1: each line must be a JSON object");
  EXPECT_EQ(error_of("\n\n"), "p.jsonl: the probe file has no items");
  EXPECT_THROW(read_probe_file("/nonexistent/probes.jsonl"), Error);
}

// One anatomy row: every item's exact match equals the reference (greedy text can differ only
// at a near-tie, which these F32 runs do not hit), and the perplexity agrees to 1e-4.
void expect_row(const std::string& kind, const std::string& where, const std::vector<int>& layers) {
  Organism& o = organism();
  const nlohmann::json& row = o.row(kind, where);
  Evaluator ev(o.tokenizer);
  ev.add_probes(probes_of_tasks("organism/probes-dev.jsonl", {"add2", "mul1x2"}));
  ev.add_probes(read_probe_file(fixture_path("organism/probes-seen.jsonl")));
  ev.add_perplexity("prose", testing::read_file(fixture_path("organism/prose-heldout.txt")), "prose-heldout.txt", 256);
  EngineOptions eo;
  eo.plan = Plan::from_layers(layers);
  eo.n_ctx = ev.positions_needed();
  Engine engine(o.file, o.config, eo);
  int64_t reported = 0;
  const auto scores = ev.score(engine, [&](int64_t k) { reported += k; });
  EXPECT_EQ(reported, ev.n_items());
  ASSERT_EQ(scores.size(), 3u);
  const auto dev = row["correct_dev"].get<std::vector<int>>(), seen = row["correct_seen"].get<std::vector<int>>();
  ASSERT_EQ(scores[0].items.size(), dev.size());
  ASSERT_EQ(scores[1].items.size(), seen.size());
  int agree_dev = 0, agree_seen = 0;
  for (size_t i = 0; i < dev.size(); ++i) agree_dev += static_cast<int>(scores[0].items[i]) == dev[i];
  for (size_t i = 0; i < seen.size(); ++i) agree_seen += static_cast<int>(scores[1].items[i]) == seen[i];
  EXPECT_EQ(agree_dev, static_cast<int>(dev.size())) << kind << " " << where;
  EXPECT_EQ(agree_seen, static_cast<int>(seen.size())) << kind << " " << where;
  double nll = 0;
  int64_t tokens = 0;
  for (size_t c = 0; c < scores[2].items.size(); ++c) {
    nll += scores[2].items[c] * static_cast<double>(scores[2].tokens[c]);
    tokens += scores[2].tokens[c];
  }
  EXPECT_EQ(scores[2].items.size(), 52u);  // llama-perplexity's chunk count for this file
  const double ppl = std::exp(nll / static_cast<double>(tokens));
  EXPECT_NEAR(ppl / row["ppl"].get<double>(), 1.0, 1e-4) << kind << " " << where << ": " << ppl;
}

TEST(Evaluator, OrganismBaselineMatchesReference) {
  std::vector<int> all;
  for (int i = 0; i < 16; ++i) all.push_back(i);
  expect_row("baseline", "-", all);
  // llama.cpp's own perplexity of the file (fixtures README): 94.7257.
}

TEST(Evaluator, OrganismPlanMatchesReference) {
  // A deletion in the middle of the stack: add2 drops from 0.47 to 0.10 there.
  expect_row("delete", "8", {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15});
}

TEST(Evaluator, ChoicesPickTheLikeliestContinuation) {
  Organism& o = organism();
  // The organism answers single-digit sums: its log-likelihood must prefer the true sum.
  std::string text;
  for (int a = 1; a <= 4; ++a)
    text += "{\"prompt\": \"Q: " + std::to_string(a) + "+" + std::to_string(a) + "=? A: \", \"choices\": [\"" +
            std::to_string(a + a + 1) + "\", \"" + std::to_string(a + a) + "\"], \"answer\": 1}\n";
  text += "{\"prompt\": \"Q: 2+2=? A: \", \"choices\": [\"4\", \"5\"], \"answer\": \"5\"}\n";  // a wrong key
  Evaluator ev(o.tokenizer);
  ev.add_probes(parse_probes(text, "choices.jsonl"));
  EngineOptions eo;
  eo.n_ctx = ev.positions_needed();
  Engine engine(o.file, o.config, eo);
  const auto scores = ev.score(engine);
  EXPECT_EQ(scores[0].items, (std::vector<double>{1, 1, 1, 1, 0}));

  // The score is the summed log-probability of the continuation: check one by hand.
  const auto ctx = o.tokenizer.encode("Q: 2+2=? A: ", true, false);
  engine.reset();
  const Logits& lg = engine.prefill({ctx});
  const double lp4 = -token_nll(lg.last(0), o.tokenizer.encode("Q: 2+2=? A: 4", true, false).back());
  const double lp5 = -token_nll(lg.last(0), o.tokenizer.encode("Q: 2+2=? A: 5", true, false).back());
  EXPECT_GT(lp4, lp5);
}

TEST(Evaluator, StopFlagInterruptsBetweenBatches) {
  Organism& o = organism();
  EvalOptions opt;
  opt.max_batch_sequences = 4;
  Evaluator ev(o.tokenizer, opt);
  ev.add_probes(read_probe_file(fixture_path("organism/probes-seen.jsonl")));
  EngineOptions eo;
  eo.n_ctx = ev.positions_needed();
  Engine engine(o.file, o.config, eo);
  std::atomic<bool> stop{false};
  int64_t seen = 0;
  EXPECT_THROW(ev.score(engine, [&](int64_t k) { seen += k; if (seen >= 8) stop = true; }, &stop), EvalInterrupted);
  EXPECT_EQ(seen, 8);
}

TEST(Evaluator, TextShorterThanOneChunkIsAnError) {
  Evaluator ev(organism().tokenizer);
  EXPECT_THROW(ev.add_perplexity("short", "In the beginning", "short.txt", 256), Error);
  EXPECT_THROW(ev.add_perplexity("tiny-ctx", "In the beginning", "short.txt", 2), Error);
}

}  // namespace
}  // namespace layerlab
