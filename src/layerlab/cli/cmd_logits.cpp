// `layerlab logits --model M (--tokens ID,... | --prompt TEXT)`: runs one sequence through the
// engine (optionally under a layer plan) and writes its logits: little-endian float32 to a
// file (-o), and/or the top-k entries as JSON on stdout (--json, the default without -o).
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "layerlab/cli/commands.h"
#include "layerlab/eval/compare.h"
#include "layerlab/io/error.h"
#include "layerlab/io/model_loader.h"
#include "layerlab/model/config.h"
#include "layerlab/cli/plan_options.h"
#include "layerlab/runtime/engine.h"
#include "layerlab/text/tokenizer.h"

namespace layerlab::cli {
namespace {

struct LogitsOptions {
  std::string model;
  std::string tokens;
  std::string prompt;
  PlanOptions plan;
  std::string out;
  bool all_positions = false;
  bool json = false;
  bool exact = false;
  int top_k = 10;
  int threads = 0;
  int experts_per_token = 0;  // 0: the model's expert_used_count
};

std::vector<int32_t> parse_tokens(const std::string& text) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(pos, comma - pos);
    size_t used = 0;
    long long value = -1;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || value < 0 || value > INT32_MAX)
      throw Error("--tokens: item " + std::to_string(ids.size()) + " ('" + item + "') is not a token id");
    ids.push_back(static_cast<int32_t>(value));
    pos = comma + 1;
  }
  return ids;
}

void write_floats(const std::string& path, const std::vector<float>& values) {
  // The byte order of float32 on every platform layerlab builds for is little-endian.
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(float)));
  out.close();
  if (!out) throw Error(path + ": cannot write the logits");
}

// The shortest decimal that reads back as the same float32 (JSON numbers are doubles).
double json_float(float f) { return std::stod(fmt::format("{}", f)); }

void run_logits(const LogitsOptions& opt) {
  const ModelFile file = load_model(opt.model);
  const ModelConfig config = read_model_config(file);

  std::vector<int32_t> tokens;
  if (!opt.tokens.empty()) {
    tokens = parse_tokens(opt.tokens);
  } else {
    // As llama.cpp's tools do: BOS/EOS as the vocabulary asks, special-token text kept literal.
    tokens = Tokenizer::from_model(file).encode(opt.prompt, /*add_special=*/true, /*parse_special=*/false);
    if (tokens.empty()) throw Error("--prompt: the text gives no tokens");
  }

  EngineOptions eo;
  eo.threads = opt.threads;
  eo.experts_per_token = opt.experts_per_token;
  eo.mode = opt.exact ? ActivationMode::kExact : ActivationMode::kGgml;
  std::vector<std::unique_ptr<ModelFile>> donors;
  opt.plan.resolve(config, donors, eo);
  Engine engine(file, config, eo);
  const Logits& logits = engine.prefill({tokens}, opt.all_positions);

  std::vector<float> flat;
  for (int64_t i = 0; i < logits.n_rows(0); ++i) {
    auto row = logits.row(0, i);
    flat.insert(flat.end(), row.begin(), row.end());
  }
  if (!opt.out.empty()) write_floats(opt.out, flat);

  if (opt.json || opt.out.empty()) {
    nlohmann::json j;
    j["model"] = opt.model;
    j["architecture"] = config.arch_name;
    j["plan"] = engine.plan().to_string();
    j["mode"] = opt.exact ? "exact" : "ggml";
    j["n_vocab"] = config.n_vocab;
    j["tokens"] = tokens;
    nlohmann::json rows = nlohmann::json::array();
    const int64_t first = static_cast<int64_t>(tokens.size()) - logits.n_rows(0);
    for (int64_t i = 0; i < logits.n_rows(0); ++i) {
      auto row = logits.row(0, i);
      nlohmann::json top = nlohmann::json::array();
      for (int32_t id : top_k_ids(row, opt.top_k)) top.push_back({id, json_float(row[static_cast<size_t>(id)])});
      rows.push_back({{"position", first + i}, {"token", tokens[static_cast<size_t>(first + i)]}, {"top_k", top}});
    }
    j["positions"] = rows;
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
}

CommandRegistrar registrar(20, [](CLI::App& app) {
  auto opt = std::make_shared<LogitsOptions>();
  CLI::App* cmd = app.add_subcommand("logits", "Run a prompt through a model (optionally under a layer plan) and print or save its logits");
  cmd->add_option("--model,-m", opt->model, "Model file (GGUF, safetensors directory or llama2.c checkpoint)")->required();
  auto* tokens = cmd->add_option("--tokens", opt->tokens, "Comma-separated token ids (BOS included if wanted)");
  auto* prompt = cmd->add_option("--prompt,-p", opt->prompt, "Text, tokenized with the model's vocabulary (BOS added as it asks)");
  tokens->excludes(prompt);
  cmd->add_flag("--all-positions", opt->all_positions, "Logits of every prompt position, not only the last");
  cmd->add_option("-o,--output", opt->out, "Write the logits as little-endian float32 (n_positions x n_vocab) to this file");
  cmd->add_flag("--json", opt->json, "Print the top-k logits as JSON (the default when -o is not given)");
  cmd->add_option("--top-k", opt->top_k, "Entries per position in the JSON output")->check(CLI::Range(1, 1 << 20));
  opt->plan.add_to(cmd);
  cmd->add_option("--threads,-t", opt->threads, "Threads (default: one per hardware thread)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--experts-per-token", opt->experts_per_token,
                  "MoE models: experts run per token, 1..expert_count (default: the model's expert_used_count)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--exact", opt->exact, "F32 activations (reproduces llama.cpp on exactly dequantized F32 weights)");
  cmd->callback([opt, tokens, prompt] {
    if (tokens->count() == 0 && prompt->count() == 0) throw Error("logits: give --tokens or --prompt");
    run_logits(*opt);
  });
});

}  // namespace
}  // namespace layerlab::cli
