// Scans: the configurations a sweep makes, the results file (resume, torn lines, a different
// scan), and the command line on the dense, hybrid and MoE fixtures.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <fstream>

#include <nlohmann/json.hpp>

#include "layerlab/eval/evaluator.h"
#include "layerlab/io/error.h"
#include "layerlab/io/model_loader.h"
#include "layerlab/model/config.h"
#include "layerlab/scan/scan_runner.h"
#include "layerlab/scan/scan_summary.h"
#include "layerlab/scan/sweep.h"
#include "layerlab/text/tokenizer.h"
#include "test_support.h"

namespace layerlab {
namespace {

using testing::fixture_model;
using testing::fixture_path;

ModelConfig config_of(const std::string& name) { return read_model_config(load_model(fixture_model(name))); }

TEST(Sweep, DuplicationsAreTheRysPlans) {
  const ModelConfig c = config_of("organism.gguf");
  SweepOptions o;
  const auto all = make_sweep(c, o);
  ASSERT_EQ(all.size(), 1u + 16 * 17 / 2);  // baseline + every block
  EXPECT_TRUE(all[0].baseline);
  EXPECT_TRUE(all[0].plan.is_identity(16));
  const PlanLimits limits{16, {}};
  for (const auto& cfg : all) {
    if (cfg.baseline) continue;
    const Plan parsed = parse_plan(cfg.key, limits);  // the key is the plan in the plan language
    EXPECT_EQ(parsed.host_layers(), cfg.plan.host_layers()) << cfg.key;
    EXPECT_EQ(cfg.plan.slots.size(), 16u + static_cast<size_t>(cfg.end - cfg.start + 1)) << cfg.key;
  }
  o.max_block = 2;
  o.passes = 2;
  const auto short_blocks = make_sweep(c, o);
  EXPECT_EQ(short_blocks.size(), 1u + 16 + 15);
  EXPECT_EQ(short_blocks[1].key, "dup:0,1,x2");
  EXPECT_EQ(short_blocks[1].plan.host_layers(), (std::vector<int>{0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}));
}

TEST(Sweep, DeletionsKeepAtLeastOneLayer) {
  const ModelConfig c = config_of("organism.gguf");
  SweepOptions o;
  o.kind = SweepKind::kDelete;
  o.first_layer = 4;
  o.last_layer = 6;
  const auto s = make_sweep(c, o);
  ASSERT_EQ(s.size(), 1u + 6);
  EXPECT_EQ(s[1].key, "del:4");
  EXPECT_EQ(s[2].key, "del:4-5");
  EXPECT_EQ(s[2].plan.slots.size(), 14u);
  o.first_layer = 0;
  o.last_layer = -1;
  for (const auto& cfg : make_sweep(c, o)) EXPECT_GE(cfg.plan.slots.size(), 1u);
}

TEST(Sweep, HybridPeriodsAndLayerKinds) {
  const ModelConfig c = config_of("qwen35-f16.gguf");  // 8 layers: 3 linear + 1 full attention, twice
  ASSERT_EQ(auto_period(c), 4);
  SweepOptions o;
  o.kind = SweepKind::kDelete;
  o.period = auto_period(c);
  const auto periods = make_sweep(c, o);
  ASSERT_EQ(periods.size(), 3u);
  EXPECT_EQ(periods[1].key, "del:0-3");
  EXPECT_EQ(periods[2].key, "del:4-7");

  o = SweepOptions{};
  o.only_kind = MixerKind::kLinearAttention;
  const auto linear = make_sweep(c, o);
  ASSERT_EQ(linear.size(), 1u + 6 + 6);  // blocks within layers 0-2 and 4-6
  for (const auto& cfg : linear)
    for (int l = cfg.start; !cfg.baseline && l <= cfg.end; ++l)
      EXPECT_EQ(c.layers[static_cast<size_t>(l)].mixer, MixerKind::kLinearAttention) << cfg.key;
  o.only_kind = MixerKind::kAttention;
  EXPECT_EQ(make_sweep(c, o).size(), 1u + 2);  // layers 3 and 7 alone

  o = SweepOptions{};
  o.period = 3;
  EXPECT_THROW(make_sweep(c, o), Error);  // 8 layers are not whole periods of 3
}

TEST(Sweep, ExpertsCountsNeedAnMoeModel) {
  const ModelConfig moe = config_of("qwen3moe-f16.gguf");
  SweepOptions o;
  o.kind = SweepKind::kExperts;
  const auto s = make_sweep(moe, o);
  ASSERT_EQ(s.size(), 1u + static_cast<size_t>(moe.n_expert));
  EXPECT_EQ(s.back().experts_per_token, moe.n_expert);
  o.experts = {0};
  EXPECT_THROW(make_sweep(moe, o), Error);
  o.experts = {};
  EXPECT_THROW(make_sweep(config_of("organism.gguf"), o), Error);
}

// A small scan on the organism: results are stored per item, resumed, torn lines repaired.
TEST(ScanLog, ResumesAfterAnInterruptionAndRepairsATornLine) {
  const ModelFile file = load_model(fixture_model("organism.gguf"));
  const ModelConfig config = read_model_config(file);
  const Tokenizer tok = Tokenizer::from_model(file);
  std::string probes;
  for (int a = 0; a < 10; ++a)
    probes += "{\"prompt\": \"Q: " + std::to_string(a) + "+2=? A: \", \"answer\": \"" + std::to_string(a + 2) + "\"}\n";
  Evaluator ev(tok);
  ev.add_probes(parse_probes(probes, "sums.jsonl"));
  SweepOptions o;
  o.kind = SweepKind::kDelete;
  o.first_layer = 7;
  o.last_layer = 8;
  const auto configs = make_sweep(config, o);  // baseline, del:7, del:7-8, del:8
  ASSERT_EQ(configs.size(), 4u);
  const std::string path = testing::scratch_dir() + "/scan.jsonl";
  const auto header = scan_header("organism.gguf", file.file_bytes(), "ggml", ev.metrics(), {{"kind", "del"}});
  EngineOptions base;
  base.threads = 2;

  {  // Interrupted during its third configuration: two are stored.
    ScanLog log(path, header, false);
    std::atomic<bool> stop{false};
    std::vector<ScanConfig> first_three(configs.begin(), configs.begin() + 3);
    ScanRunResult r = run_scan(file, config, base, ev, {configs[0], configs[1]}, log);
    EXPECT_EQ(r.ran, 2);
    stop = true;
    r = run_scan(file, config, base, ev, first_three, log, nullptr, &stop);
    EXPECT_TRUE(r.interrupted);
    EXPECT_EQ(r.resumed, 2);
    EXPECT_EQ(log.records().size(), 2u);
  }
  {  // A crash in the middle of writing leaves a torn line.
    std::ofstream torn(path, std::ios::app);
    torn << "{\"key\": \"del:7-8\", \"scores\": {\"sums\": [1, 0,";
  }
  ScanLog log(path, header, false);
  EXPECT_EQ(log.records().size(), 2u);
  const ScanRunResult r = run_scan(file, config, base, ev, configs, log);
  EXPECT_EQ(r.resumed, 2);
  EXPECT_EQ(r.ran, 2);
  nlohmann::json h;
  std::vector<ScanRecord> records;
  ScanLog::read(path, h, records);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].key, "baseline");
  EXPECT_EQ(records[3].key, "del:8");
  // Every line is whole JSON, and scores are per item.
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    EXPECT_NO_THROW(nlohmann::json::parse(line));
    ++lines;
  }
  EXPECT_EQ(lines, 5);
  EXPECT_EQ(records[1].scores.at("sums").size(), 10u);

  // The summary pairs every configuration with the baseline.
  const auto rows = summarize_scan(h, records);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].metrics[0].delta.mean, 0.0);
  EXPECT_EQ(rows[0].metrics[0].value.n, 10);

  // Results of another scan are not mixed in.
  Evaluator other(tok);
  other.add_probes(parse_probes("{\"prompt\": \"Q: 1+1=? A: \", \"answer\": \"2\"}\n", "one.jsonl"));
  const auto other_header = scan_header("organism.gguf", file.file_bytes(), "ggml", other.metrics(), {});
  EXPECT_THROW(ScanLog(path, other_header, false), Error);
  ScanLog replaced(path, other_header, /*restart=*/true);
  EXPECT_TRUE(replaced.records().empty());
}

