// safetensors: parsing and validation, GGUF -> safetensors -> GGUF round trips on the fixtures,
// quantized tensors (refused, or dequantized), sharding and the atomic directory write.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/io/gguf_writer.h"
#include "layerlab/io/model_loader.h"
#include "layerlab/io/safetensors_reader.h"
#include "layerlab/io/safetensors_writer.h"
#include "layerlab/tensor/dequantize.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace layerlab;
using nlohmann::json;
namespace lt = layerlab::testing;

namespace {

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// A safetensors image from a header text and a data buffer.
std::string image(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int k = 0; k < 8; ++k) out[k] = static_cast<char>(n >> (8 * k));
  return out + header + data;
}

void expect_same_tensors(const ModelFile& a, const ModelFile& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t k = 0; k < a.tensors.size(); ++k) {
    const auto& x = a.tensors[k];
    const auto& y = b.tensors[k];
    ASSERT_EQ(x.name, y.name) << "tensor order differs at " << k;
    EXPECT_EQ(x.type, y.type) << x.name;
    EXPECT_EQ(x.n_dims, y.n_dims) << x.name;
    EXPECT_EQ(x.ne, y.ne) << x.name;
    ASSERT_EQ(x.data.size(), y.data.size()) << x.name;
    EXPECT_EQ(0, std::memcmp(x.data.data(), y.data.data(), x.data.size())) << x.name << " bytes differ";
  }
}

void expect_format_error(const std::string& img, const std::string& needle) {
  try {
    parse_safetensors(as_bytes(img), "test.safetensors");
    FAIL() << "expected FormatError containing '" << needle << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test.safetensors"), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(SafetensorsParse, ValidFileReversesShape) {
  std::string data(2 * 3 * 4 + 4 * 2, '\0');
  std::string img = image(
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}})",
      data);
  SafetensorsHeader h = parse_safetensors(as_bytes(img), "x");
  ASSERT_EQ(h.entries.size(), 2u);
  EXPECT_EQ(h.entries[0].name, "a");
  EXPECT_EQ(h.entries[0].type, GgmlType::F32);
  EXPECT_EQ(h.entries[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(h.entries[1].type, GgmlType::BF16);
  ASSERT_EQ(h.metadata.size(), 1u);
  EXPECT_EQ(h.metadata[0].second, "pt");

  std::string dir = lt::scratch_dir();
  lt::write_file(dir + "/m.safetensors", img);
  SafetensorsSet set = read_safetensors_files({dir + "/m.safetensors"});
  ASSERT_EQ(set.model.tensors.size(), 2u);
  EXPECT_EQ(set.model.tensors[0].ne[0], 3);  // ggml ne is the reversed shape
  EXPECT_EQ(set.model.tensors[0].ne[1], 2);
  EXPECT_EQ(set.model.tensors[0].n_dims, 2u);
}

TEST(SafetensorsParse, RejectsMalformedHeaders) {
  const std::string d8(8, '\0');
  expect_format_error("abc", "too short");
  {
    std::string img(8, '\0');
    img[6] = 1;  // 2^48 bytes
    expect_format_error(img, "exceeds the limit");
  }
  expect_format_error(image("{}", "").substr(0, 9), "runs past the end");
  expect_format_error(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", d8), "not valid JSON");
  expect_format_error(image(R"([1,2])", ""), "not a JSON object");
  expect_format_error(image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d8), "past the end");
  expect_format_error(image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8), "need 12");
  expect_format_error(image(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", d8), "unknown dtype");
  expect_format_error(image(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", d8), "tensor 'a': dtype U8");
  expect_format_error(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                            d8),
                      "appears twice");
  expect_format_error(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                            d8),
                      "overlaps");
  expect_format_error(image(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", d8),
                      "overflows");
  expect_format_error(image(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8), "negative");
  expect_format_error(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", d8), "reversed");
  expect_format_error(image(R"({"a":{"dtype":"F32","shape":[1,1,1,1,2],"data_offsets":[0,8]}})", d8), "dimensions");
  expect_format_error(image(R"({"a":[[[[1]]]]})", ""), "nested too deeply");
  expect_format_error(image(R"({"__metadata__":{"k":1}})", ""), "not a string");
  // A number too large for JSON's number types (found by fuzzing).
  expect_format_error(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,22222E222222]}})", d8),
                      "not usable JSON");
}

TEST(SafetensorsParse, IndexMustMatchShards) {
  std::string dir = lt::scratch_dir();
  lt::write_file(dir + "/s1.safetensors",
                      image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')));
  lt::write_file(dir + "/index.json", R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors"}})");
  try {
    read_safetensors_index(dir + "/index.json");
    FAIL() << "missing tensor not detected";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("'b' listed in the index is missing"), std::string::npos) << e.what();
  }
  lt::write_file(dir + "/index.json", R"({"weight_map":{}})");
  EXPECT_THROW(read_safetensors_index(dir + "/index.json"), FormatError);
  lt::write_file(dir + "/index.json", R"({"weight_map":{"a":"../s1.safetensors"}})");
  EXPECT_THROW(read_safetensors_index(dir + "/index.json"), FormatError);
}

class GgufSafetensorsRoundTrip : public ::testing::TestWithParam<std::string> {};

