// A tokenizer vocabulary built from GGUF `tokenizer.*` metadata the way llama.cpp's
// llama_vocab::load builds it: token texts, scores and attributes, BPE merge ranks, special
// ids, the add_bos/add_eos/add_space_prefix flags with their per-model defaults, and the list
// of special tokens that are split out of raw text before tokenizing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "layerlab/io/metadata.h"
#include "layerlab/text/vocab_tables.h"

namespace layerlab {

enum class VocabType { SPM, BPE };  // tokenizer.ggml.model "llama" / "gpt2"

// Pre-tokenizers (tokenizer.ggml.pre) that differ in their regexes; several names share one.
enum class PreTokenizerType { DEFAULT, LLAMA3, GPT2, FALCON, STARCODER, QWEN2, QWEN35 };

// Token attributes (llama_token_attr bits). Types from tokenizer.ggml.token_type map to one bit;
// LSTRIP/RSTRIP are added by model-name rules.
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrNormalized = 1u << 6,
  kAttrLstrip = 1u << 7,
  kAttrRstrip = 1u << 8,
};

struct TokenData {
  std::string_view text;  // into the vocabulary's own copy of the texts
  float score = 0.0f;
  uint32_t attr = kAttrNormal;
};

constexpr int32_t kNoToken = -1;

class Vocab {
 public:
  // Throws Error when the keys are missing, have the wrong types or name an unsupported
  // tokenizer or pre-tokenizer.
  static Vocab from_metadata(const Metadata& metadata);

  VocabType type() const { return type_; }
  PreTokenizerType pre_type() const { return pre_type_; }
  const std::string& pre_name() const { return pre_name_; }
  size_t size() const { return tokens_.size(); }
  const TokenData& token(int32_t id) const { return tokens_.at(static_cast<size_t>(id)); }
  bool valid(int32_t id) const { return id >= 0 && static_cast<size_t>(id) < tokens_.size(); }

  // Id of the token with exactly this text, or kNoToken.
  int32_t find(std::string_view text) const;
  // Rank of the BPE merge "left right", or -1.
  int32_t merge_rank(std::string_view left, std::string_view right) const;
  // The token for one raw byte: "<0xAB>" for SPM (falling back to the byte itself as text),
  // the GPT-2 stand-in character for BPE. Throws Error if the vocabulary has neither.
  int32_t byte_to_token(uint8_t byte) const;
  // The byte of a BYTE token "<0xAB>".
  uint8_t token_to_byte(int32_t id) const;

  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  int32_t eot() const { return eot_; }
  int32_t unk() const { return unk_; }
  int32_t pad() const { return pad_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }
  bool clean_spaces() const { return clean_spaces_; }
  bool ignore_merges() const { return ignore_merges_; }

  // Tokens with CONTROL, USER_DEFINED or UNKNOWN attributes, longest text first.
  const std::vector<int32_t>& special_tokens() const { return special_tokens_; }

 private:
  void load_tokens(const Metadata& md);
  void load_merges(const Metadata& md);
  void load_special_ids(const Metadata& md);
  void detect_special_by_text();
  void build_special_list();
  void apply_name_rules(const Metadata& md);

  VocabType type_ = VocabType::SPM;
  PreTokenizerType pre_type_ = PreTokenizerType::DEFAULT;
  std::string pre_name_;
  // All token texts back to back; shared, never changed, so copies of a Vocab keep their
  // TokenData::text views valid.
  std::shared_ptr<const std::string> texts_;
  std::vector<TokenData> tokens_;
  TokenTextIndex token_index_;
  // A merge "left right" splits at its first space after the first byte (so the left side
  // never holds a space past its first byte). Merges of two tokens are keyed by their ids;
  // the rare merge with a side that is no token keeps its whole text as the key.
  MergeRankTable merge_ranks_;
  std::unordered_map<std::string, int32_t, TransparentStringHash, std::equal_to<>> text_merges_;

  int32_t bos_ = kNoToken, eos_ = kNoToken, eot_ = kNoToken, eom_ = kNoToken, unk_ = kNoToken;
  int32_t sep_ = kNoToken, pad_ = kNoToken, mask_ = kNoToken;
  int32_t fim_pre_ = kNoToken, fim_suf_ = kNoToken, fim_mid_ = kNoToken;
  int32_t fim_pad_ = kNoToken, fim_rep_ = kNoToken, fim_sep_ = kNoToken;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false;
  bool remove_extra_whitespaces_ = false, clean_spaces_ = false, ignore_merges_ = false;
  std::vector<int32_t> special_tokens_;
};

}  // namespace layerlab
