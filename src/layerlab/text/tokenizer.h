// Text <-> token ids for a model, reproducing llama.cpp's llama_tokenize / llama_token_to_piece /
// llama_detokenize for the SentencePiece ("llama") and byte-level BPE ("gpt2") vocabularies.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "layerlab/io/metadata.h"
#include "layerlab/io/model_file.h"
#include "layerlab/text/pretokenize.h"
#include "layerlab/text/vocab.h"

namespace layerlab {

class Tokenizer {
 public:
  // Throws Error if the metadata holds no usable tokenizer.
  explicit Tokenizer(const Metadata& metadata);
  static Tokenizer from_model(const ModelFile& model) { return Tokenizer(model.metadata); }

  // add_special: add BOS/EOS as the vocabulary asks (tokenizer.ggml.add_bos_token/...).
  // parse_special: text equal to a CONTROL/UNKNOWN token becomes that token; USER_DEFINED
  // tokens are always split out of the text.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes of one token. CONTROL/UNKNOWN tokens give "" unless `special`; up to `lstrip`
  // leading spaces are dropped. Throws Error for an id outside the vocabulary.
  std::string token_to_piece(int32_t id, bool special = false, int lstrip = 0) const;

  // Concatenated pieces as llama_detokenize makes them: the space added by the SPM space prefix
  // is dropped from the first token, remove_special drops a leading BOS / trailing EOS the
  // vocabulary adds, and BPE vocabularies with clean_spaces undo " ," " ." " 's" etc.
  std::string decode(std::span<const int32_t> tokens, bool remove_special = false,
                     bool unparse_special = false) const;

  const Vocab& vocab() const { return vocab_; }

 private:
  struct Fragment {
    int32_t token;       // kNoToken for raw text
    size_t offset, len;  // raw text range
  };
  std::vector<Fragment> partition(std::string_view text, bool parse_special) const;

  Vocab vocab_;
  std::unique_ptr<RegexSplitter> splitter_;  // BPE only
};

}  // namespace layerlab
