#include "layerlab/text/vocab.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>

#include "layerlab/io/error.h"
#include "layerlab/text/byte_encoding.h"

namespace layerlab {

namespace {

const Value& require_array(const Metadata& md, std::string_view key, ValueType elem) {
  const Value* v = md.find(key);
  if (!v) throw Error("tokenizer: metadata key " + std::string(key) + " is missing");
  if (!v->is_array() || v->elem_type != elem)
    throw Error("tokenizer: metadata key " + std::string(key) + " has the wrong type");
  return *v;
}

bool one_of(std::string_view s, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), s) != names.end();
}

uint32_t attr_from_type(int64_t type) {
  switch (type) {
    case 1: return kAttrNormal;
    case 2: return kAttrUnknown;
    case 3: return kAttrControl;
    case 4: return kAttrUserDefined;
    case 5: return kAttrUnused;
    case 6: return kAttrByte;
    default: return kAttrUndefined;
  }
}

}  // namespace

Vocab Vocab::from_metadata(const Metadata& md) {
  Vocab v;
  const std::string model = md.get_string("tokenizer.ggml.model").value_or("");
  v.pre_name_ = md.get_string("tokenizer.ggml.pre").value_or("");
  if (model == "llama") {
    v.type_ = VocabType::SPM;
    v.bos_ = 1;
    v.eos_ = 2;
    v.unk_ = 0;
    v.pre_type_ = PreTokenizerType::DEFAULT;
    v.add_space_prefix_ = true;
    v.clean_spaces_ = false;
    v.add_bos_ = true;
    v.add_eos_ = false;
  } else if (model == "gpt2") {
    v.type_ = VocabType::BPE;
    // llama.cpp's placeholders; real models always store their ids.
    v.bos_ = 11;
    v.eos_ = 11;
    v.add_space_prefix_ = false;
    v.clean_spaces_ = true;
    const std::string& p = v.pre_name_;
    if (p.empty() || p == "default") {
      v.pre_type_ = PreTokenizerType::DEFAULT;
    } else if (one_of(p, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
                          "midm-2.0", "lfm2", "jina-v5-nano"})) {
      v.pre_type_ = PreTokenizerType::LLAMA3;
      v.ignore_merges_ = true;
      v.add_bos_ = true;
    } else if (one_of(p, {"dbrx", "smaug-bpe"})) {
      v.pre_type_ = PreTokenizerType::LLAMA3;  // same regex, no ignore_merges
    } else if (p == "falcon") {
      v.pre_type_ = PreTokenizerType::FALCON;
    } else if (one_of(p, {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es",
                          "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "exaone4", "mpt",
                          "olmo", "jais"})) {
      v.pre_type_ = PreTokenizerType::GPT2;
    } else if (one_of(p, {"trillion", "granite-docling"})) {
      v.pre_type_ = PreTokenizerType::GPT2;
      v.clean_spaces_ = false;
    } else if (one_of(p, {"starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2"})) {
      v.pre_type_ = PreTokenizerType::STARCODER;
    } else if (one_of(p, {"smollm", "command-r"})) {
      v.pre_type_ = PreTokenizerType::STARCODER;
      v.clean_spaces_ = false;
    } else if (one_of(p, {"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan",
                          "solar-open"})) {
      v.pre_type_ = PreTokenizerType::QWEN2;
      v.clean_spaces_ = false;
    } else if (one_of(p, {"megrez", "stablelm2"})) {
      v.pre_type_ = PreTokenizerType::QWEN2;
    } else if (p == "qwen35") {
      v.pre_type_ = PreTokenizerType::QWEN35;
      v.clean_spaces_ = false;
    } else {
      throw Error("tokenizer: unsupported pre-tokenizer type '" + p + "' (tokenizer.ggml.pre)");
    }
  } else if (model.empty()) {
    throw Error("tokenizer: metadata key tokenizer.ggml.model is missing");
  } else {
    throw Error("tokenizer: unsupported tokenizer model '" + model + "' (tokenizer.ggml.model)");
  }
  if (auto b = md.get_bool("tokenizer.ggml.add_space_prefix")) v.add_space_prefix_ = *b;
  if (auto b = md.get_bool("tokenizer.ggml.remove_extra_whitespaces"))
    v.remove_extra_whitespaces_ = *b;

  v.load_tokens(md);
  if (v.type_ == VocabType::BPE) v.load_merges(md);
  v.load_special_ids(md);
  v.detect_special_by_text();
  v.build_special_list();
  v.apply_name_rules(md);
  return v;
}

