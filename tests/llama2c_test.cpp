// llama2.c import: a legacy v0 checkpoint rebuilt from stories260K.gguf (which was converted
// from stories260K.bin) imports to byte-identical tensors; bad headers give clean errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/io/llama2c_import.h"
#include "layerlab/io/model_loader.h"
#include "test_support.h"

using namespace layerlab;
namespace lt = layerlab::testing;

namespace {

void put_i32(std::string& out, int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void put_f32(std::string& out, float v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void put_tensor(std::string& out, const ModelFile& m, const std::string& name) {
  const TensorInfo* t = m.find_tensor(name);
  if (!t) throw std::runtime_error("fixture lacks " + name);
  out.append(reinterpret_cast<const char*>(t->data.data()), t->data.size());
}

// The llama2.c legacy export of a llama GGUF: header, then arrays in llama2.c order with
// layers stacked, the freq_cis tables, and the classifier when `wcls` is given.
std::string to_llama2c(const ModelFile& m, const std::string* wcls = nullptr) {
  auto get = [&](const char* key) { return static_cast<int32_t>(*m.metadata.get_int(std::string("llama.") + key)); };
  const int32_t dim = get("embedding_length"), hidden = get("feed_forward_length"), L = get("block_count"),
                H = get("attention.head_count"), Hkv = get("attention.head_count_kv"), V = get("vocab_size"),
                seq = get("context_length");
  std::string out;
  for (int32_t v : {dim, hidden, L, H, Hkv, wcls ? -V : V, seq}) put_i32(out, v);
  put_tensor(out, m, "token_embd.weight");
  for (const char* part : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
                           "ffn_down", "ffn_up"})
    for (int l = 0; l < L; ++l) put_tensor(out, m, "blk." + std::to_string(l) + "." + part + ".weight");
  put_tensor(out, m, "output_norm.weight");
  const int head = dim / H;
  for (int which = 0; which < 2; ++which)
    for (int p = 0; p < seq; ++p)
      for (int i = 0; i < head / 2; ++i) {
        const double theta = p * std::pow(10000.0, -2.0 * i / head);
        put_f32(out, static_cast<float>(which == 0 ? std::cos(theta) : std::sin(theta)));
      }
  if (wcls) out += *wcls;
  return out;
}

std::string write_temp(const std::string& name, const std::string& bytes) {
  const std::string path = lt::scratch_dir() + "/" + name;
  lt::write_file(path, bytes);
  return path;
}

void expect_format_error(const std::string& path, const std::string& needle) {
  try {
    import_llama2c(path);
    FAIL() << "expected an error containing '" << needle << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Llama2c, StoriesImportIsByteIdenticalToGguf) {
  const ModelFile gguf = read_gguf(lt::fixture_model("stories260K.gguf"));
  const std::string bin = write_temp("stories260K.bin", to_llama2c(gguf));
  EXPECT_TRUE(looks_like_llama2c(bin));

  Llama2cOptions opt;
  opt.vocab_from = &gguf.metadata;
  const ModelFile m = import_llama2c(bin, opt);
  EXPECT_EQ(m.format, FileFormat::LLAMA2C);
  ASSERT_EQ(m.tensors.size(), gguf.tensors.size());
  for (size_t k = 0; k < gguf.tensors.size(); ++k) {
    const TensorInfo& want = gguf.tensors[k];
    const TensorInfo& got = m.tensors[k];
    EXPECT_EQ(got.name, want.name) << "same tensor order as the converter";
    const TensorInfo* t = m.find_tensor(want.name);
    ASSERT_NE(t, nullptr) << want.name;
    EXPECT_EQ(t->type, GgmlType::F32);
    EXPECT_EQ(t->ne, want.ne) << want.name;
    EXPECT_EQ(t->n_dims, want.n_dims) << want.name;
    ASSERT_EQ(t->data.size(), want.data.size()) << want.name;
    EXPECT_EQ(0, std::memcmp(t->data.data(), want.data.data(), want.data.size())) << want.name;
  }
  EXPECT_EQ(m.find_tensor("output.weight"), nullptr) << "shared classifier = tied embeddings";
  // Tensors are views of the file, not copies.
  EXPECT_TRUE(m.owned_buffers.empty());
  // Hyperparameters and the copied vocabulary match the GGUF.
  for (const auto& [key, value] : gguf.metadata.items()) {
    if (key.rfind("general.", 0) == 0) continue;
    const Value* got = m.metadata.find(key);
    ASSERT_NE(got, nullptr) << key;
    EXPECT_TRUE(*got == value) << key;
  }
  EXPECT_EQ(m.metadata.get_string("general.architecture"), "llama");

  // load_model recognises the headerless file.
  const ModelFile loaded = load_model(bin);
  EXPECT_EQ(loaded.format, FileFormat::LLAMA2C);
  EXPECT_EQ(loaded.tensors.size(), gguf.tensors.size());
  EXPECT_FALSE(loaded.metadata.contains("tokenizer.ggml.tokens"));
}

TEST(Llama2c, UnsharedClassifierBecomesOutput) {
  const ModelFile gguf = read_gguf(lt::fixture_model("stories260K.gguf"));
  const TensorInfo* embd = gguf.find_tensor("token_embd.weight");
  std::string wcls(embd->data.size(), '\0');
  for (size_t k = 0; k < wcls.size(); ++k) wcls[k] = static_cast<char>(k * 7 + 3);
  const std::string bin = write_temp("unshared.bin", to_llama2c(gguf, &wcls));
  const ModelFile m = import_llama2c(bin);
  const TensorInfo* out = m.find_tensor("output.weight");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->ne, embd->ne);
  EXPECT_EQ(0, std::memcmp(out->data.data(), wcls.data(), wcls.size()));
  EXPECT_EQ(m.metadata.get_int("llama.vocab_size"), 512);
  EXPECT_EQ(0, std::memcmp(m.find_tensor("token_embd.weight")->data.data(), embd->data.data(), wcls.size()));
}

TEST(Llama2c, BadHeadersAndSizesAreCleanErrors) {
  const ModelFile gguf = read_gguf(lt::fixture_model("stories260K.gguf"));
  const std::string good = to_llama2c(gguf);

  expect_format_error(write_temp("short.bin", good.substr(0, 10)), "too short");
  expect_format_error(write_temp("trunc.bin", good.substr(0, good.size() - 4)), "the header implies");
  expect_format_error(write_temp("long.bin", good + "xxxx"), "the header implies");
  auto with_field = [&](int index, int32_t value) {
    std::string b = good;
    std::memcpy(b.data() + 4 * index, &value, 4);
    return b;
  };
  expect_format_error(write_temp("zero.bin", with_field(0, 0)), "dim = 0 must be positive");
  expect_format_error(write_temp("neglayers.bin", with_field(2, -5)), "n_layers = -5");
  expect_format_error(write_temp("kv.bin", with_field(4, 3)), "not a multiple of n_kv_heads");
  expect_format_error(write_temp("huge.bin", with_field(0, 1 << 30)), "");
  expect_format_error(write_temp("overflow.bin", with_field(1, INT32_MAX)), "");
  EXPECT_FALSE(looks_like_llama2c(write_temp("trunc2.bin", good.substr(0, good.size() - 4))));
  // An unrecognised .bin goes to the llama2.c importer, which says what is wrong.
  EXPECT_THROW(load_model(write_temp("trunc3.bin", good.substr(0, good.size() - 8))), FormatError);
}

TEST(Llama2c, TokenizerBin) {
  std::string tok;
  put_i32(tok, 8);
  const char* texts[] = {"x", "y", "z", "<0x41>", "", " the", "ab"};
  float score = 0;
  for (const char* t : texts) {
    put_f32(tok, score -= 1);
    put_i32(tok, static_cast<int32_t>(std::strlen(t)));
    tok += t;
  }
  const std::string path = write_temp("tokenizer.bin", tok);
  const Metadata md = read_llama2c_tokenizer(path, 7);
  const Value* tokens = md.find("tokenizer.ggml.tokens");
  const Value* types = md.find("tokenizer.ggml.token_type");
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ(tokens->items.size(), 7u);
  EXPECT_EQ(tokens->items[0].str, "<unk>");
  EXPECT_EQ(tokens->items[1].str, "<s>");
  EXPECT_EQ(tokens->items[2].str, "</s>");
  EXPECT_EQ(tokens->items[5].str, "\xe2\x96\x81the");
  const int32_t want_types[] = {2, 3, 3, 6, 3, 1, 1};
  for (int k = 0; k < 7; ++k) EXPECT_EQ(types->items[k].as_int(), want_types[k]) << k;
  EXPECT_FLOAT_EQ(static_cast<float>(md.find("tokenizer.ggml.scores")->items[6].f), -7.0f);
  EXPECT_THROW(read_llama2c_tokenizer(path, 8), FormatError);  // ends early
}
