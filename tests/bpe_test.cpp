// Byte-level BPE ("gpt2") tokenizer and the regex pre-tokenizers on small hand-built inputs:
// merge ranks and ties, ignore_merges, byte stand-ins, the regex splits of the gpt-2, llama3,
// qwen2, falcon and default pre-tokenizers, and detokenizer clean-up.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "layerlab/io/error.h"
#include "layerlab/text/byte_encoding.h"
#include "layerlab/text/pretokenize.h"
#include "layerlab/text/tokenizer.h"

namespace layerlab {
namespace {

// Ids 0..255: the stand-in character of each byte, in byte order; then `extra`.
Metadata bpe_metadata(const std::string& pre, const std::vector<std::string>& extra,
                      const std::vector<std::string>& merges) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(byte_to_unicode(static_cast<uint8_t>(b)));
  tokens.insert(tokens.end(), extra.begin(), extra.end());
  Metadata md;
  md.set("tokenizer.ggml.model", Value::string("gpt2"));
  md.set("tokenizer.ggml.pre", Value::string(pre));
  md.set("tokenizer.ggml.tokens", Value::string_array(tokens));
  md.set("tokenizer.ggml.merges", Value::string_array(merges));
  md.set("tokenizer.ggml.bos_token_id", Value::u32(0));
  md.set("tokenizer.ggml.eos_token_id", Value::u32(1));
  return md;
}

std::vector<std::string> split(PreTokenizerType type, const std::string& text) {
  return RegexSplitter(pre_tokenizer_regexes(type)).split(text);
}
using Pieces = std::vector<std::string>;

TEST(ByteEncoding, Gpt2Table) {
  EXPECT_EQ(byte_to_unicode(' '), "\xC4\xA0");   // Ġ U+0120
  EXPECT_EQ(byte_to_unicode('\n'), "\xC4\x8A");  // Ċ U+010A
  EXPECT_EQ(byte_to_unicode('a'), "a");
  EXPECT_EQ(byte_to_unicode(0xAD), "\xC5\x83");  // last of the 68 remapped bytes: U+0143
  for (int b = 0; b < 256; ++b) {
    const std::string& s = byte_to_unicode(static_cast<uint8_t>(b));
    ASSERT_FALSE(s.empty());
    EXPECT_EQ(bytes_to_unicode_text(std::string(1, static_cast<char>(b))), s);
  }
  EXPECT_EQ(unicode_to_byte(0x120), std::optional<uint8_t>(' '));
  EXPECT_EQ(unicode_to_byte(0x41), std::optional<uint8_t>('A'));
  EXPECT_FALSE(unicode_to_byte(0x20).has_value());
  EXPECT_FALSE(unicode_to_byte(0x2581).has_value());
}

TEST(PreTokenizer, Gpt2) {
  EXPECT_EQ(split(PreTokenizerType::GPT2, "Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split(PreTokenizerType::GPT2, "I've 123 !!"), (Pieces{"I", "'ve", " 123", " !!"}));
  EXPECT_EQ(split(PreTokenizerType::GPT2, "I'VE"), (Pieces{"I", "'", "VE"}));  // case-sensitive
  EXPECT_EQ(split(PreTokenizerType::GPT2, "a   b"), (Pieces{"a", "  ", " b"}));
  EXPECT_EQ(split(PreTokenizerType::GPT2, "a\t\tb "), (Pieces{"a", "\t", "\t", "b", " "}));
  EXPECT_EQ(split(PreTokenizerType::GPT2, "\xC3\xA9t\xC3\xA9 \xE4\xBD\xA0"), (Pieces{"\xC3\xA9t\xC3\xA9", " \xE4\xBD\xA0"}));
  EXPECT_TRUE(split(PreTokenizerType::GPT2, "").empty());
}

TEST(PreTokenizer, Llama3AndQwen2) {
  EXPECT_EQ(split(PreTokenizerType::LLAMA3, "Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split(PreTokenizerType::LLAMA3, "1234567"), (Pieces{"123", "456", "7"}));
  EXPECT_EQ(split(PreTokenizerType::QWEN2, "123"), (Pieces{"1", "2", "3"}));
  EXPECT_EQ(split(PreTokenizerType::LLAMA3, "HE'S"), (Pieces{"HE", "'S"}));  // case-insensitive
  EXPECT_EQ(split(PreTokenizerType::LLAMA3, "a\n\nb"), (Pieces{"a", "\n\n", "b"}));
  EXPECT_EQ(split(PreTokenizerType::LLAMA3, "x!!\n\ny"), (Pieces{"x", "!!\n\n", "y"}));
  EXPECT_EQ(split(PreTokenizerType::LLAMA3, "  hi"), (Pieces{" ", " hi"}));
  EXPECT_EQ(split(PreTokenizerType::LLAMA3, "(hi)"), (Pieces{"(hi", ")"}));
  // qwen35 keeps combining marks with letters: "e" + U+0301.
  EXPECT_EQ(split(PreTokenizerType::QWEN35, "e\xCC\x81x"), (Pieces{"e\xCC\x81x"}));
  EXPECT_EQ(split(PreTokenizerType::QWEN2, "e\xCC\x81x"), (Pieces{"e", "\xCC\x81x"}));
}

TEST(PreTokenizer, FalconAndDefaultApplyRegexesInSequence) {
  EXPECT_EQ(split(PreTokenizerType::FALCON, "3333333"), (Pieces{"333", "333", "3"}));
  EXPECT_EQ(split(PreTokenizerType::FALCON, "Hello, world"), (Pieces{"Hello", ",", " world"}));
  EXPECT_EQ(split(PreTokenizerType::DEFAULT, "a+b=c"), (Pieces{"a", "+", "b", "=", "c"}));
  EXPECT_EQ(split(PreTokenizerType::STARCODER, "x12"), (Pieces{"x", "1", "2"}));
}

TEST(PreTokenizer, InvalidUtf8BecomesReplacementCharacter) {
  const auto pieces = split(PreTokenizerType::GPT2, "a\xFF" "b");
  std::string joined;
  for (const auto& p : pieces) joined += p;
  EXPECT_EQ(joined, "a\xEF\xBF\xBD" "b");
}

TEST(BpeTokenizer, LowestRankMergesFirst) {
  // 256 "ab", 257 "bc"
  const std::vector<std::string> extra = {"ab", "bc"};
  EXPECT_EQ(Tokenizer(bpe_metadata("gpt-2", extra, {"a b", "b c"})).encode("abc", false, false),
            (std::vector<int32_t>{256, 'c'}));
  EXPECT_EQ(Tokenizer(bpe_metadata("gpt-2", extra, {"b c", "a b"})).encode("abc", false, false),
            (std::vector<int32_t>{'a', 257}));
}

TEST(BpeTokenizer, SpacesAreByteStandInsAndMergesRespectWords) {
  // 256 "Ġa", 257 "Ġab"
  const Tokenizer tok(bpe_metadata("gpt-2", {"\xC4\xA0" "a", "\xC4\xA0" "ab"}, {"\xC4\xA0 a", "\xC4\xA0" "a b"}));
  EXPECT_EQ(tok.encode("ab ab", false, false), (std::vector<int32_t>{'a', 'b', 257}));
  EXPECT_EQ(tok.decode(tok.encode("ab ab", false, false)), "ab ab");
  EXPECT_EQ(tok.encode("\n", false, false), (std::vector<int32_t>{'\n' + 0}));
  EXPECT_FALSE(tok.vocab().add_bos());
  EXPECT_EQ(tok.encode("a", true, false), (std::vector<int32_t>{'a'}));
}

TEST(BpeTokenizer, Llama3IgnoresMergesForWholeWordsAndAddsBos) {
  // "abc" is a token but no merge path leads to it.
  const Tokenizer l3(bpe_metadata("llama-bpe", {"abc"}, {"x y"}));
  EXPECT_TRUE(l3.vocab().add_bos());
  EXPECT_EQ(l3.encode("abc", true, false), (std::vector<int32_t>{0, 256}));
  const Tokenizer g2(bpe_metadata("gpt-2", {"abc"}, {"x y"}));
  EXPECT_EQ(g2.encode("abc", false, false), (std::vector<int32_t>{'a', 'b', 'c'}));
}

TEST(BpeTokenizer, UnknownPreTokenizerIsAnError) {
  EXPECT_THROW(Tokenizer(bpe_metadata("no-such-pre", {}, {"a b"})), Error);
}

TEST(BpeTokenizer, CleanSpacesOnDecode) {
  const Tokenizer tok(bpe_metadata("gpt-2", {}, {"a b"}));
  ASSERT_TRUE(tok.vocab().clean_spaces());
  const std::string text = "a , b . c 's d ' e";
  EXPECT_EQ(tok.decode(tok.encode(text, false, false)), "a, b. c's d'e");
  const Tokenizer qwen(bpe_metadata("qwen2", {}, {"a b"}));
  EXPECT_FALSE(qwen.vocab().clean_spaces());
  EXPECT_EQ(qwen.decode(qwen.encode(text, false, false)), text);
}

TEST(BpeTokenizer, LongTextIsFast) {
  const Tokenizer tok(bpe_metadata("llama-bpe", {"ab", "\xC4\xA0" "ab"}, {"a b", "\xC4\xA0 ab"}));
  std::string text;
  for (int i = 0; i < 50000; ++i) text += i % 7 ? " ab" : "\n12345 ab!";
  std::string word(200000, 'a');  // one huge word: the merge queue keeps it O(n log n)
  const auto t0 = std::chrono::steady_clock::now();
  const auto ids = tok.encode(text, false, false);
  const auto ids2 = tok.encode(word, false, false);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(tok.decode(ids), text);
  EXPECT_EQ(ids2.size(), word.size());
  EXPECT_LT(s, 10.0);
}

}  // namespace
}  // namespace layerlab
