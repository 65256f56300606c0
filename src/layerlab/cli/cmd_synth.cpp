// `layerlab synth`: writes a random-weight GGUF shaped exactly like a named real model (or
// like given dimensions), for benchmarks and tests without downloaded weights.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "layerlab/cli/commands.h"
#include "layerlab/io/error.h"
#include "layerlab/io/ggml_type.h"
#include "layerlab/model/synth.h"

namespace layerlab::cli {
namespace {

struct SynthOptions {
  std::string like;
  std::string dims;
  std::string arch;
  int layers = 0;
  std::string type = "F16";
  std::string output;
  uint64_t seed = 0;
  bool dry_run = false;
};

void run_synth(const SynthOptions& opt) {
  if (opt.like.empty() == opt.dims.empty()) throw Error("synth: give exactly one of --like and --dims");
  SynthShape shape;
  if (!opt.like.empty()) {
    const SynthShape* known = find_synth_shape(opt.like);
    if (!known) {
      std::string names;
      for (const auto& n : synth_shape_names()) names += (names.empty() ? "" : ", ") + n;
      throw Error(fmt::format("synth: unknown model '{}' (known: {})", opt.like, names));
    }
    shape = *known;
    if (!opt.arch.empty() && opt.arch != shape.arch)
      throw Error(fmt::format("synth: {} is a {} model; --arch {} does not apply", opt.like,
                              shape.arch, opt.arch));
  } else {
    shape = parse_synth_dims(opt.dims, opt.arch.empty() ? "llama" : opt.arch);
  }
  if (opt.layers < 0) throw Error("synth: --layers must be positive");
  if (opt.layers > 0) shape.n_layer = opt.layers;

  const auto info = ggml_type_by_name(opt.type);
  if (!info || !is_synth_weight_type(info->type))
    throw Error(fmt::format("synth: --type {} is not one of F32, F16, BF16, Q8_0, Q4_0, Q4_1, "
                            "Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K", opt.type));
  if (opt.dry_run) {
    // The tensor list only: checks the shapes of a model too large to write casually.
    const std::vector<SynthTensor> tensors = synth_tensors(shape, info->type);
    for (const auto& t : tensors) {
      std::string ne;
      for (int64_t d : t.ne) ne += (ne.empty() ? "" : ", ") + std::to_string(d);
      std::printf("%-36s %-6s {%s}\n", t.name.c_str(), std::string(ggml_type_name(t.type)).c_str(),
                  ne.c_str());
    }
    std::printf("%zu tensors, %llu bytes of tensor data\n", tensors.size(),
                static_cast<unsigned long long>(synth_tensor_bytes(tensors)));
    return;
  }
  if (opt.output.empty()) throw Error("synth: give -o/--output (or --dry-run)");
  write_synth_model(shape, info->type, opt.seed, opt.output);
  std::fprintf(stderr, "wrote %s: %s (%s, %d layers, %s)\n", opt.output.c_str(), shape.name.c_str(),
               shape.arch.c_str(), shape.n_layer, std::string(info->name).c_str());
}

}  // namespace

static CommandRegistrar reg(90, [](CLI::App& app) {
  auto opt = std::make_shared<SynthOptions>();
  CLI::App* cmd = app.add_subcommand(
      "synth", "Write a random-weight GGUF with the exact shapes and metadata of a real model");
  auto* like = cmd->add_option("--like", opt->like,
                               "Model to imitate: qwen2.5-0.5b, qwen2.5-1.5b, qwen3-0.6b, "
                               "llama-3.2-1b, smollm2-135m, smollm2-360m, qwen3-30b-a3b, "
                               "qwen3.5-0.8b");
  auto* dims = cmd->add_option("--dims", opt->dims,
                               "n_embd=..,n_layer=..,n_head=..,n_head_kv=..,n_ff=..,n_vocab=.."
                               "[,head_dim=..,n_ctx=..,tied=0|1,rope_base=..,eps=..]; qwen3moe adds "
                               "n_expert,n_expert_used,n_ff_expert; qwen35 adds ssm_state_size,"
                               "ssm_group_count,ssm_time_step_rank[,ssm_conv_kernel,"
                               "full_attention_interval,n_rot,rope_sections=a:b:c:d]");
  like->excludes(dims);
  cmd->add_option("--arch", opt->arch,
                  "Architecture for --dims: llama (default), qwen2, qwen3, qwen3moe, qwen35");
  cmd->add_option("--layers", opt->layers,
                  "Number of decoder layers to write (default: all; qwen35: at least the "
                  "full-attention interval)");
  cmd->add_option("--type", opt->type, "Type of the 2-D weights (norms stay F32)")->required();
  cmd->add_option("-o,--output", opt->output, "Output GGUF file");
  cmd->add_option("--seed", opt->seed, "Random seed (default 0)");
  cmd->add_flag("--dry-run", opt->dry_run,
                "Print the tensor list (name, type, shape) and data size instead of writing");
  cmd->callback([opt] { run_synth(*opt); });
});

}  // namespace layerlab::cli