// GGUF -> safetensors directory -> GGUF gives identical tensor bytes, shapes, types, order
// and metadata.
TEST_P(GgufSafetensorsRoundTrip, IdenticalTensorsAndMetadata) {
  const ModelFile original = read_gguf(lt::fixture_model(GetParam()));
  const std::string dir = lt::scratch_dir() + "/ckpt";
  save_model(original, dir);
  EXPECT_TRUE(fs::exists(dir + "/config.json"));
  EXPECT_TRUE(fs::exists(dir + "/model.safetensors"));

  const ModelFile loaded = load_model(dir);
  EXPECT_EQ(loaded.format, FileFormat::SAFETENSORS);
  EXPECT_TRUE(loaded.metadata == original.metadata);
  expect_same_tensors(original, loaded);

  const std::string gguf = lt::scratch_dir() + "/back.gguf";
  save_model(loaded, gguf);
  const ModelFile back = read_gguf(gguf);
  EXPECT_TRUE(back.metadata == original.metadata);
  expect_same_tensors(original, back);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GgufSafetensorsRoundTrip,
                         ::testing::Values("stories260K.gguf", "organism.gguf", "llama-f16.gguf", "llama-bf16.gguf",
                                           "qwen2-f16.gguf", "qwen3-f16.gguf", "qwen3moe-f16.gguf",
                                           "qwen35-f16.gguf"),
                         [](const auto& info) {
                           std::string n = info.param.substr(0, info.param.size() - 5);
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(SafetensorsWrite, QuantizedIsRefusedWithClearError) {
  const ModelFile q = read_gguf(lt::fixture_model("llama-q8_0.gguf"));
  const std::string parent = lt::scratch_dir();
  try {
    save_model(q, parent + "/out");
    FAIL() << "quantized model was written";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("tensor 'output.weight'"), std::string::npos) << msg;  // the first one in file order
    EXPECT_NE(msg.find("Q8_0"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--dequantize"), std::string::npos) << msg;
  }
  EXPECT_TRUE(fs::is_empty(parent)) << "nothing may be left behind";
}

TEST(SafetensorsWrite, DequantizeWritesDequantizeRowValues) {
  const ModelFile q = read_gguf(lt::fixture_model("llama-q4_k_m.gguf"));
  const std::string dir = lt::scratch_dir() + "/deq";
  SaveOptions opt;
  opt.dequantize = true;
  save_model(q, dir, opt);
  const ModelFile loaded = load_model(dir);
  ASSERT_EQ(loaded.tensors.size(), q.tensors.size());
  size_t quantized = 0;
  for (size_t k = 0; k < q.tensors.size(); ++k) {
    const TensorInfo& src = q.tensors[k];
    const TensorInfo& got = loaded.tensors[k];
    ASSERT_EQ(src.name, got.name);
    ASSERT_EQ(got.type, GgmlType::F32) << got.name;
    ASSERT_EQ(src.ne, got.ne);
    if (src.type == GgmlType::F32) continue;
    ++quantized;
    std::vector<float> want(static_cast<size_t>(src.n_elements()));
    for (int64_t r = 0; r < src.ne[1]; ++r)
      dequantize_row(src.type, src.data.data() + r * src.row_bytes(), want.data() + r * src.ne[0], src.ne[0]);
    EXPECT_EQ(0, std::memcmp(want.data(), got.data.data(), got.data.size())) << got.name;
  }
  EXPECT_EQ(quantized, 44u);
  if (q.metadata.contains("general.file_type"))
    EXPECT_EQ(loaded.metadata.get_int("general.file_type"), 0);  // ALL_F32 now
}

TEST(SafetensorsWrite, ShardedCheckpointWithIndex) {
  const ModelFile original = read_gguf(lt::fixture_model("qwen3moe-f16.gguf"));
  const std::string dir = lt::scratch_dir() + "/sharded";
  SaveOptions opt;
  opt.max_shard_bytes = 2 << 20;
  save_model(original, dir, opt);
  EXPECT_TRUE(fs::exists(dir + "/model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(dir + "/model.safetensors"));
  int shards = 0;
  for (const auto& e : fs::directory_iterator(dir)) shards += e.path().extension() == ".safetensors";
  EXPECT_GE(shards, 3);
  const ModelFile loaded = load_model(dir + "/model.safetensors.index.json");
  EXPECT_TRUE(loaded.metadata == original.metadata);
  expect_same_tensors(original, loaded);
  // One shard given by name reads the whole set through the index.
  expect_same_tensors(original, load_model(dir + "/model-00002-of-0000" + std::to_string(shards) + ".safetensors"));
}

TEST(SafetensorsWrite, ReplacesCheckpointButNotOtherDirectories) {
  const ModelFile a = read_gguf(lt::fixture_model("stories260K.gguf"));
  const std::string parent = lt::scratch_dir();
  const std::string dir = parent + "/ckpt";
  save_model(a, dir);
  lt::write_file(dir + "/stale.txt", "x");
  save_model(a, dir);  // an existing checkpoint is replaced whole
  EXPECT_FALSE(fs::exists(dir + "/stale.txt"));
  expect_same_tensors(a, load_model(dir));

  const std::string other = parent + "/other";
  fs::create_directories(other);
  lt::write_file(other + "/notes.txt", "keep me");
  EXPECT_THROW(save_model(a, other), Error);
  EXPECT_EQ(lt::read_file(other + "/notes.txt"), "keep me");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(parent)) ++entries;
  EXPECT_EQ(entries, 2u) << "no temporary directories may remain";
}

TEST(SafetensorsLoad, DispatchesOnFormat) {
  EXPECT_EQ(load_model(lt::fixture_model("stories260K.gguf")).format, FileFormat::GGUF);
  const std::string dir = lt::scratch_dir();
  lt::write_file(dir + "/junk.dat", "not a model at all");
  EXPECT_THROW(load_model(dir + "/junk.dat"), Error);
  EXPECT_THROW(load_model(dir), Error);  // a directory without config.json
  EXPECT_THROW(load_model(dir + "/missing"), Error);
}
