// llama.cpp's byte-level BPE ("gpt2") tokenizer for one fragment of raw text: pre-tokenize
// with the vocabulary's regexes, map every byte of each word to its GPT-2 stand-in character,
// then repeatedly merge the adjacent pair with the lowest merge rank (ties: leftmost pair).
// A final symbol missing from the vocabulary is emitted byte by byte, keeping only bytes that
// are tokens themselves.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "layerlab/text/pretokenize.h"
#include "layerlab/text/vocab.h"

namespace layerlab {

void bpe_tokenize(const Vocab& vocab, const RegexSplitter& splitter, std::string_view text,
                  std::vector<int32_t>& out);

}  // namespace layerlab