void Vocab::load_tokens(const Metadata& md) {
  const Value& toks = require_array(md, "tokenizer.ggml.tokens", ValueType::STRING);
  const ValueArray& texts = toks.items;
  const size_t n = texts.size();
  if (n == 0) throw Error("tokenizer: tokenizer.ggml.tokens is empty");
  if (n > static_cast<size_t>(INT32_MAX)) throw Error("tokenizer: too many tokens");

  const Value* scores = md.find("tokenizer.ggml.scores");
  if (scores && (!scores->is_array() ||
                 (scores->elem_type != ValueType::F32 && scores->elem_type != ValueType::I32)))
    throw Error("tokenizer: metadata key tokenizer.ggml.scores has the wrong type");
  if (scores && scores->items.size() < n)
    throw Error("tokenizer: tokenizer.ggml.scores has fewer entries than tokens");
  const Value* types = md.find("tokenizer.ggml.token_type");
  if (types && (!types->is_array() || types->elem_type != ValueType::I32))
    throw Error("tokenizer: metadata key tokenizer.ggml.token_type has the wrong type");
  if (types && types->items.size() < n)
    throw Error("tokenizer: tokenizer.ggml.token_type has fewer entries than tokens");

  // The texts are copied into one block (the metadata may not outlive the vocabulary);
  // an empty text stands in as "[EMPTY_<id>]".
  auto empty_text = [](size_t i) { return "[EMPTY_" + std::to_string(i) + "]"; };
  size_t chars = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t len = texts.string_at(i).size();
    chars += len ? len : empty_text(i).size();
  }
  auto blob = std::make_shared<std::string>();
  blob->reserve(chars);  // exact: the appends below never move the characters
  tokens_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    TokenData& t = tokens_[i];
    const size_t begin = blob->size();
    if (const std::string_view text = texts.string_at(i); text.empty()) blob->append(empty_text(i));
    else blob->append(text);
    t.text = std::string_view(blob->data() + begin, blob->size() - begin);
    if (scores) t.score = static_cast<float>(scores->items.double_at(i).value_or(0.0));
    t.attr = types ? attr_from_type(types->items.int_at(i).value_or(0)) : kAttrNormal;
  }
  texts_ = std::move(blob);
  token_index_.build(n, [&](int32_t id) { return tokens_[static_cast<size_t>(id)].text; });
}

void Vocab::load_merges(const Metadata& md) {
  const Value& merges = require_array(md, "tokenizer.ggml.merges", ValueType::STRING);
  merge_ranks_.reserve(merges.items.size());
  for (size_t i = 0; i < merges.items.size(); ++i) {
    const std::string_view word = merges.items.string_at(i);
    // Split at the first space after the first byte. A merge without one, or with nothing
    // after it, can never match a pair of non-empty symbols (see merge_rank).
    const size_t pos = word.size() > 1 ? word.find(' ', 1) : std::string_view::npos;
    if (pos == std::string_view::npos || pos + 1 == word.size()) continue;
    const int32_t left = find(word.substr(0, pos)), right = find(word.substr(pos + 1));
    if (left != kNoToken && right != kNoToken) merge_ranks_.insert(left, right, static_cast<int32_t>(i));
    else text_merges_.emplace(std::string(word), static_cast<int32_t>(i));  // first rank wins
  }
}

void Vocab::load_special_ids(const Metadata& md) {
  const std::pair<const char*, int32_t*> keys[] = {
      {"tokenizer.ggml.bos_token_id", &bos_},
      {"tokenizer.ggml.eos_token_id", &eos_},
      {"tokenizer.ggml.eot_token_id", &eot_},
      {"tokenizer.ggml.eom_token_id", &eom_},
      {"tokenizer.ggml.unknown_token_id", &unk_},
      {"tokenizer.ggml.seperator_token_id", &sep_},
      {"tokenizer.ggml.padding_token_id", &pad_},
      {"tokenizer.ggml.mask_token_id", &mask_},
      {"tokenizer.ggml.fim_pre_token_id", &fim_pre_},
      {"tokenizer.ggml.fim_suf_token_id", &fim_suf_},
      {"tokenizer.ggml.fim_mid_token_id", &fim_mid_},
      {"tokenizer.ggml.fim_pad_token_id", &fim_pad_},
      {"tokenizer.ggml.fim_rep_token_id", &fim_rep_},
      {"tokenizer.ggml.fim_sep_token_id", &fim_sep_},
      {"tokenizer.ggml.prefix_token_id", &fim_pre_},
      {"tokenizer.ggml.suffix_token_id", &fim_suf_},
      {"tokenizer.ggml.middle_token_id", &fim_mid_},
  };
  for (const auto& [key, id] : keys) {
    if (*id >= 0 && !valid(*id)) *id = kNoToken;  // a default outside the vocabulary
    const auto stored = md.get_int(key);
    if (stored && *stored >= 0 && *stored < static_cast<int64_t>(tokens_.size()))
      *id = static_cast<int32_t>(*stored);
  }
  if (auto b = md.get_bool("tokenizer.ggml.add_bos_token")) add_bos_ = *b;
  if (auto b = md.get_bool("tokenizer.ggml.add_eos_token")) add_eos_ = *b;
  if (add_bos_ && bos_ == kNoToken)
    throw Error("tokenizer: tokenizer.ggml.add_bos_token is true, but there is no BOS token");
  if (add_eos_ && eos_ == kNoToken)
    throw Error("tokenizer: tokenizer.ggml.add_eos_token is true, but there is no EOS token");
}

