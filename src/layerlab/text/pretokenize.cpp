#define PCRE2_CODE_UNIT_WIDTH 8
#include "layerlab/text/pretokenize.h"

#include <pcre2.h>

#include "layerlab/io/error.h"
#include "layerlab/text/utf8.h"

namespace layerlab {

namespace {

// Shared by every pre-tokenizer built on GPT-2's pattern.
constexpr const char* kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

}  // namespace

std::vector<std::string> pre_tokenizer_regexes(PreTokenizerType type) {
  switch (type) {
    case PreTokenizerType::LLAMA3:
      return {
          "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
          "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    case PreTokenizerType::QWEN2:
      return {
          "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
          "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    case PreTokenizerType::QWEN35:
      return {
          "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?"
          "[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    case PreTokenizerType::GPT2:
      return {kGpt2};
    case PreTokenizerType::FALCON:
      return {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
    case PreTokenizerType::STARCODER:
      return {"\\p{N}", kGpt2};
    case PreTokenizerType::DEFAULT:
      break;
  }
  return {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
}

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

RegexSplitter::RegexSplitter(const std::vector<std::string>& regexes) {
  for (const std::string& re : regexes) {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    auto c = std::make_unique<Compiled>();
    c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(),
                            PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
    if (!c->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw Error("pre-tokenizer regex '" + re + "' at offset " + std::to_string(err_off) + ": " +
                  reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if absent
    regexes_.push_back(std::move(c));
  }
}

RegexSplitter::~RegexSplitter() = default;
RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;

std::vector<std::string> RegexSplitter::split(std::string_view text) const {
  const std::vector<uint32_t> cpts = utf8_to_codepoints(text);
  // The subject PCRE2 sees: valid UTF-8, with code points it cannot hold (surrogates, values
  // past U+10FFFF) shown as U+FFFD. byte_at[i] = byte offset of code point i.
  std::string subject;
  subject.reserve(text.size());
  std::vector<size_t> byte_at(cpts.size() + 1);
  for (size_t i = 0; i < cpts.size(); ++i) {
    byte_at[i] = subject.size();
    const uint32_t c = cpts[i];
    append_utf8(subject, (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF ? 0xFFFD : c);
  }
  byte_at[cpts.size()] = subject.size();
  // Code point index at each byte offset (only read at character boundaries).
  std::vector<uint32_t> cpt_at(subject.size() + 1, 0);
  for (size_t i = 0; i <= cpts.size(); ++i) cpt_at[byte_at[i]] = static_cast<uint32_t>(i);

  std::vector<size_t> lengths;  // piece lengths in code points
  if (!cpts.empty()) lengths.push_back(cpts.size());

  for (const auto& re : regexes_) {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(re->code, nullptr);
    if (!md) throw Error("pre-tokenizer: out of memory");
    std::vector<size_t> next;
    next.reserve(lengths.size() * 2);
    size_t start = 0;  // code point index of the current piece
    for (size_t len : lengths) {
      const size_t b0 = byte_at[start];
      const size_t nbytes = byte_at[start + len] - b0;
      const auto* piece = reinterpret_cast<PCRE2_SPTR>(subject.data() + b0);
      size_t pos = 0;       // byte offset inside the piece where the search resumes
      size_t emitted = 0;   // byte offset up to which pieces have been emitted
      while (pos < nbytes) {
        const int rc = pcre2_match(re->code, piece, nbytes, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc < 0) {
          if (rc == PCRE2_ERROR_NOMATCH) break;
          pcre2_match_data_free(md);
          throw Error("pre-tokenizer: regex match failed (PCRE2 error " + std::to_string(rc) + ")");
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t ms = ov[0], me = ov[1];
        if (me == ms) {  // an empty match splits nothing; step over one character
          pos = ms + utf8_sequence_length(static_cast<unsigned char>(piece[ms]));
          continue;
        }
        auto cpt_len = [&](size_t from, size_t to) { return cpt_at[b0 + to] - cpt_at[b0 + from]; };
        if (ms > emitted) next.push_back(cpt_len(emitted, ms));
        next.push_back(cpt_len(ms, me));
        emitted = pos = me;
      }
      if (emitted < nbytes) next.push_back(cpt_at[b0 + nbytes] - cpt_at[b0 + emitted]);
      start += len;
    }
    pcre2_match_data_free(md);
    lengths = std::move(next);
  }

  std::vector<std::string> words;
  words.reserve(lengths.size());
  size_t start = 0;
  for (size_t len : lengths) {
    std::string w;
    for (size_t i = start; i < start + len; ++i) append_utf8(w, cpts[i]);
    words.push_back(std::move(w));
    start += len;
  }
  return words;
}

}  // namespace layerlab