// Sharing the baseline's prefix changes the work, never the scores.
TEST(ScanRunner, SharedPrefixGivesTheSameScores) {
  const ModelFile file = load_model(fixture_model("organism.gguf"));
  const ModelConfig config = read_model_config(file);
  const Tokenizer tok = Tokenizer::from_model(file);
  EvalOptions eo;
  eo.max_batch_sequences = 3;  // several prefill batches
  Evaluator ev(tok, eo);
  ev.add_perplexity("prose", testing::read_file(fixture_path("organism/prose-heldout.txt")).substr(0, 1200),
                    "prose", 32);
  ev.add_probes(parse_probes("{\"prompt\": \"Q: 2+2=? A: \", \"choices\": [\"4\", \"5\"], \"answer\": 0}\n"
                             "{\"prompt\": \"Q: 3+4=? A: \", \"answer\": \"7\"}\n",
                             "mixed.jsonl"));
  SweepOptions o;
  o.first_layer = 11;
  o.max_block = 2;
  const auto configs = make_sweep(config, o);  // baseline + dup blocks within layers 11-15
  EngineOptions base;
  base.threads = 2;
  const auto header = scan_header("organism.gguf", file.file_bytes(), "ggml", ev.metrics(), {});
  const std::string dir = testing::scratch_dir();
  ScanRunOptions no_share;
  no_share.share_prefix = false;
  ScanLog plain(dir + "/plain.jsonl", header, false), shared(dir + "/shared.jsonl", header, false);
  const ScanRunResult a = run_scan(file, config, base, ev, configs, plain, nullptr, nullptr, no_share);
  const ScanRunResult b = run_scan(file, config, base, ev, configs, shared);
  EXPECT_EQ(a.slots_shared, 0);
  EXPECT_GT(b.slots_shared, b.slots_run);  // most of the stack is before the blocks
  ASSERT_EQ(plain.records().size(), configs.size());
  ASSERT_EQ(shared.records().size(), configs.size());
  for (const auto& r : plain.records()) {
    const ScanRecord* s = shared.find(r.key);
    ASSERT_NE(s, nullptr) << r.key;
    EXPECT_EQ(s->scores, r.scores) << r.key;
  }
  EXPECT_EQ(shared_prefix_slots(parse_plan("dup:3,6", {16, {}})), 6);
  EXPECT_EQ(shared_prefix_slots(parse_plan("del:3-5", {16, {}})), 3);
  EXPECT_EQ(shared_prefix_slots(parse_plan("1-15", {16, {}})), 0);
}

