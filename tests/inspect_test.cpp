// `layerlab inspect` end to end: the JSON of every fixture model against the fixtures'
// manifest and README, the readable table, the one-line summary, and bad inputs.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace layerlab {
namespace {

using nlohmann::json;
using testing::fixture_model;
using testing::run_cli;

const json& manifest() {
  static const json m = [] {
    std::ifstream in(testing::fixture_path("models/MANIFEST.fixtures.json"));
    return json::parse(in);
  }();
  return m;
}

json inspect_json(const std::string& path, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"inspect", path, "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  testing::CliResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  return json::parse(r.out);
}

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// A copy of llama-f16.gguf with the first byte of the string value of `key` replaced.
std::string patched_llama(const std::string& key, char first, const std::string& out_name) {
  std::string bytes = testing::read_file(fixture_model("llama-f16.gguf"));
  size_t at = bytes.find(key);
  EXPECT_NE(at, std::string::npos);
  size_t value = at + key.size() + 4 /* value type */ + 8 /* string length */;
  EXPECT_EQ(bytes.substr(value, 5), "llama");
  bytes[value] = first;
  std::string path = testing::scratch_dir() + "/" + out_name;
  testing::write_file(path, bytes);
  return path;
}

// Kinds from fixtures/README.md: qwen35 runs full attention in layers 3 and 7 only,
// qwen3moe is MoE in both layers, everything else is dense attention.
void expect_layer_kinds(const std::string& arch, const json& layers) {
  for (const auto& l : layers) {
    int i = l["index"].get<int>();
    bool full = arch != "qwen35" || i == 3 || i == 7;
    EXPECT_EQ(l["mixer"], full ? "attention" : "linear_attention") << i;
    EXPECT_EQ(l["ffn"], arch == "qwen3moe" ? "moe" : "dense") << i;
  }
}

TEST(InspectCli, JsonOfEveryManifestModel) {
  int checked = 0;
  for (const auto& [file, entry] : manifest().items()) {
    SCOPED_TRACE(file);
    json j = inspect_json(fixture_model(file));
    const std::string arch = entry["architecture"];
    EXPECT_EQ(j["schema"], "layerlab.inspect/1");
    EXPECT_EQ(j["format"], "gguf");
    EXPECT_EQ(j["gguf_version"], 3);
    EXPECT_EQ(j["file_bytes"], entry["bytes"]);
    EXPECT_EQ(j["architecture"], arch);
    EXPECT_TRUE(j["config_error"].is_null());
    const int n_layer = entry["hparams"]["block_count"];
    EXPECT_EQ(j["config"]["n_layer"], n_layer);
    EXPECT_EQ(j["config"]["n_embd"], entry["hparams"]["embedding_length"]);
    EXPECT_EQ(j["n_depth"], n_layer);
    ASSERT_EQ(j["layers"].size(), static_cast<size_t>(n_layer));
    expect_layer_kinds(arch, j["layers"]);
    EXPECT_EQ(j["totals"]["n_tensors"], entry["n_tensors"]);
    EXPECT_EQ(j["tensor_type_counts"], entry["tensor_type_counts"]);

    // Per-layer parameter and tensor counts recomputed from the manifest's shapes.
    std::map<int, int64_t> params;
    std::map<int, int> tensors;
    int64_t total = 0;
    for (const auto& [name, t] : entry["tensors"].items()) {
      int64_t n = 1;
      for (const auto& d : t[1]) n *= d.get<int64_t>();
      total += n;
      if (name.rfind("blk.", 0) == 0) {
        int il = std::stoi(name.substr(4));
        params[il] += n;
        tensors[il] += 1;
      }
    }
    EXPECT_EQ(j["totals"]["n_params"], total);
    for (const auto& l : j["layers"]) {
      int i = l["index"];
      EXPECT_EQ(l["n_params"], params[i]) << i;
      EXPECT_EQ(l["n_tensors"], tensors[i]) << i;
      EXPECT_DOUBLE_EQ(l["depth_pct"].get<double>(), 100.0 * i / n_layer);
      EXPECT_DOUBLE_EQ(l["mid_depth_pct"].get<double>(), 100.0 * (i + 0.5) / n_layer);
    }
    EXPECT_EQ(j["tied_embeddings"], !entry["tensors"].contains("output.weight"));
    EXPECT_EQ(j["non_layer"]["output"]["n_tensors"], entry["tensors"].contains("output.weight") ? 1 : 0);

    // Synthetic vocabulary (README 1.2): 512 SPM tokens, bos 1, eos 2, unk 0, no template.
    const json& tok = j["tokenizer"];
    EXPECT_EQ(tok["model"], "llama");
    EXPECT_EQ(tok["n_tokens"], 512);
    EXPECT_EQ(tok["special_tokens"]["bos"], (json{{"id", 1}, {"text", "<s>"}}));
    EXPECT_EQ(tok["special_tokens"]["eos"], (json{{"id", 2}, {"text", "</s>"}}));
    EXPECT_EQ(tok["special_tokens"]["unk"], (json{{"id", 0}, {"text", "<unk>"}}));
    EXPECT_EQ(tok["add_bos"], true);
    EXPECT_EQ(tok["add_eos"], false);
    EXPECT_EQ(tok["chat_template"]["present"], false);
    ++checked;
  }
  EXPECT_EQ(checked, 17);
}

TEST(InspectCli, JsonOfOrganism) {
  // fixtures/organism/README.md: 16 llama layers, 7,280,832 parameters, vocab 2048.
  json j = inspect_json(fixture_model("organism.gguf"));
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["layers"].size(), 16u);
  expect_layer_kinds("llama", j["layers"]);
  EXPECT_EQ(j["totals"]["n_params"], 7280832);
  EXPECT_EQ(j["tensor_type_counts"], (json{{"F32", 147}}));
  EXPECT_EQ(j["tokenizer"]["n_tokens"], 2048);
  EXPECT_EQ(j["tokenizer"]["special_tokens"]["bos"]["id"], 1);
  EXPECT_EQ(j["tied_embeddings"], false);
}

