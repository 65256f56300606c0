// llama.cpp's SentencePiece ("llama") tokenizer for one fragment of raw text: split into
// UTF-8 characters, repeatedly merge the adjacent pair whose concatenation is a vocabulary
// token with the highest score (ties: leftmost pair), then emit each symbol as its token or,
// if it is none, as byte-fallback tokens <0xNN>. A priority queue keeps this O(n log n).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "layerlab/text/vocab.h"

namespace layerlab {

// `text` must already have its spaces escaped to U+2581 (and the space prefix added).
void spm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);

// " " -> U+2581 and back.
std::string escape_spm_whitespace(std::string_view text);
std::string unescape_spm_whitespace(std::string_view text);

}  // namespace layerlab
