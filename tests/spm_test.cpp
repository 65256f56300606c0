// SentencePiece ("llama") tokenizer and vocabulary loading on small hand-built vocabularies:
// merge order and tie rules, byte fallback, the space prefix, special-token partitioning,
// per-model defaults and key overrides, and bad metadata.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "layerlab/io/error.h"
#include "layerlab/text/tokenizer.h"

namespace layerlab {
namespace {

constexpr const char* kSp = "\xE2\x96\x81";  // U+2581

struct Tok {
  std::string text;
  float score;
  int32_t type;  // 1 normal, 2 unknown, 3 control, 4 user defined, 6 byte
};

// <unk> <s> </s>, the 256 byte tokens (ids 3..258), then `extra` from id 259 on.
Metadata spm_metadata(const std::vector<Tok>& extra) {
  std::vector<Tok> all = {{"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3}};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    all.push_back({buf, 0, 6});
  }
  all.insert(all.end(), extra.begin(), extra.end());
  std::vector<std::string> texts;
  std::vector<Value> scores, types;
  for (const Tok& t : all) {
    texts.push_back(t.text);
    scores.push_back(Value::f32(t.score));
    types.push_back(Value::i32(t.type));
  }
  Metadata md;
  md.set("tokenizer.ggml.model", Value::string("llama"));
  md.set("tokenizer.ggml.tokens", Value::string_array(texts));
  md.set("tokenizer.ggml.scores", Value::array(ValueType::F32, scores));
  md.set("tokenizer.ggml.token_type", Value::array(ValueType::I32, types));
  return md;
}

std::string sp(const std::string& s) { return kSp + s; }

TEST(SpmTokenizer, DefaultsForLlamaModel) {
  const Tokenizer tok(spm_metadata({{sp("a"), -1, 1}}));
  const Vocab& v = tok.vocab();
  EXPECT_EQ(v.type(), VocabType::SPM);
  EXPECT_EQ(v.bos(), 1);
  EXPECT_EQ(v.eos(), 2);
  EXPECT_EQ(v.unk(), 0);
  EXPECT_TRUE(v.add_bos());
  EXPECT_FALSE(v.add_eos());
  EXPECT_TRUE(v.add_space_prefix());
  EXPECT_EQ(tok.encode("a", true, false), (std::vector<int32_t>{1, 259}));
  EXPECT_EQ(tok.encode("", true, false), (std::vector<int32_t>{1}));
  EXPECT_TRUE(tok.encode("", false, false).empty());
}

TEST(SpmTokenizer, KeysOverrideDefaults) {
  Metadata md = spm_metadata({{sp("a"), -1, 1}, {"a", -2, 1}});
  md.set("tokenizer.ggml.add_bos_token", Value::boolean(false));
  md.set("tokenizer.ggml.add_eos_token", Value::boolean(true));
  md.set("tokenizer.ggml.add_space_prefix", Value::boolean(false));
  md.set("tokenizer.ggml.eos_token_id", Value::u32(0));
  md.set("tokenizer.ggml.bos_token_id", Value::u32(99999));  // outside: default kept
  const Tokenizer tok(md);
  EXPECT_EQ(tok.vocab().bos(), 1);
  EXPECT_EQ(tok.vocab().eos(), 0);
  EXPECT_EQ(tok.encode("a", true, false), (std::vector<int32_t>{260, 0}));
}

TEST(SpmTokenizer, HighestScoreMergesFirst) {
  // "abc": "ab" and "bc" compete; the higher score wins, then nothing else merges.
  const std::vector<Tok> base = {{kSp, -10, 1}, {"a", -10, 1}, {"b", -10, 1}, {"c", -10, 1}};
  auto with = [&](float ab, float bc) {
    auto t = base;
    t.push_back({"ab", ab, 1});  // 263
    t.push_back({"bc", bc, 1});  // 264
    return Tokenizer(spm_metadata(t));
  };
  EXPECT_EQ(with(-1, -2).encode("abc", false, false), (std::vector<int32_t>{259, 263, 262}));
  EXPECT_EQ(with(-2, -1).encode("abc", false, false), (std::vector<int32_t>{259, 260, 264}));
  // Equal scores: the leftmost pair.
  EXPECT_EQ(with(-1, -1).encode("abc", false, false), (std::vector<int32_t>{259, 263, 262}));
}

TEST(SpmTokenizer, PiecesFormOnlyThroughChainsOfTokens) {
  // "▁the" is a token, but "▁t"/"▁th"/"th"/"he" are not: llama.cpp cannot reach it.
  const Tokenizer no_chain(spm_metadata({{kSp, -9, 1}, {"t", -9, 1}, {"h", -9, 1}, {"e", -9, 1},
                                         {sp("the"), 0, 1}}));
  EXPECT_EQ(no_chain.encode("the", false, false), (std::vector<int32_t>{259, 260, 261, 262}));
  const Tokenizer chain(spm_metadata({{kSp, -9, 1}, {"t", -9, 1}, {"h", -9, 1}, {"e", -9, 1},
                                      {sp("the"), 0, 1}, {sp("t"), -1, 1}, {sp("th"), -2, 1}}));
  EXPECT_EQ(chain.encode("the", false, false), (std::vector<int32_t>{263}));
  EXPECT_EQ(chain.decode(std::vector<int32_t>{263}), "the");
}

TEST(SpmTokenizer, ByteFallbackForUnknownCharacters) {
  const Tokenizer tok(spm_metadata({{kSp, -1, 1}, {"a", -1, 1}}));
  // é = C3 A9 -> <0xC3> <0xA9> = ids 3 + 0xC3, 3 + 0xA9.
  const auto ids = tok.encode("a\xC3\xA9", false, false);
  EXPECT_EQ(ids, (std::vector<int32_t>{259, 260, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tok.decode(ids), "a\xC3\xA9");
  // Spaces are U+2581 pieces; newline is a byte token.
  EXPECT_EQ(tok.encode("a a\n", false, false), (std::vector<int32_t>{259, 260, 259, 260, 3 + 10}));
}

TEST(SpmTokenizer, UserDefinedTokensAreAlwaysSplitControlOnlyWithParseSpecial) {
  const Tokenizer tok(spm_metadata({{kSp, -1, 1}, {"x", -1, 1}, {"y", -1, 1}, {"<tag>", 0, 4},
                                    {"<ctl>", 0, 3}}));
  // 259 ▁, 260 x, 261 y, 262 <tag>, 263 <ctl>
  EXPECT_EQ(tok.encode("x<tag>y", false, false), (std::vector<int32_t>{259, 260, 262, 259, 261}));
  EXPECT_EQ(tok.encode("x<ctl>", false, true), (std::vector<int32_t>{259, 260, 263}));
  const auto plain = tok.encode("x<ctl>", false, false);
  EXPECT_EQ(plain.size(), 2u + 5u);  // ▁ x then five byte/char tokens for "<ctl>"
  EXPECT_EQ(tok.decode(plain), "x<ctl>");
  EXPECT_EQ(tok.token_to_piece(262), "<tag>");
  EXPECT_EQ(tok.token_to_piece(263), "");
  EXPECT_EQ(tok.token_to_piece(263, true), "<ctl>");
  // Longest special text first.
  const Tokenizer nested(spm_metadata({{kSp, -1, 1}, {"<a>", 0, 4}, {"<a><a>", 0, 4}}));
  EXPECT_EQ(nested.encode("<a><a><a>", false, false), (std::vector<int32_t>{261, 260}));
}

TEST(SpmTokenizer, Phi3NameRuleStripsSpacesAfterSpecialTokens) {
  Metadata md = spm_metadata({{kSp, -1, 1}, {"y", -1, 1}, {"<|user|>", 0, 4}});
  EXPECT_EQ(Tokenizer(md).encode("<|user|>  y", false, false),
            (std::vector<int32_t>{261, 259, 259, 259, 260}));
  md.set("general.name", Value::string("Phi3 mini"));
  EXPECT_EQ(Tokenizer(md).encode("<|user|>  y", false, false), (std::vector<int32_t>{261, 259, 260}));
}

TEST(SpmTokenizer, DecodeDropsPrefixSpaceAndSpecials) {
  const Tokenizer tok(spm_metadata({{kSp, -1, 1}, {"a", -1, 1}, {sp("a"), 0, 1}}));
  const auto ids = tok.encode(" a", true, false);  // "▁▁a" -> <s> ▁ ▁a
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 259, 261}));
  EXPECT_EQ(tok.decode(std::vector<int32_t>(ids.begin() + 1, ids.end())), " a");
  EXPECT_EQ(tok.decode(ids), "  a");  // BOS piece is empty, so no space is dropped after it
  EXPECT_EQ(tok.decode(ids, /*remove_special=*/true), "  a");
  EXPECT_EQ(tok.decode(ids, false, /*unparse_special=*/true), "<s>  a");
  EXPECT_THROW(tok.token_to_piece(100000), Error);
}

TEST(SpmTokenizer, LongTextIsFast) {
  const Tokenizer tok(spm_metadata({{kSp, -1, 1}, {"a", -1, 1}, {"b", -1, 1}, {"ab", -2, 1},
                                    {sp("ab"), -3, 1}}));
  std::string text;
  for (int i = 0; i < 100000; ++i) text += i % 3 ? "ab" : " ab";
  const auto ids = tok.encode(text, false, false);
  EXPECT_EQ(tok.decode(ids), text);
}

TEST(VocabLoading, RejectsBadMetadata) {
  Metadata none;
  EXPECT_THROW(Tokenizer{none}, Error);
  Metadata md = spm_metadata({});
  md.set("tokenizer.ggml.model", Value::string("t5"));
  EXPECT_THROW(Tokenizer{md}, Error);
  md = spm_metadata({});
  md.set("tokenizer.ggml.scores", Value::array(ValueType::F32, {Value::f32(0)}));
  EXPECT_THROW(Tokenizer{md}, Error);
  md = spm_metadata({});
  md.set("tokenizer.ggml.tokens", Value::string("x"));
  EXPECT_THROW(Tokenizer{md}, Error);
  md = spm_metadata({});
  md.set("tokenizer.ggml.model", Value::string("gpt2"));  // no merges
  EXPECT_THROW(Tokenizer{md}, Error);
}

TEST(VocabLoading, SpecialTokenListIsLongestFirst) {
  const Tokenizer tok(spm_metadata({{"<x>", 0, 4}, {"<longer>", 0, 3}}));
  const auto& s = tok.vocab().special_tokens();
  ASSERT_EQ(s.size(), 5u);  // <unk> <s> </s> <x> <longer>
  EXPECT_EQ(tok.vocab().token(s[0]).text, "<longer>");
  for (size_t i = 1; i < s.size(); ++i)
    EXPECT_GE(tok.vocab().token(s[i - 1]).text.size(), tok.vocab().token(s[i]).text.size());
}

}  // namespace
}  // namespace layerlab