TEST(InspectCli, JsonTensorsAndMetadata) {
  json j = inspect_json(fixture_model("qwen3moe-f16.gguf"), {"--tensors", "--metadata"});
  ASSERT_EQ(j["tensors"].size(), 27u);
  const json& moe = manifest()["qwen3moe-f16.gguf"]["tensors"];
  for (const auto& t : j["tensors"]) {
    const std::string name = t["name"];
    ASSERT_TRUE(moe.contains(name)) << name;
    EXPECT_EQ(t["type"], moe[name][0]) << name;
    EXPECT_EQ(t["shape"], moe[name][1]) << name;
  }
  EXPECT_EQ(j["metadata"]["general.architecture"]["value"], "qwen3moe");
  EXPECT_EQ(j["metadata"]["qwen3moe.expert_count"]["value"], 8);
  EXPECT_EQ(j["metadata"]["tokenizer.ggml.tokens"]["length"], 512);
  EXPECT_EQ(j["metadata"]["tokenizer.ggml.tokens"]["head"][1], "<s>");
  EXPECT_EQ(j["config"]["moe"]["n_expert"], 8);
  EXPECT_EQ(j["config"]["moe"]["n_expert_used"], 2);
  EXPECT_EQ(j["config"]["moe"]["n_ff_expert"], 256);
  // Without the flags the two sections are absent.
  json plain = inspect_json(fixture_model("qwen3moe-f16.gguf"));
  EXPECT_FALSE(plain.contains("tensors"));
  EXPECT_FALSE(plain.contains("metadata"));
}

