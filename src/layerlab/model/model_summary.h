// A description of a model file for `inspect`: parameter and byte counts per decoder layer
// and for the tensors outside the layers, weight types, tokenizer facts and the relative
// depth of every layer.
//
// The generic part (tensors, types, sizes, tokenizer) comes from the file alone, so a file
// of an architecture layerlab cannot run is still described; the layer kinds and
// hyperparameters come from read_model_config when it succeeds.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layerlab/io/model_file.h"
#include "layerlab/model/config.h"

namespace layerlab {

// Totals over a group of tensors.
struct TensorGroupStats {
  int64_t n_params = 0;
  uint64_t n_bytes = 0;
  int n_tensors = 0;
  std::map<std::string, int> type_counts;  // ggml type name -> tensors of that type

  void add(const TensorInfo& t);
};

struct LayerSummary {
  int index = 0;
  bool executed = true;       // false for MTP/NextN blocks past n_layer, never run
  double depth_pct = 0.0;     // 100 * i / n_layer: where the layer starts
  double mid_depth_pct = 0.0; // 100 * (i + 0.5) / n_layer: the middle of the layer
  std::optional<MixerKind> mixer;  // known only with a config
  std::optional<FfnKind> ffn;
  TensorGroupStats stats;
};

struct SpecialToken {
  std::string role;  // "bos", "eos", "eot", "unk", "pad", ...
  int64_t id = 0;
  std::optional<std::string> text;  // absent when the id is outside the vocabulary
};

struct TokenizerSummary {
  bool present = false;        // tokenizer.ggml.model or tokens exist
  std::string model;           // tokenizer.ggml.model ("" if absent)
  std::string pre;             // tokenizer.ggml.pre ("" if absent)
  int64_t n_tokens = 0;        // length of tokenizer.ggml.tokens
  std::optional<bool> add_bos, add_eos;
  std::vector<SpecialToken> special_tokens;  // in a fixed role order
  bool has_chat_template = false;
  std::string chat_template_family;          // "chatml", "llama3", ... or "unknown"; "" if none
  std::vector<std::string> named_chat_templates;  // names of tokenizer.chat_template.<name>
};

struct ModelSummary {
  std::vector<std::string> paths;
  FileFormat format = FileFormat::GGUF;
  uint32_t gguf_version = 0;
  uint32_t alignment = 0;
  uint64_t file_bytes = 0;
  size_t n_metadata = 0;
  std::string arch_name;   // general.architecture, "" if absent
  std::string model_name;  // general.name, "" if absent

  std::optional<ModelConfig> config;
  std::string config_error;  // why config is absent (unknown architecture, bad hparams)

  int n_depth = 0;  // the divisor of the depth table: n_layer, or the block count without config
  std::vector<LayerSummary> layers;  // one per blk.N index, 0 .. max N (and n_layer_all)
  TensorGroupStats embedding;        // token_embd.*
  TensorGroupStats output;           // output.* (empty when tied)
  TensorGroupStats output_norm;      // output_norm.*
  TensorGroupStats other;            // anything else outside blk.N
  TensorGroupStats total;            // every tensor
  bool tied_embeddings = false;      // no output.weight
  TokenizerSummary tokenizer;
};

ModelSummary summarize_model(const ModelFile& file);

std::string_view file_format_name(FileFormat format);  // "gguf", "safetensors", "llama2c"
// The family of a chat template by marker substrings; "unknown" if none matches.
std::string chat_template_family(const std::string& tmpl);

struct SummaryJsonOptions {
  bool tensors = false;   // add "tensors": every tensor with type, shape, elements, bytes
  bool metadata = false;  // add "metadata": every key with its type and value
};
// The stable JSON form documented in docs/inspect.md (objects have sorted keys).
nlohmann::json summary_to_json(const ModelSummary& summary, const ModelFile& file,
                               const SummaryJsonOptions& options = {});

}  // namespace layerlab
