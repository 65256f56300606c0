// Importing Karpathy's llama2.c checkpoints (the legacy v0 export, which has no magic number):
// a header of 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
// a negative vocab_size means a separate classifier is stored), then float32 arrays with all
// layers of one kind stacked. The result is a canonical llama model whose tensors view the
// file in place (each layer's slice of a stacked array is contiguous).
#pragma once

#include <cstdint>
#include <string>

#include "layerlab/io/metadata.h"
#include "layerlab/io/model_file.h"

namespace layerlab {

struct Llama2cHeader {
  int32_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
  bool shared_classifier() const { return vocab_size > 0; }
};
inline constexpr uint64_t kLlama2cHeaderBytes = 28;

// The float32 count the header implies (weights, freq_cis tables, optional classifier), or
// throws FormatError(path, ...) for an inconsistent header.
uint64_t llama2c_expected_floats(const Llama2cHeader& h, const std::string& path);

// True if the file's header is plausible and its size matches exactly what the header implies.
bool looks_like_llama2c(const std::string& path);

struct Llama2cOptions {
  // tokenizer.* keys are copied from this metadata (e.g. a GGUF's) when given...
  const Metadata* vocab_from = nullptr;
  // ...otherwise read from a llama2.c tokenizer.bin when this is not empty.
  std::string tokenizer_bin;
};

ModelFile import_llama2c(const std::string& path, const Llama2cOptions& options = {});

// tokenizer.* metadata from a llama2.c tokenizer.bin for a vocabulary of n_vocab tokens.
Metadata read_llama2c_tokenizer(const std::string& path, int64_t n_vocab);

}  // namespace layerlab