TEST(InspectCli, TableForLlama) {
  testing::CliResult r = run_cli({"inspect", fixture_model("llama-f16.gguf")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::string& out = r.out;
  for (const char* needle : {
           "architecture    llama (Llama)\n",
           "n_embd 256, n_layer 6 (blocks 6), n_vocab 512, n_ctx_train 2048\n",
           "n_head 4, n_head_kv 2, head_dim k 64 / v 64, n_ff 768",
           "rope norm, n_rot 64, freq_base 10000",
           "layers (depth% = 100*i/6, mid% = 100*(i+0.5)/6)\n",
           "weight types    F16 44, F32 13\n",
           "tokenizer       model llama, pre -, 512 tokens, add_bos yes, add_eos no\n",
           "special tokens  bos 1 \"<s>\", eos 2 \"</s>\", unk 0 \"<unk>\"\n",
           "chat template   no\n",
       })
    EXPECT_NE(out.find(needle), std::string::npos) << needle << "\n" << out;
  // One row per layer: 2 norms {256}, q/o {256,256}, k/v {256,128}, gate/up/down 256 x 768;
  // F16 matrices take 2 bytes per value, the F32 norms 4.
  const std::string row3 =
      "      3   50.00   58.33  attention         dense       786,944      1,574,912  F16 7, F32 2\n";
  EXPECT_NE(out.find(row3), std::string::npos) << out;
  EXPECT_NE(out.find("parameters    4,984,064 (4.98 M)"), std::string::npos) << out;
}

TEST(InspectCli, TableForQwen35AndSummaryLines) {
  testing::CliResult r = run_cli({"inspect", fixture_model("qwen35-f16.gguf")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("      3   37.50   43.75  attention "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("      2   25.00   31.25  linear_attention "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sections [3, 3, 2, 0]"), std::string::npos) << r.out;

  r = run_cli({"inspect", fixture_model("qwen35-f16.gguf"), "--summary"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 1);
  EXPECT_EQ(r.out.rfind("qwen35-f16.gguf: qwen35, 8 layers (2 attention, 6 linear_attention)", 0), 0u)
      << r.out;
  r = run_cli({"inspect", fixture_model("qwen3moe-f16.gguf"), "--summary"});
  EXPECT_EQ(r.out.rfind("qwen3moe-f16.gguf: qwen3moe, 2 layers (2 attention, 2 MoE)", 0), 0u)
      << r.out;
  EXPECT_NE(r.out.find("F16 16, F32 11"), std::string::npos) << r.out;
}

TEST(InspectCli, UnknownArchitectureIsStillDescribed) {
  // Same bytes as llama-f16.gguf with general.architecture renamed to "xlama" (same length):
  // no hyperparameter keys match any more, but tensors, types and tokenizer remain.
  std::string path = patched_llama("general.architecture", 'x', "xlama.gguf");

  json j = inspect_json(path);
  EXPECT_EQ(j["architecture"], "xlama");
  EXPECT_TRUE(j["config"].is_null());
  EXPECT_NE(j["config_error"].get<std::string>().find("xlama"), std::string::npos);
  EXPECT_EQ(j["tensor_type_counts"], (json{{"F16", 44}, {"F32", 13}}));
  EXPECT_EQ(j["layers"].size(), 6u);
  EXPECT_TRUE(j["layers"][0]["mixer"].is_null());
  EXPECT_EQ(j["layers"][0]["n_tensors"], 9);
  EXPECT_EQ(j["totals"]["n_params"], 4984064);

  testing::CliResult r = run_cli({"inspect", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("config          not available: "), std::string::npos) << r.out;
}

TEST(InspectCli, InvalidUtf8StillGivesJson) {
  std::string path = patched_llama("general.name", '\xff', "bad-utf8.gguf");
  json j = inspect_json(path);
  EXPECT_EQ(j["name"], "\xEF\xBF\xBDlama");  // U+FFFD in place of the stray byte
  EXPECT_EQ(j["config"]["n_layer"], 6);
}

TEST(InspectCli, BadFilesFailWithOneLine) {
  const std::string dir = testing::scratch_dir();
  std::string garbage = dir + "/garbage.gguf";
  testing::write_file(garbage, "this is not a model file at all, not even close\n");
  std::string truncated = dir + "/truncated.gguf";
  testing::write_file(truncated, testing::read_file(fixture_model("llama-f16.gguf")).substr(0, 2000));
  for (const std::string& path : {dir + "/does-not-exist.gguf", garbage, truncated}) {
    SCOPED_TRACE(path);
    testing::CliResult r = run_cli({"inspect", path});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_EQ(r.err.rfind("layerlab: error: ", 0), 0u) << r.err;
  }
}

}  // namespace
}  // namespace layerlab