// Control-looking tokens stored with another type are promoted to CONTROL, as llama.cpp does
// while auto-detecting EOT/EOM/FIM ids and the end-of-generation set. When several texts could
// fill one role, the lowest id is taken.
void Vocab::detect_special_by_text() {
  auto find_first = [&](std::initializer_list<std::string_view> texts) {
    int32_t best = kNoToken;
    for (auto t : texts) {
      const int32_t id = find(t);
      if (id != kNoToken && (best == kNoToken || id < best)) best = id;
    }
    return best;
  };
  auto promote = [&](int32_t id) {
    if (id != kNoToken) tokens_[id].attr |= kAttrControl;
  };
  struct Role {
    int32_t* id;
    std::initializer_list<std::string_view> texts;
  };
  const Role roles[] = {
      {&eot_, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
               "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]",
               "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
               "<end_of_utterance>"}},
      {&eom_, {"<|eom_id|>"}},
      {&fim_pre_, {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "\xE2\x96\x81<PRE>",
                   "<|code_prefix|>", "<|prefix|>"}},
      {&fim_suf_, {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "\xE2\x96\x81<SUF>",
                   "<|code_suffix|>", "<|suffix|>"}},
      {&fim_mid_, {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "\xE2\x96\x81<MID>",
                   "<|code_middle|>", "<|middle|>"}},
      {&fim_pad_, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}},
      {&fim_rep_, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
      {&fim_sep_, {"<|file_sep|>"}},
  };
  for (const Role& r : roles) {
    if (*r.id != kNoToken) continue;
    *r.id = find_first(r.texts);
    promote(*r.id);
  }
  for (std::string_view t :
       {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]",
        "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
        "[e~["}) {
    promote(find(t));
  }
}

void Vocab::build_special_list() {
  special_tokens_.clear();
  for (size_t id = 0; id < tokens_.size(); ++id)
    if (tokens_[id].attr & (kAttrControl | kAttrUserDefined | kAttrUnknown))
      special_tokens_.push_back(static_cast<int32_t>(id));
  // Not a stable sort, on purpose: equal-length tokens end up in the same order as llama.cpp's
  // identical std::sort call leaves them.
  std::sort(special_tokens_.begin(), special_tokens_.end(), [&](int32_t a, int32_t b) {
    return tokens_[a].text.size() > tokens_[b].text.size();
  });
}

void Vocab::apply_name_rules(const Metadata& md) {
  std::string name = md.get_string("general.name").value_or("");
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (int32_t id : special_tokens_) tokens_[id].attr |= kAttrRstrip;
    if (int32_t id = find("</s>"); id != kNoToken) tokens_[id].attr |= kAttrRstrip;
    for (std::string_view t : {"<unk>", "<s>", "<|endoftext|>"})
      if (int32_t id = find(t); id != kNoToken) tokens_[id].attr &= ~kAttrRstrip;
  }
}

int32_t Vocab::find(std::string_view text) const {
  const int32_t id = token_index_.find(text, [&](int32_t i) { return tokens_[static_cast<size_t>(i)].text; });
  return id < 0 ? kNoToken : id;
}

int32_t Vocab::merge_rank(std::string_view left, std::string_view right) const {
  if (left.empty() || right.empty()) return -1;
  if (left.size() > 1 && left.find(' ', 1) != std::string_view::npos) return -1;
  const int32_t l = find(left), r = find(right);
  // Both sides tokens: the merge, if any, was keyed by the ids when loaded.
  if (l != kNoToken && r != kNoToken) return merge_ranks_.find(l, r);
  if (text_merges_.empty()) return -1;
  std::string key;
  key.reserve(left.size() + 1 + right.size());
  key.append(left).append(1, ' ').append(right);
  auto it = text_merges_.find(key);
  return it == text_merges_.end() ? -1 : it->second;
}

int32_t Vocab::byte_to_token(uint8_t byte) const {
  if (type_ == VocabType::SPM) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", static_cast<unsigned>(byte));
    if (int32_t id = find(buf); id != kNoToken) return id;
    const char raw[1] = {static_cast<char>(byte)};
    if (int32_t id = find(std::string_view(raw, 1)); id != kNoToken) return id;
  } else {
    if (int32_t id = find(byte_to_unicode(byte)); id != kNoToken) return id;
  }
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned>(byte));
  throw Error(std::string("tokenizer: the vocabulary has no token for byte ") + hex);
}

uint8_t Vocab::token_to_byte(int32_t id) const {
  const std::string_view text = token(id).text;
  if (text.size() < 5) return 0;
  return static_cast<uint8_t>(std::strtoul(std::string(text.substr(3, 2)).c_str(), nullptr, 16));
}

}  // namespace layerlab
