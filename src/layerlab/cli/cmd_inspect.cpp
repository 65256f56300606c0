// `layerlab inspect MODEL`: what a model file holds, as a readable table, one summary line
// or stable JSON (schema in docs/inspect.md).
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "layerlab/cli/commands.h"
#include "layerlab/io/model_loader.h"
#include "layerlab/model/model_summary.h"

namespace layerlab::cli {
namespace {

struct InspectOptions {
  std::string model;
  bool json = false;
  bool summary = false;
  bool tensors = false;
  bool metadata = false;
};

// 4980992 -> "4,980,992"
std::string grouped(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t k = 0; k < digits.size(); ++k) {
    if (k && (digits.size() - k) % 3 == 0) out += ',';
    out += digits[k];
  }
  return out;
}

std::string human_count(int64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f} B", n / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f} M", n / 1e6);
  if (n >= 1'000) return fmt::format("{:.2f} K", n / 1e3);
  return std::to_string(n);
}

std::string human_bytes(uint64_t n) {
  if (n >= (uint64_t{1} << 30)) return fmt::format("{:.2f} GiB", n / double(1 << 30));
  if (n >= (uint64_t{1} << 20)) return fmt::format("{:.2f} MiB", n / double(1 << 20));
  if (n >= (uint64_t{1} << 10)) return fmt::format("{:.2f} KiB", n / double(1 << 10));
  return fmt::format("{} B", n);
}

// "F16 7, F32 2"
std::string type_list(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [name, n] : counts) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", name, n);
  return out.empty() ? "-" : out;
}

// Token texts may hold newlines or control bytes; show them escaped on one line.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '"' || c == '\\') { out += '\\'; out += static_cast<char>(c); }
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

