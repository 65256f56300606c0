// The compact metadata array (ValueArray): every element type round-trips through its packed
// form exactly, values the packed form cannot hold fall back to a list of Values without any
// visible difference, equality keeps Value's semantics, and GGUF files written from packed,
// mixed and edited arrays read back equal. Also the vocabulary's open-addressing tables.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <limits>
#include <string>
#include <vector>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/io/gguf_writer.h"
#include "layerlab/io/metadata.h"
#include "layerlab/io/metadata_json.h"
#include "layerlab/text/byte_encoding.h"
#include "layerlab/text/tokenizer.h"
#include "layerlab/text/vocab_tables.h"
#include "test_support.h"

namespace layerlab {
namespace {

Value scalar(ValueType type, int64_t x) {
  Value v;
  v.type = type;
  const bool is_signed = type == ValueType::I8 || type == ValueType::I16 || type == ValueType::I32 ||
                         type == ValueType::I64;
  if (is_signed) v.i = x;
  else v.u = static_cast<uint64_t>(x);
  return v;
}

Value float_value(ValueType type, double x) {
  Value v;
  v.type = type;
  v.f = x;
  return v;
}

// Every element reads back as exactly the Value pushed (all fields), in both access paths.
void expect_same_elements(const ValueArray& a, const std::vector<Value>& values) {
  ASSERT_EQ(a.size(), values.size());
  size_t k = 0;
  for (const Value& got : a) {
    const Value& want = values[k];
    EXPECT_EQ(got.type, want.type) << k;
    EXPECT_EQ(got.u, want.u) << k;
    EXPECT_EQ(got.i, want.i) << k;
    EXPECT_EQ(std::memcmp(&got.f, &want.f, sizeof(double)), 0) << k;
    EXPECT_EQ(got.str, want.str) << k;
    EXPECT_EQ(a.int_at(k), want.as_int()) << k;
    EXPECT_EQ(a.double_at(k).has_value(), want.as_double().has_value()) << k;
    if (want.as_double() && !std::isnan(*want.as_double())) EXPECT_EQ(a.double_at(k), want.as_double()) << k;
    EXPECT_EQ(a.string_at(k), want.type == ValueType::STRING ? want.str : "") << k;
    ++k;
  }
}

TEST(ValueArray, EveryScalarTypePacksAtItsWidthAndReadsBackExactly) {
  struct Case {
    ValueType type;
    std::vector<int64_t> xs;
  };
  const Case cases[] = {
      {ValueType::U8, {0, 1, 255}},
      {ValueType::I8, {-128, -1, 0, 127}},
      {ValueType::U16, {0, 65535}},
      {ValueType::I16, {-32768, 32767}},
      {ValueType::U32, {0, 4294967295ll}},
      {ValueType::I32, {INT32_MIN, -7, INT32_MAX}},
      {ValueType::U64, {0, -1 /* 2^64-1 */, INT64_MAX}},
      {ValueType::I64, {INT64_MIN, 0, INT64_MAX}},
      {ValueType::BOOL, {0, 1, 1}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(value_type_name(c.type)));
    std::vector<Value> values;
    for (int64_t x : c.xs) values.push_back(scalar(c.type, x));
    const ValueArray a(values);
    EXPECT_EQ(a.uniform_type(), c.type);
    EXPECT_EQ(a.packed_bytes().size(), values.size() * value_type_size(c.type));
    expect_same_elements(a, values);
  }
  std::vector<Value> floats = {Value::f32(1.5f), Value::f32(-0.0f), Value::f32(std::numeric_limits<float>::infinity()),
                               Value::f32(std::numeric_limits<float>::quiet_NaN()), Value::f32(1e-40f)};
  const ValueArray f32s(floats);
  EXPECT_EQ(f32s.packed_bytes().size(), 4 * floats.size());
  expect_same_elements(f32s, floats);
  std::vector<Value> doubles = {float_value(ValueType::F64, 0.1), float_value(ValueType::F64, -1e300)};
  const ValueArray f64s(doubles);
  EXPECT_EQ(f64s.packed_bytes().size(), 16u);
  expect_same_elements(f64s, doubles);
}

TEST(ValueArray, StringsShareOneBlob) {
  const std::vector<std::string> texts = {"", "a", std::string(100, 'x'), std::string("nul\0byte", 8), "Ġthe"};
  const Value v = Value::string_array(texts);
  ASSERT_EQ(v.items.size(), texts.size());
  EXPECT_EQ(v.items.uniform_type(), ValueType::STRING);
  EXPECT_TRUE(v.items.packed_bytes().empty());
  for (size_t k = 0; k < texts.size(); ++k) {
    EXPECT_EQ(v.items.string_at(k), texts[k]);
    EXPECT_EQ(v.items[k].str, texts[k]);
    EXPECT_EQ(v.items[k].type, ValueType::STRING);
  }
  std::vector<Value> as_values;
  for (const auto& t : texts) as_values.push_back(Value::string(t));
  EXPECT_EQ(v, Value::array(ValueType::STRING, as_values));
  EXPECT_THROW((void)v.items.string_at(texts.size()), std::out_of_range);
  EXPECT_THROW((void)v.items[texts.size()], std::out_of_range);
}

TEST(ValueArray, WhatPackingCannotHoldFallsBackUnchanged) {
  Value wide = Value::u32(7);
  wide.u = 1ull << 40;  // wider than its declared type: kept as is, not truncated
  Value extra = Value::i32(-3);
  extra.u = 9;  // a stray field is kept too
  Value f32_not_float = float_value(ValueType::F32, 0.1);  // not a float value
  Value nested = Value::array(ValueType::U8, {scalar(ValueType::U8, 1)});
  const std::vector<std::vector<Value>> cases = {
      {Value::u32(1), Value::i32(2)},                   // mixed types
      {Value::u32(1), wide},                            // out of range after packing began
      {Value::i32(1), extra},
      {f32_not_float, Value::f32(1)},
      {Value::string("a"), Value::u32(1), Value::string("b")},  // strings then a scalar
      {nested, nested},                                 // array of arrays
      {Value::u32(5), nested},
  };
  for (const auto& values : cases) {
    const ValueArray a(values);
    EXPECT_TRUE(a.packed_bytes().empty());
    expect_same_elements(a, values);
    EXPECT_EQ(Value::array(ValueType::U32, a), Value::array(ValueType::U32, values));
  }
  EXPECT_EQ(ValueArray({nested, nested})[1], nested);
  EXPECT_EQ(ValueArray({Value::u32(1), Value::i32(2)}).uniform_type(), std::nullopt);
  EXPECT_EQ(ValueArray().uniform_type(), std::nullopt);
}

TEST(ValueArray, EqualityIsElementwiseValueEquality) {
  const Value nan = Value::f32(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(ValueArray({nan, Value::f32(1)}), ValueArray({nan, Value::f32(1)}));
  EXPECT_EQ(ValueArray({Value::f32(0.0f)}), ValueArray({Value::f32(-0.0f)}));  // 0 == -0, as for Value
  EXPECT_NE(ValueArray({Value::u32(1)}), ValueArray({Value::u32(2)}));
  EXPECT_NE(ValueArray({Value::u32(1)}), ValueArray({Value::u32(1), Value::u32(1)}));
  // Packed against generic holding the same values (a mismatch truncated away).
  ValueArray generic({Value::u32(1), Value::u32(2), Value::i32(3)});
  generic.resize(2);
  EXPECT_EQ(generic, ValueArray({Value::u32(1), Value::u32(2)}));
  // Types compare as Value does: u32 1 and i32 1 differ.
  EXPECT_NE(ValueArray({Value::u32(1)}), ValueArray({Value::i32(1)}));
  EXPECT_NE(Value::array(ValueType::U32, {}), Value::array(ValueType::I32, {}));
}

TEST(ValueArray, ResizeClearAndPushAfterward) {
  Value v = Value::string_array({"a", "bc", "def"});
  v.items.resize(2);
  EXPECT_EQ(v, Value::string_array({"a", "bc"}));
  v.items.push_string("x");
  EXPECT_EQ(v, Value::string_array({"a", "bc", "x"}));
  v.items.resize(0);
  EXPECT_TRUE(v.items.empty());
  v.items.push_back(Value::string("z"));
  EXPECT_EQ(v, Value::string_array({"z"}));
  v.items.resize(2);  // grows with default values (u32 0), as std::vector<Value> did
  EXPECT_EQ(v.items[1], Value::u32(0));
  v.items.clear();
  v.items.push_back(Value::i32(-1));
  EXPECT_EQ(v.items.packed_bytes().size(), 4u);
  EXPECT_EQ(v.items.back(), Value::i32(-1));
}

TEST(ValueArray, GgufAndJsonRoundTripsOfEveryForm) {
  ModelFile model = read_gguf(testing::fixture_model("stories260K.gguf"));
  std::vector<Value> i16s, bools, u64s;
  for (int k = 0; k < 100; ++k) {
    i16s.push_back(scalar(ValueType::I16, k * 300 - 15000));
    bools.push_back(Value::boolean(k % 3 == 0));
    u64s.push_back(Value::u64(~0ull - static_cast<uint64_t>(k)));
  }
  model.metadata.set("test.i16s", Value::array(ValueType::I16, i16s));
  model.metadata.set("test.bools", Value::array(ValueType::BOOL, bools));
  model.metadata.set("test.u64s", Value::array(ValueType::U64, u64s));
  model.metadata.set("test.f32s", Value::array(ValueType::F32, {Value::f32(-2.5f), Value::f32(3.0f)}));
  model.metadata.set("test.strings", Value::string_array({"", "é", std::string(300, 'q')}));
  // Built element by element through the generic path, and an edited packed array.
  ValueArray mixed_then_fixed({Value::u32(1), Value::i32(2)});
  mixed_then_fixed.resize(1);
  model.metadata.set("test.generic_u32", Value::array(ValueType::U32, mixed_then_fixed));
  const std::string dir = testing::scratch_dir();
  write_gguf(model, dir + "/a.gguf");
  ModelFile back = read_gguf(dir + "/a.gguf");
  EXPECT_EQ(back.metadata, model.metadata);
  write_gguf(back, dir + "/b.gguf");
  EXPECT_TRUE(testing::read_file(dir + "/a.gguf") == testing::read_file(dir + "/b.gguf"));
  // The JSON sidecar: same metadata back, also for an array of arrays (legal there).
  ModelFile with_nested = back;
  with_nested.metadata.set("test.nested", Value::array(ValueType::ARRAY, {Value::array(ValueType::U8, {scalar(ValueType::U8, 7)}),
                                                                        Value::string_array({"p", "q"})}));
  const nlohmann::json doc = metadata_to_json(with_nested);
  const MetadataJson parsed = metadata_from_json(nlohmann::json::parse(doc.dump()), "sidecar");
  EXPECT_EQ(parsed.metadata, with_nested.metadata);
  EXPECT_EQ(metadata_to_json(ModelFile{.metadata = parsed.metadata}).dump(), doc.dump());
  // Mixed element types are still refused by the writer.
  model.metadata.set("test.mixed", Value::array(ValueType::U32, {Value::u32(1), Value::i32(2)}));
  EXPECT_THROW(write_gguf(model, dir + "/c.gguf"), Error);
}

TEST(VocabTables, TokenTextIndexKeepsFirstIdOfRepeatedTexts) {
  const std::vector<std::string> texts = {"a", "b", "a", "", "long text", "b"};
  TokenTextIndex index;
  auto text_of = [&](int32_t id) { return std::string_view(texts[static_cast<size_t>(id)]); };
  index.build(texts.size(), text_of);
  EXPECT_EQ(index.find("a", text_of), 0);
  EXPECT_EQ(index.find("b", text_of), 1);
  EXPECT_EQ(index.find("", text_of), 3);
  EXPECT_EQ(index.find("long text", text_of), 4);
  EXPECT_EQ(index.find("c", text_of), -1);
  TokenTextIndex empty;
  EXPECT_EQ(empty.find("a", text_of), -1);
}

TEST(VocabTables, MergeRankTableKeepsFirstRankAndGrows) {
  MergeRankTable t;
  EXPECT_EQ(t.find(1, 2), -1);
  for (int32_t k = 0; k < 5000; ++k) t.insert(k, k + 1, k);
  t.insert(3, 4, 99);  // a repeated pair keeps its first rank
  EXPECT_EQ(t.size(), 5000u);
  for (int32_t k = 0; k < 5000; ++k) {
    ASSERT_EQ(t.find(k, k + 1), k);
    ASSERT_EQ(t.find(k + 1, k), -1);
  }
  EXPECT_EQ(t.find(0, 0), -1);
}

TEST(VocabTables, MergesWhoseSidesAreNoTokensStillApply) {
  // "ab" is no token, yet "a b" then "ab c" must still merge "abc" into one token.
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(byte_to_unicode(static_cast<uint8_t>(b)));
  tokens.push_back("abc");
  Metadata md;
  md.set("tokenizer.ggml.model", Value::string("gpt2"));
  md.set("tokenizer.ggml.pre", Value::string("gpt-2"));
  md.set("tokenizer.ggml.tokens", Value::string_array(tokens));
  md.set("tokenizer.ggml.merges", Value::string_array({"a b", "ab c", "x y z"}));
  md.set("tokenizer.ggml.bos_token_id", Value::u32(0));
  md.set("tokenizer.ggml.eos_token_id", Value::u32(1));
  const Tokenizer tok(md);
  EXPECT_EQ(tok.vocab().merge_rank("a", "b"), 0);
  EXPECT_EQ(tok.vocab().merge_rank("ab", "c"), 1);
  EXPECT_EQ(tok.vocab().merge_rank("x", "y z"), 2);
  EXPECT_EQ(tok.vocab().merge_rank("x y", "z"), -1);
  EXPECT_EQ(tok.encode("abc", false, false), std::vector<int32_t>{256});
  // A copy of a vocabulary keeps its texts after the original and the metadata are gone.
  auto original = std::make_unique<Vocab>(Vocab::from_metadata(md));
  const Vocab copy = *original;
  original.reset();
  md = Metadata();
  EXPECT_EQ(copy.token(256).text, "abc");
  EXPECT_EQ(copy.find("abc"), 256);
  EXPECT_EQ(copy.merge_rank("ab", "c"), 1);
}

}  // namespace
}  // namespace layerlab
