#include "layerlab/text/tokenizer.h"

#include <cctype>

#include "layerlab/io/error.h"
#include "layerlab/text/bpe_tokenizer.h"
#include "layerlab/text/byte_encoding.h"
#include "layerlab/text/spm_tokenizer.h"
#include "layerlab/text/utf8.h"

namespace layerlab {

Tokenizer::Tokenizer(const Metadata& metadata) : vocab_(Vocab::from_metadata(metadata)) {
  if (vocab_.type() == VocabType::BPE)
    splitter_ = std::make_unique<RegexSplitter>(pre_tokenizer_regexes(vocab_.pre_type()));
}

// Splits special tokens out of the text, longest token first; each occurrence in a remaining
// raw fragment becomes a token fragment. LSTRIP/RSTRIP tokens eat the whitespace next to them.
std::vector<Tokenizer::Fragment> Tokenizer::partition(std::string_view text,
                                                      bool parse_special) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({kNoToken, 0, text.size()});
  for (int32_t id : vocab_.special_tokens()) {
    const TokenData& td = vocab_.token(id);
    if (!parse_special && (td.attr & (kAttrControl | kAttrUnknown))) continue;
    const std::string_view tok = td.text;
    if (tok.empty()) continue;
    std::vector<Fragment> next;
    next.reserve(frags.size());
    for (const Fragment& f : frags) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      size_t base = f.offset, len = f.len;
      while (true) {
        const size_t match = text.substr(0, base + len).find(tok, base);
        if (match == std::string_view::npos) {
          if (len > 0) next.push_back({kNoToken, base, len});
          break;
        }
        if (match > base) {
          size_t left_len = match - base;
          if (td.attr & kAttrLstrip)
            while (left_len > 0 && std::isspace(static_cast<unsigned char>(text[base + left_len - 1])))
              --left_len;
          if (left_len > 0) next.push_back({kNoToken, base, left_len});
        }
        next.push_back({id, 0, 0});
        size_t right_off = match + tok.size();
        size_t right_len = base + len - right_off;
        if (td.attr & kAttrRstrip)
          while (right_len > 0 && std::isspace(static_cast<unsigned char>(text[right_off]))) {
            ++right_off;
            --right_len;
          }
        base = right_off;
        len = right_len;
        if (len == 0) break;
      }
    }
    frags = std::move(next);
  }
  return frags;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  std::vector<int32_t> out;
  const std::vector<Fragment> frags = partition(text, parse_special);
  if (vocab_.type() == VocabType::SPM) {
    if (add_special && vocab_.add_bos()) out.push_back(vocab_.bos());
    bool prev_special = true;  // the first fragment gets the space prefix too
    for (const Fragment& f : frags) {
      if (f.token != kNoToken) {
        out.push_back(f.token);
        prev_special = true;
        continue;
      }
      std::string raw;
      if (vocab_.add_space_prefix() && prev_special) raw = " ";
      raw.append(text.substr(f.offset, f.len));
      spm_tokenize(vocab_, escape_spm_whitespace(raw), out);
      prev_special = false;
    }
    if (add_special && vocab_.add_eos()) out.push_back(vocab_.eos());
  } else {
    if (add_special && vocab_.add_bos()) out.push_back(vocab_.bos());
    for (const Fragment& f : frags) {
      if (f.token != kNoToken)
        out.push_back(f.token);
      else
        bpe_tokenize(vocab_, *splitter_, text.substr(f.offset, f.len), out);
    }
    if (add_special && vocab_.add_eos()) out.push_back(vocab_.eos());
  }
  return out;
}

namespace {

// Undoes the GPT-2 byte stand-ins; a character that is not one is kept visibly, as
// llama.cpp's llama_decode_text does.
std::string decode_bpe_text(std::string_view text) {
  std::string out;
  for (uint32_t cpt : utf8_to_codepoints(text)) {
    if (auto b = unicode_to_byte(cpt)) {
      out += static_cast<char>(*b);
    } else {
      std::string utf8;
      append_utf8(utf8, cpt);
      out += "[UNK_BYTE_0x";
      static const char* hex = "0123456789abcdef";
      for (unsigned char c : utf8) {
        out += hex[c >> 4];
        out += hex[c & 15];
      }
      out += text;
      out += ']';
    }
  }
  return out;
}

}  // namespace

std::string Tokenizer::token_to_piece(int32_t id, bool special, int lstrip) const {
  if (!vocab_.valid(id)) throw Error("tokenizer: token id " + std::to_string(id) + " is outside the vocabulary");
  const TokenData& td = vocab_.token(id);
  const uint32_t attr = td.attr;
  if (!special && (attr & (kAttrUnknown | kAttrControl))) return {};
  std::string piece;
  if (attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) {
    piece = td.text;
  } else if (attr & kAttrNormal) {
    piece = vocab_.type() == VocabType::SPM ? unescape_spm_whitespace(td.text) : decode_bpe_text(td.text);
  } else if ((attr & kAttrByte) && vocab_.type() == VocabType::SPM) {
    piece = std::string(1, static_cast<char>(vocab_.token_to_byte(id)));
  }
  size_t skip = 0;
  while (static_cast<int>(skip) < lstrip && skip < piece.size() && piece[skip] == ' ') ++skip;
  return piece.substr(skip);
}

std::string Tokenizer::decode(std::span<const int32_t> tokens, bool remove_special,
                              bool unparse_special) const {
  bool remove_space = vocab_.add_space_prefix();
  if (remove_special && vocab_.add_bos() && !tokens.empty() && tokens.front() == vocab_.bos()) {
    remove_space = false;
    tokens = tokens.subspan(1);
  }
  if (remove_special && vocab_.add_eos() && !tokens.empty() && tokens.back() == vocab_.eos())
    tokens = tokens.first(tokens.size() - 1);

  std::string text;
  for (int32_t id : tokens) {
    text += token_to_piece(id, unparse_special, remove_space ? 1 : 0);
    remove_space = false;
  }
  if (!vocab_.clean_spaces() || text.empty()) return text;

  // Three passes, as llama_detokenize: " ?", " !", " .", " ," lose the space; " ' " loses
  // both; " 's", " 'm", " 're", " 've" lose the space.
  std::string s1(1, text[0]);
  for (size_t i = 1; i < text.size(); ++i) {
    const char x = text[i];
    if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) s1.pop_back();
    s1 += x;
  }
  std::string s2(1, s1[0]);
  for (size_t i = 1; i < s1.size(); ++i) {
    const char x = s1[i];
    if (x == '\'' && i + 1 < s1.size() && s1[i - 1] == ' ' && s1[i + 1] == ' ') {
      s2.pop_back();
      s1[++i] = '\0';  // the following space is skipped
    }
    s2 += x;
  }
  std::string s3(1, s2[0]);
  for (size_t i = 1; i < s2.size(); ++i) {
    const char x = s2[i];
    if (s2[i - 1] == ' ' && x == '\'' && i + 1 < s2.size()) {
      const char x1 = s2[i + 1];
      if (x1 == 's' || x1 == 'm') {
        s3.pop_back();
      } else if (i + 2 < s2.size()) {
        const char x2 = s2[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) s3.pop_back();
      }
    }
    s3 += x;
  }
  return s3;
}

}  // namespace layerlab
