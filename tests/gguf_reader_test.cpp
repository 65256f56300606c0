// Reading GGUF: every fixture model against MANIFEST.fixtures.json, the vocab GGUFs, the
// in-memory entry, v2 files, ggml block sizes, and types that load but cannot be computed.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "layerlab/io/error.h"
#include "layerlab/io/ggml_type.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/io/gguf_writer.h"
#include "test_support.h"

namespace layerlab {
namespace {

namespace fs = std::filesystem;
using testing::fixture_model;
using testing::fixture_path;

nlohmann::json manifest() {
  return nlohmann::json::parse(testing::read_file(fixture_model("MANIFEST.fixtures.json")));
}

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

TEST(GgufReader, EveryManifestModelMatches) {
  auto m = manifest();
  ASSERT_GE(m.size(), 17u);
  for (const auto& [file, entry] : m.items()) {
    SCOPED_TRACE(file);
    ModelFile model = read_gguf(fixture_model(file));
    EXPECT_EQ(model.format, FileFormat::GGUF);
    EXPECT_EQ(model.gguf_version, 3u);
    EXPECT_EQ(model.alignment, 32u);
    EXPECT_EQ(model.file_bytes(), entry["bytes"].get<uint64_t>());
    EXPECT_EQ(model.architecture(), entry["architecture"].get<std::string>());
    EXPECT_EQ(model.metadata.get_int("general.file_type"), entry["general.file_type"].get<int64_t>());
    ASSERT_EQ(model.tensors.size(), entry["n_tensors"].get<size_t>());
    ASSERT_EQ(model.tensors.size(), entry["tensors"].size());
    const auto mapping = model.mappings.at(0)->bytes();
    for (const auto& t : model.tensors) {
      SCOPED_TRACE(t.name);
      ASSERT_TRUE(entry["tensors"].contains(t.name));
      const auto& want = entry["tensors"][t.name];
      EXPECT_EQ(std::string(ggml_type_name(t.type)), want[0].get<std::string>());
      const auto& shape = want[1];
      ASSERT_EQ(t.n_dims, shape.size());
      for (size_t d = 0; d < 4; ++d) EXPECT_EQ(t.ne[d], d < shape.size() ? shape[d].get<int64_t>() : 1);
      // Data is a view into the mapping, not a copy, and exactly n_bytes long.
      EXPECT_EQ(t.data.size(), t.n_bytes());
      EXPECT_GE(t.data.data(), mapping.data());
      EXPECT_LE(t.data.data() + t.data.size(), mapping.data() + mapping.size());
      EXPECT_EQ((t.data.data() - mapping.data()) % 32, 0);
    }
    // Hyperparameters as stored under <arch>.<key> (vocab_size may only exist as the token list).
    const std::string arch = entry["architecture"];
    for (const auto& [key, value] : entry["hparams"].items()) {
      SCOPED_TRACE(key);
      const Value* v = model.metadata.find(arch + "." + key);
      if (key == "vocab_size" && !v) {
        const Value* tokens = model.metadata.find("tokenizer.ggml.tokens");
        ASSERT_NE(tokens, nullptr);
        EXPECT_EQ(tokens->items.size(), value.get<size_t>());
        continue;
      }
      ASSERT_NE(v, nullptr);
      if (value.is_array()) {
        ASSERT_TRUE(v->is_array());
        ASSERT_EQ(v->items.size(), value.size());
        for (size_t k = 0; k < value.size(); ++k) EXPECT_EQ(v->items[k].as_int(), value[k].get<int64_t>());
      } else if (v->is_float()) {
        EXPECT_NEAR(*v->as_double(), value.get<double>(), std::abs(value.get<double>()) * 1e-7);
      } else {
        EXPECT_EQ(v->as_int(), value.get<int64_t>());
      }
    }
  }
}

TEST(GgufReader, EveryModelFileReads) {
  for (const auto& file : testing::fixture_model_files()) {
    SCOPED_TRACE(file);
    ModelFile model = read_gguf(fixture_model(file));
    EXPECT_FALSE(model.tensors.empty());
    EXPECT_FALSE(model.architecture().empty());
    EXPECT_EQ(model.paths, std::vector<std::string>{fixture_model(file)});
  }
}

TEST(GgufReader, VocabFilesHaveNoTensors) {
  int seen = 0;
  for (const auto& e : fs::directory_iterator(fixture_path("vocab"))) {
    if (e.path().extension() != ".gguf") continue;
    SCOPED_TRACE(e.path().string());
    ModelFile model = read_gguf(e.path().string());
    EXPECT_TRUE(model.tensors.empty());
    const Value* tokens = model.metadata.find("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_EQ(tokens->elem_type, ValueType::STRING);
    EXPECT_GT(tokens->items.size(), 1000u);
    EXPECT_TRUE(model.metadata.get_string("tokenizer.ggml.model").has_value());
    ++seen;
  }
  EXPECT_EQ(seen, 4);
}

TEST(GgufReader, MemoryEntryMatchesMappedFile) {
  const std::string path = fixture_model("qwen35-f16.gguf");
  const std::string bytes = testing::read_file(path);
  ModelFile mapped = read_gguf(path);
  ModelFile memory = read_gguf_from_memory(as_bytes(bytes), "in-memory");
  EXPECT_EQ(memory.metadata, mapped.metadata);
  ASSERT_EQ(memory.tensors.size(), mapped.tensors.size());
  for (size_t k = 0; k < mapped.tensors.size(); ++k) {
    EXPECT_EQ(memory.tensors[k].name, mapped.tensors[k].name);
    EXPECT_EQ(memory.tensors[k].ne, mapped.tensors[k].ne);
    ASSERT_EQ(memory.tensors[k].data.size(), mapped.tensors[k].data.size());
    EXPECT_EQ(std::memcmp(memory.tensors[k].data.data(), mapped.tensors[k].data.data(), mapped.tensors[k].data.size()), 0);
    // The memory entry points into the caller's buffer.
    EXPECT_GE(memory.tensors[k].data.data(), as_bytes(bytes).data());
  }
}

TEST(GgufReader, MetadataValueTypesAreKept) {
  ModelFile model = read_gguf(fixture_model("llama-q4_0.gguf"));
  const Value* arch = model.metadata.find("general.architecture");
  ASSERT_NE(arch, nullptr);
  EXPECT_EQ(arch->type, ValueType::STRING);
  EXPECT_EQ(model.metadata.find("llama.block_count")->type, ValueType::U32);
  EXPECT_EQ(model.metadata.find("llama.rope.freq_base")->type, ValueType::F32);
  const Value* scores = model.metadata.find("tokenizer.ggml.scores");
  ASSERT_NE(scores, nullptr);
  EXPECT_EQ(scores->elem_type, ValueType::F32);
  const Value* types = model.metadata.find("tokenizer.ggml.token_type");
  ASSERT_NE(types, nullptr);
  EXPECT_EQ(types->elem_type, ValueType::I32);
  EXPECT_EQ(model.metadata.get_bool("tokenizer.ggml.add_bos_token"), true);
  // Synthetic vocabulary from the fixture spec: id 1 is <s>, ids 3.. are byte tokens.
  const Value* tokens = model.metadata.find("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens->items.size(), 512u);
  EXPECT_EQ(tokens->items[1].str, "<s>");
  EXPECT_EQ(tokens->items[3].str, "<0x00>");
}

TEST(GgufReader, VersionTwoReads) {
  std::string bytes = testing::read_file(fixture_model("stories260K.gguf"));
  const uint32_t v2 = 2;
  std::memcpy(bytes.data() + 4, &v2, 4);
  const std::string path = testing::scratch_dir() + "/v2.gguf";
  testing::write_file(path, bytes);
  ModelFile model = read_gguf(path);
  EXPECT_EQ(model.gguf_version, 2u);
  EXPECT_EQ(model.tensors.size(), 47u);
}

TEST(GgmlTypes, BlockSizesMatchGgml) {
  struct Want { GgmlType type; uint32_t block, bytes; };
  // From the block structs of ggml-common.h.
  const Want want[] = {
      {GgmlType::Q4_0, 32, 18},    {GgmlType::Q8_0, 32, 34},    {GgmlType::Q2_K, 256, 84},
      {GgmlType::Q3_K, 256, 110},  {GgmlType::Q4_K, 256, 144},  {GgmlType::Q5_K, 256, 176},
      {GgmlType::Q6_K, 256, 210},  {GgmlType::Q8_K, 256, 292},  {GgmlType::IQ2_XXS, 256, 66},
      {GgmlType::IQ2_XS, 256, 74}, {GgmlType::IQ3_XXS, 256, 98}, {GgmlType::IQ1_S, 256, 50},
      {GgmlType::IQ4_NL, 32, 18},  {GgmlType::IQ3_S, 256, 110}, {GgmlType::IQ2_S, 256, 82},
      {GgmlType::IQ4_XS, 256, 136}, {GgmlType::IQ1_M, 256, 56}, {GgmlType::TQ1_0, 256, 54},
      {GgmlType::TQ2_0, 256, 66},  {GgmlType::MXFP4, 32, 17},   {GgmlType::NVFP4, 64, 36},
      {GgmlType::Q1_0, 128, 18},   {GgmlType::Q2_0, 64, 18},    {GgmlType::BF16, 1, 2},
  };
  for (const auto& w : want) {
    auto info = ggml_type_info(static_cast<uint32_t>(w.type));
    ASSERT_TRUE(info.has_value());
    SCOPED_TRACE(std::string(info->name));
    EXPECT_EQ(info->block_size, w.block);
    EXPECT_EQ(info->type_size, w.bytes);
  }
  for (uint32_t removed : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 43u}) EXPECT_FALSE(ggml_type_info(removed));
}

// A file with one tensor of every known type, including ones layerlab cannot compute with.
TEST(GgufReader, EveryKnownTypeLoads) {
  ModelFile model;
  model.metadata.set("general.architecture", Value::string("test"));
  std::vector<std::byte> zeros(1 << 16);
  for (uint32_t id = 0; id < 64; ++id) {
    auto info = ggml_type_info(id);
    if (!info) continue;
    TensorInfo t;
    t.name = "t." + std::string(info->name);
    t.type = info->type;
    t.n_dims = 2;
    t.ne = {static_cast<int64_t>(info->block_size) * 2, 3, 1, 1};
    t.data = std::span<const std::byte>(zeros).first(t.n_bytes());
    model.tensors.push_back(t);
  }
  ASSERT_EQ(model.tensors.size(), 35u);
  const std::string path = testing::scratch_dir() + "/types.gguf";
  write_gguf(model, path);
  ModelFile back = read_gguf(path);
  ASSERT_EQ(back.tensors.size(), model.tensors.size());
  for (size_t k = 0; k < back.tensors.size(); ++k) {
    EXPECT_EQ(back.tensors[k].type, model.tensors[k].type);
    EXPECT_EQ(back.tensors[k].data.size(), model.tensors[k].data.size());
  }
  EXPECT_NE(back.find_tensor("t.IQ2_XXS"), nullptr);
}

TEST(GgufSplitName, ParsesAndFormats) {
  EXPECT_EQ(gguf_split_path("dir/model", 2, 5), "dir/model-00002-of-00005.gguf");
  auto n = parse_gguf_split_name("dir/model-q4-00002-of-00005.gguf");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->prefix, "dir/model-q4");
  EXPECT_EQ(n->index, 2u);
  EXPECT_EQ(n->count, 5u);
  EXPECT_FALSE(parse_gguf_split_name("model.gguf"));
  EXPECT_FALSE(parse_gguf_split_name("model-0001-of-00005.gguf"));
  EXPECT_FALSE(parse_gguf_split_name("model-00006-of-00005.gguf"));
  EXPECT_FALSE(parse_gguf_split_name("model-00001-of-00005.bin"));
}

}  // namespace
}  // namespace layerlab
