// Pre-tokenizer for byte-level BPE: splits text into words with a sequence of regexes, the
// way llama.cpp's unicode_regex_split does. Each regex re-splits every piece produced by the
// previous one; both its matches and the unmatched stretches between them become pieces, and a
// regex only ever sees one piece (so a lookahead at a piece's end sees the end of the text).
// Matching uses PCRE2 in UTF + UCP mode, whose \p{L}, \p{N}, \p{P} and \s agree with
// llama.cpp's Unicode tables on the characters that matter (see docs/tokenizers.md).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "layerlab/text/vocab.h"

namespace layerlab {

// The regex list llama.cpp uses for a pre-tokenizer type.
std::vector<std::string> pre_tokenizer_regexes(PreTokenizerType type);

class RegexSplitter {
 public:
  // Throws Error if a regex does not compile.
  explicit RegexSplitter(const std::vector<std::string>& regexes);
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;

  // The pieces, in order; their concatenation is `text` with every invalid UTF-8 byte replaced
  // by U+FFFD (as llama.cpp does before splitting). Thread-safe.
  std::vector<std::string> split(std::string_view text) const;

 private:
  struct Compiled;
  std::vector<std::unique_ptr<Compiled>> regexes_;
};

}  // namespace layerlab