// Names read from the file go on one table line: control characters are escaped.
std::string one_line(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

std::string layer_kind_counts(const ModelSummary& s) {
  int attn = 0, linear = 0, moe = 0;
  for (const auto& l : s.layers) {
    if (!l.executed) continue;
    if (l.mixer == MixerKind::kAttention) ++attn;
    if (l.mixer == MixerKind::kLinearAttention) ++linear;
    if (l.ffn == FfnKind::kMoe) ++moe;
  }
  std::string out = fmt::format("{} attention", attn);
  if (linear) out += fmt::format(", {} linear_attention", linear);
  if (moe) out += fmt::format(", {} MoE", moe);
  return out;
}

std::string file_name(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string summary_line(const ModelSummary& s, const std::string& model_path) {
  std::string arch = s.arch_name.empty() ? "?" : one_line(s.arch_name);
  std::string layers = s.config ? fmt::format("{} layers ({})", s.config->n_layer, layer_kind_counts(s))
                                 : fmt::format("{} blocks (no config: {})", s.n_depth, one_line(s.config_error));
  std::string vocab = s.tokenizer.present
                          ? fmt::format("vocab {} ({})", s.tokenizer.n_tokens,
                                        s.tokenizer.model.empty() ? "?" : one_line(s.tokenizer.model))
                          : "no tokenizer";
  return fmt::format("{}: {}, {}, {} params, {}, {}, {}", file_name(model_path), arch, layers,
                     human_count(s.total.n_params), human_bytes(s.total.n_bytes),
                     type_list(s.total.type_counts), vocab);
}

void print_hparams(const ModelConfig& c) {
  fmt::print("hyperparameters\n");
  fmt::print("  n_embd {}, n_layer {} (blocks {}), n_vocab {}, n_ctx_train {}\n", c.n_embd,
             c.n_layer, c.n_layer_all, c.n_vocab, c.n_ctx_train);
  fmt::print("  n_head {}, n_head_kv {}, head_dim k {} / v {}, n_ff {}, rms_eps {}\n", c.n_head,
             c.n_head_kv, c.head_dim_k, c.head_dim_v, c.n_ff, c.rms_eps);
  fmt::print("  rope {}, n_rot {}, freq_base {}, freq_scale {} ({})", rope_type_name(c.rope_type),
             c.n_rot, c.rope_freq_base, c.rope_freq_scale, rope_scaling_name(c.rope_scaling));
  if (c.rope_sections != std::array<int, 4>{0, 0, 0, 0})
    fmt::print(", sections [{}, {}, {}, {}]", c.rope_sections[0], c.rope_sections[1],
               c.rope_sections[2], c.rope_sections[3]);
  fmt::print("\n");
  if (c.n_expert > 0)
    fmt::print("  experts {}, used {}, n_ff_expert {}, n_ff_shared_expert {}\n", c.n_expert,
               c.n_expert_used, c.n_ff_expert, c.n_ff_shared_expert);
  if (c.ssm_state_size > 0)
    fmt::print("  ssm conv_kernel {}, state_size {}, group_count {}, time_step_rank {}, "
               "inner_size {}, full_attention_interval {}\n",
               c.ssm_conv_kernel, c.ssm_state_size, c.ssm_group_count, c.ssm_time_step_rank,
               c.ssm_inner_size, c.full_attention_interval);
  fmt::print("  embeddings {}\n", c.tied_embeddings ? "tied (output uses token_embd)" : "separate output");
}

void print_layer_rows(const ModelSummary& s) {
  fmt::print("\nlayers (depth% = 100*i/{0}, mid% = 100*(i+0.5)/{0})\n", s.n_depth);
  fmt::print("  {:>5}  {:>6}  {:>6}  {:<16}  {:<5}  {:>12}  {:>13}  {}\n", "layer", "depth%",
             "mid%", "mixer", "ffn", "params", "bytes", "types");
  for (const auto& l : s.layers) {
    std::string depth = l.executed ? fmt::format("{:.2f}", l.depth_pct) : "-";
    std::string mid = l.executed ? fmt::format("{:.2f}", l.mid_depth_pct) : "-";
    std::string mixer = l.mixer ? std::string(mixer_kind_name(*l.mixer)) : (l.executed ? "?" : "mtp (not run)");
    std::string ffn = l.ffn ? std::string(ffn_kind_name(*l.ffn)) : "?";
    fmt::print("  {:>5}  {:>6}  {:>6}  {:<16}  {:<5}  {:>12}  {:>13}  {}\n", l.index, depth, mid,
               mixer, ffn, grouped(l.stats.n_params), grouped(l.stats.n_bytes),
               type_list(l.stats.type_counts));
  }
}

void print_layers(const ModelSummary& s) {
  if (s.layers.empty()) {
    fmt::print("layers          none\n");
  } else {
    print_layer_rows(s);
  }
  fmt::print("\nnon-layer tensors\n");
  auto row = [](const char* name, const TensorGroupStats& g) {
    fmt::print("  {:<11}  {:>12}  {:>13}  {}\n", name, grouped(g.n_params), grouped(g.n_bytes),
               type_list(g.type_counts));
  };
  row("embedding", s.embedding);
  row("output", s.output);
  row("output_norm", s.output_norm);
  row("other", s.other);
}

void print_tokenizer(const TokenizerSummary& t) {
  if (!t.present) {
    fmt::print("tokenizer       none\n");
    return;
  }
  auto flag = [](const std::optional<bool>& b) { return b ? (*b ? "yes" : "no") : "default"; };
  fmt::print("tokenizer       model {}, pre {}, {} tokens, add_bos {}, add_eos {}\n",
             t.model.empty() ? "-" : one_line(t.model), t.pre.empty() ? "-" : one_line(t.pre), t.n_tokens,
             flag(t.add_bos), flag(t.add_eos));
  std::string specials;
  for (const auto& sp : t.special_tokens)
    specials += fmt::format("{}{} {} {}", specials.empty() ? "" : ", ", sp.role, sp.id,
                            sp.text ? quoted(*sp.text) : "(outside vocabulary)");
  fmt::print("special tokens  {}\n", specials.empty() ? "none" : specials);
  std::string tmpl = t.has_chat_template ? fmt::format("yes ({})", t.chat_template_family) : "no";
  for (const auto& name : t.named_chat_templates) tmpl += ", named " + quoted(name);
  fmt::print("chat template   {}\n", tmpl);
}

void print_table(const ModelSummary& s, const ModelFile& file, const InspectOptions& opt) {
  for (const auto& path : s.paths) fmt::print("file            {}\n", path);
  std::string format = s.format == FileFormat::GGUF
                           ? fmt::format("GGUF v{} (alignment {})", s.gguf_version, s.alignment)
                           : std::string(file_format_name(s.format));
  fmt::print("format          {}, {} tensors, {} metadata keys, {} bytes on disk\n", format,
             s.total.n_tensors, s.n_metadata, grouped(s.file_bytes));
  fmt::print("architecture    {}", s.arch_name.empty() ? "(none)" : one_line(s.arch_name));
  if (s.config) fmt::print(" ({})", arch_display_name(s.config->arch));
  fmt::print("\n");
  if (!s.model_name.empty()) fmt::print("name            {}\n", one_line(s.model_name));
  if (s.config) print_hparams(*s.config);
  else fmt::print("config          not available: {}\n", one_line(s.config_error));
  print_layers(s);

  int64_t layer_params = 0;
  uint64_t layer_bytes = 0;
  for (const auto& l : s.layers) {
    layer_params += l.stats.n_params;
    layer_bytes += l.stats.n_bytes;
  }
  fmt::print("\ntotals\n");
  fmt::print("  parameters    {} ({}): layers {}, non-layer {}\n", grouped(s.total.n_params),
             human_count(s.total.n_params), grouped(layer_params),
             grouped(s.total.n_params - layer_params));
  fmt::print("  bytes         {} ({}): layers {}, non-layer {}\n", grouped(s.total.n_bytes),
             human_bytes(s.total.n_bytes), grouped(layer_bytes),
             grouped(s.total.n_bytes - layer_bytes));
  fmt::print("weight types    {}\n", type_list(s.total.type_counts));
  print_tokenizer(s.tokenizer);

  if (opt.tensors) {
    fmt::print("\ntensors\n");
    for (const auto& t : file.tensors)
      fmt::print("  {:<40}  {:<6}  {:<22}  {:>12}  {:>13}\n", one_line(t.name), ggml_type_name(t.type),
                 t.shape_string(), grouped(t.n_elements()), grouped(t.n_bytes()));
  }
  if (opt.metadata) {
    fmt::print("\nmetadata\n");
    for (const auto& [key, value] : file.metadata.items())
      fmt::print("  {:<48}  {:<6}  {}\n", one_line(key), value_type_name(value.type), value.to_display());
  }
}

void run_inspect(const InspectOptions& opt) {
  ModelFile file = load_model(opt.model);
  ModelSummary s = summarize_model(file);
  if (opt.json) {
    SummaryJsonOptions jo{opt.tensors, opt.metadata};
    // Strings from the file need not be UTF-8; invalid bytes become U+FFFD instead of failing.
    fmt::print("{}\n", summary_to_json(s, file, jo)
                           .dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
  } else if (opt.summary) {
    fmt::print("{}\n", summary_line(s, opt.model));
  } else {
    print_table(s, file, opt);
  }
  std::fflush(stdout);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto opt = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Describe a model: hyperparameters, layers, parameter counts, types, tokenizer");
  cmd->add_option("MODEL", opt->model,
                  "GGUF file (or split part), safetensors checkpoint directory, llama2.c checkpoint")
      ->required();
  auto* json = cmd->add_flag("--json", opt->json, "Print stable JSON (see docs/inspect.md)");
  auto* summary = cmd->add_flag("--summary", opt->summary, "Print one line per model");
  json->excludes(summary);
  cmd->add_flag("--tensors", opt->tensors, "Also list every tensor (name, type, shape, bytes)");
  cmd->add_flag("--metadata", opt->metadata, "Also list every metadata key and value");
  cmd->callback([opt] { run_inspect(*opt); });
}

}  // namespace layerlab::cli