TEST(ScanCli, ExpertsSweepOnTheMoeFixture) {
  const std::string dir = testing::scratch_dir();
  const std::string text = dir + "/text.txt", out = dir + "/experts.jsonl";
  std::string words;
  for (int i = 0; i < 40; ++i) words += "the quick brown fox jumps over the lazy dog " + std::to_string(i) + "\n";
  testing::write_file(text, words);
  const auto r = testing::run_cli({"scan", "-m", fixture_model("qwen3moe-f16.gguf"), "--text", text, "--ctx", "32",
                                   "--sweep", "experts", "-o", out, "-q", "-t", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("experts:8"), std::string::npos);
  nlohmann::json h;
  std::vector<ScanRecord> records;
  ScanLog::read(out, h, records);
  const ModelConfig c = config_of("qwen3moe-f16.gguf");
  ASSERT_EQ(records.size(), 1u + static_cast<size_t>(c.n_expert));
  // The trained count reproduces the baseline item for item; other counts change the model.
  const auto& base = records[0].scores.at("text");
  for (const auto& rec : records) {
    if (rec.key == "experts:" + std::to_string(c.n_expert_used)) {
      EXPECT_EQ(rec.scores.at("text"), base);
    }
    if (rec.key == "experts:1") {
      EXPECT_NE(rec.scores.at("text"), base);
    }
  }
  // Running it again resumes everything and scores nothing.
  const auto again = testing::run_cli({"scan", "-m", fixture_model("qwen3moe-f16.gguf"), "--text", text, "--ctx", "32",
                                       "--sweep", "experts", "-o", out, "-q"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("0 configurations scored now, 9 found"), std::string::npos) << again.err;
}

TEST(ScanCli, HybridKindRestrictionAndBadOptions) {
  const auto dry = testing::run_cli({"scan", "-m", fixture_model("qwen35-f16.gguf"), "--kind", "full", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("dup:3,4"), std::string::npos);
  EXPECT_NE(dry.out.find("dup:7,8"), std::string::npos);
  EXPECT_NE(dry.out.find("3 configurations"), std::string::npos);

  const auto bad_sweep = testing::run_cli({"scan", "-m", fixture_model("organism.gguf"), "--sweep", "shuffle", "--dry-run"});
  EXPECT_EQ(bad_sweep.exit_code, 1);
  EXPECT_NE(bad_sweep.err.find("--sweep: 'shuffle' is not one of dup, del, experts"), std::string::npos);
  const auto no_probes = testing::run_cli({"scan", "-m", fixture_model("organism.gguf")});
  EXPECT_EQ(no_probes.exit_code, 1);
  EXPECT_NE(no_probes.err.find("give at least one --probes or --text"), std::string::npos);
  const auto bad_probe = testing::run_cli({"eval", "-m", fixture_model("organism.gguf"), "--probes",
                                           fixture_path("organism/prose-heldout.txt")});
  EXPECT_EQ(bad_probe.exit_code, 1);
  EXPECT_NE(bad_probe.err.find("prose-heldout.txt:1: not valid JSON"), std::string::npos) << bad_probe.err;
}

}  // namespace
}  // namespace layerlab

namespace layerlab {
namespace {

TEST(ReportCli, EvalAndScanResultsBecomeRankingsAndHtml) {
  const std::string dir = testing::scratch_dir();
  std::string probes;
  for (int a = 1; a <= 6; ++a)
    probes += "{\"prompt\": \"Q: " + std::to_string(a) + "*2=? A: \", \"answer\": \"" + std::to_string(2 * a) +
              "\", \"task\": \"" + (a % 2 ? "odd" : "even") + "\"}\n";
  testing::write_file(dir + "/p.jsonl", probes);
  const std::string model = fixture_model("organism.gguf");

  const auto ev = testing::run_cli({"eval", "-m", model, "--probes", dir + "/p.jsonl", "--plan", "del:8", "-q", "-o",
                                    dir + "/eval.jsonl"});
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  EXPECT_NE(ev.out.find("baseline"), std::string::npos);
  EXPECT_NE(ev.out.find("0-7,9-15"), std::string::npos);
  EXPECT_NE(ev.out.find("odd"), std::string::npos);
  EXPECT_NE(ev.out.find("change"), std::string::npos);

  const auto scan = testing::run_cli({"scan", "-m", model, "--probes", dir + "/p.jsonl", "--sweep", "del", "--layers",
                                      "13-15", "-q", "-o", dir + "/del.jsonl"});
  ASSERT_EQ(scan.exit_code, 0) << scan.err;
  const auto rep = testing::run_cli({"report", dir + "/del.jsonl", "-o", dir + "/del.html"});
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  EXPECT_NE(rep.out.find("del:13-15"), std::string::npos);
  EXPECT_NE(rep.out.find("81-100%"), std::string::npos);  // block depth of layers 13-15 of 16
  const std::string html = testing::read_file(dir + "/del.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("http://", html.find("<body")), html.find("http://www.w3.org/2000/svg", html.find("<body")));
  size_t cells = 0;
  for (size_t pos = html.find("<rect"); pos != std::string::npos; pos = html.find("<rect", pos + 1)) ++cells;
  EXPECT_EQ(cells, 6u);  // blocks within 13-15

  const auto rep_eval = testing::run_cli({"report", dir + "/eval.jsonl", "--no-html"});
  ASSERT_EQ(rep_eval.exit_code, 0) << rep_eval.err;
  const auto bad = testing::run_cli({"report", dir + "/p.jsonl"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("not a layerlab scan results file"), std::string::npos) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/p.html"));
}

}  // namespace
}  // namespace layerlab

namespace layerlab {
namespace {

// The experts-per-token curve from 1 to 16 on a synthetic MoE model with 32 experts.
TEST(ScanCli, ExpertsOneToSixteenOnA32ExpertModel) {
  const std::string dir = testing::scratch_dir();
  const std::string model = dir + "/moe32.gguf", text = dir + "/numbers.txt", out = dir + "/experts.jsonl";
  const auto synth = testing::run_cli({"synth", "--arch", "qwen3moe", "--dims",
                                       "n_embd=64,n_layer=2,n_head=4,n_head_kv=2,n_ff=128,n_vocab=300,n_expert=32,"
                                       "n_expert_used=4,n_ff_expert=32",
                                       "--type", "F32", "-o", model});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  std::string numbers;
  for (int i = 1; i <= 300; ++i) numbers += std::to_string(i) + " ";
  testing::write_file(text, numbers);
  const auto r = testing::run_cli({"scan", "-m", model, "--text", text, "--ctx", "16", "--sweep", "experts",
                                   "--experts", "1-16", "-o", out, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json h;
  std::vector<ScanRecord> records;
  ScanLog::read(out, h, records);
  ASSERT_EQ(records.size(), 17u);
  std::set<int> ks;
  for (const auto& rec : records) {
    for (double v : rec.scores.at("numbers")) EXPECT_TRUE(std::isfinite(v)) << rec.key;
    if (rec.key != "baseline") ks.insert(rec.line.at("experts_per_token").get<int>());
    if (rec.key == "experts:4") {
      EXPECT_EQ(rec.scores.at("numbers"), records[0].scores.at("numbers"));  // the trained count
    }
  }
  EXPECT_EQ(ks.size(), 16u);
  EXPECT_EQ(*ks.rbegin(), 16);
  const auto rep = testing::run_cli({"report", out, "-o", dir + "/experts.html"});
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  const std::string html = testing::read_file(dir + "/experts.html");
  size_t points = 0;
  for (size_t pos = html.find("<circle"); pos != std::string::npos; pos = html.find("<circle", pos + 1)) ++points;
  EXPECT_EQ(points, 16u);
  EXPECT_NE(html.find("trained k"), std::string::npos);
}

}  // namespace
}  // namespace layerlab
