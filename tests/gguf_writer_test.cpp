// Writing GGUF: round trips of every fixture (metadata, tensor bytes and whole files), split
// sets written and read back, alignment, and atomic failure behaviour.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/io/gguf_writer.h"
#include "test_support.h"

namespace layerlab {
namespace {

namespace fs = std::filesystem;
using testing::fixture_model;

std::vector<std::string> all_fixture_ggufs() {
  std::vector<std::string> files;
  for (const auto& f : testing::fixture_model_files()) files.push_back(fixture_model(f));
  for (const auto& e : fs::directory_iterator(testing::fixture_path("vocab")))
    if (e.path().extension() == ".gguf") files.push_back(e.path().string());
  return files;
}

void expect_same_model(const ModelFile& a, const ModelFile& b) {
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t k = 0; k < a.tensors.size(); ++k) {
    const TensorInfo& x = a.tensors[k];
    const TensorInfo& y = b.tensors[k];
    SCOPED_TRACE(x.name);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.type, y.type);
    EXPECT_EQ(x.n_dims, y.n_dims);
    EXPECT_EQ(x.ne, y.ne);
    ASSERT_EQ(x.data.size(), y.data.size());
    EXPECT_EQ(std::memcmp(x.data.data(), y.data.data(), x.data.size()), 0);
  }
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(GgufWriter, EveryFixtureRoundTripsByteIdentically) {
  const std::string dir = testing::scratch_dir();
  int n = 0;
  for (const auto& path : all_fixture_ggufs()) {
    SCOPED_TRACE(path);
    ModelFile model = read_gguf(path);
    const std::string out = dir + "/out.gguf";
    EXPECT_EQ(write_gguf(model, out), std::vector<std::string>{out});
    ModelFile back = read_gguf(out);
    expect_same_model(model, back);
    EXPECT_EQ(back.alignment, model.alignment);
    // The fixtures are packed in info order with zero padding, as this writer does, so the
    // whole file comes back unchanged.
    EXPECT_TRUE(testing::read_file(out) == testing::read_file(path)) << "file bytes differ";
    ++n;
  }
  EXPECT_EQ(n, 19 + 4);
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"out.gguf"});  // no temporaries left
}

TEST(GgufWriter, KeepsOrderAndTypesOfEditedMetadata) {
  ModelFile model = read_gguf(fixture_model("stories260K.gguf"));
  model.metadata.set("general.name", Value::string("edited"));
  model.metadata.set("test.u64", Value::u64(1ull << 40));
  Value i8;
  i8.type = ValueType::I8;
  i8.i = -5;
  model.metadata.set("test.i8", i8);
  Value f64;
  f64.type = ValueType::F64;
  f64.f = 0.1;
  model.metadata.set("test.f64s", Value::array(ValueType::F64, {f64, f64}));
  model.metadata.set("test.empty", Value::array(ValueType::STRING, {}));
  const std::string out = testing::scratch_dir() + "/edited.gguf";
  write_gguf(model, out);
  ModelFile back = read_gguf(out);
  expect_same_model(model, back);
  EXPECT_EQ(back.metadata.items().back().first, "test.empty");
  EXPECT_EQ(back.metadata.find("test.i8")->type, ValueType::I8);
  EXPECT_EQ(back.metadata.find("test.i8")->as_int(), -5);
}

TEST(GgufWriter, AlignmentOption) {
  ModelFile model = read_gguf(fixture_model("llama-q4_0.gguf"));
  const std::string out = testing::scratch_dir() + "/a64.gguf";
  write_gguf(model, out, {.alignment = 64});
  ModelFile back = read_gguf(out);
  EXPECT_EQ(back.alignment, 64u);
  EXPECT_EQ(back.metadata.find("general.alignment")->u, 64u);
  for (const auto& t : back.tensors)
    EXPECT_EQ((t.data.data() - back.mappings[0]->data()) % 64, 0);
  back.metadata.erase("general.alignment");
  expect_same_model(model, back);
  EXPECT_THROW(write_gguf(model, out, {.alignment = 48}), Error);
}

TEST(GgufWriter, SplitSetReadsBackFromAnyPart) {
  ModelFile model = read_gguf(fixture_model("llama-q8_0.gguf"));  // 57 tensors
  const std::string dir = testing::scratch_dir();
  auto paths = write_gguf(model, dir + "/set.gguf", {.split_max_tensors = 20});
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(paths[0], dir + "/set-00001-of-00003.gguf");
  EXPECT_EQ(files_in(dir), (std::vector<std::string>{"set-00001-of-00003.gguf", "set-00002-of-00003.gguf",
                                                     "set-00003-of-00003.gguf"}));
  for (const auto& start : {paths[0], paths[2]}) {
    ModelFile back = read_gguf(start);
    expect_same_model(model, back);
    EXPECT_FALSE(back.metadata.contains(kSplitCountKey));
    EXPECT_EQ(back.paths, paths);
    ASSERT_EQ(back.mappings.size(), 3u);
    EXPECT_EQ(back.tensors[0].source_index, 0u);
    EXPECT_EQ(back.tensors[20].source_index, 1u);
    EXPECT_EQ(back.tensors[56].source_index, 2u);
    EXPECT_EQ(back.file_bytes(), fs::file_size(paths[0]) + fs::file_size(paths[1]) + fs::file_size(paths[2]));
  }
}

TEST(GgufWriter, SplitByBytes) {
  ModelFile model = read_gguf(fixture_model("stories260K.gguf"));
  const std::string dir = testing::scratch_dir();
  auto paths = write_gguf(model, dir + "/s.gguf", {.split_max_bytes = 300000});
  ASSERT_GT(paths.size(), 2u);
  // Each part holds at most the limit of tensor data (plus its header; part 1 has the metadata).
  for (const auto& p : paths) EXPECT_LE(fs::file_size(p), 300000u + 64u * 1024u);
  expect_same_model(model, read_gguf(paths[1]));
}

TEST(GgufWriter, SplitSetErrors) {
  ModelFile model = read_gguf(fixture_model("stories260K.gguf"));
  const std::string dir = testing::scratch_dir();
  auto paths = write_gguf(model, dir + "/m.gguf", {.split_max_tensors = 20});
  ASSERT_EQ(paths.size(), 3u);
  // A missing part.
  fs::rename(paths[2], dir + "/elsewhere.gguf");
  EXPECT_THROW(read_gguf(paths[0]), Error);
  fs::rename(dir + "/elsewhere.gguf", paths[2]);
  // A part renamed out of its set: the name no longer tells where the others are.
  fs::copy_file(paths[1], dir + "/loose.gguf");
  try {
    read_gguf(dir + "/loose.gguf");
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("loose.gguf: at byte"), std::string::npos) << e.what();
  }
  // Parts swapped: split.no disagrees with the name.
  fs::rename(paths[1], dir + "/tmp.gguf");
  fs::rename(paths[2], paths[1]);
  fs::rename(dir + "/tmp.gguf", paths[2]);
  EXPECT_THROW(read_gguf(paths[0]), FormatError);
}

TEST(GgufWriter, WritesOverItsOwnSource) {
  const std::string path = testing::scratch_dir() + "/self.gguf";
  fs::copy_file(fixture_model("llama-q2_k.gguf"), path);
  ModelFile model = read_gguf(path);
  model.metadata.set("general.name", Value::string("rewritten"));
  write_gguf(model, path);  // the old mapping stays valid: the new file is renamed over it
  ModelFile back = read_gguf(path);
  expect_same_model(model, back);
}

TEST(GgufWriter, InvalidModelsLeaveNothingBehind) {
  const std::string dir = testing::scratch_dir();
  ModelFile model = read_gguf(fixture_model("stories260K.gguf"));
  ModelFile bad = model;
  bad.tensors[3].data = bad.tensors[3].data.first(bad.tensors[3].data.size() - 4);
  EXPECT_THROW(write_gguf(bad, dir + "/x.gguf"), Error);
  bad = model;
  bad.tensors[2].name = bad.tensors[1].name;
  EXPECT_THROW(write_gguf(bad, dir + "/x.gguf"), Error);
  bad = model;
  bad.tensors[0].name = std::string(64, 'n');
  EXPECT_THROW(write_gguf(bad, dir + "/x.gguf"), Error);
  bad = model;
  bad.metadata.set("nested", Value::array(ValueType::ARRAY, {}));
  EXPECT_THROW(write_gguf(bad, dir + "/x.gguf"), Error);
  EXPECT_TRUE(files_in(dir).empty());
  // An unwritable target: an error, and no temporary left in the (existing) parent.
  EXPECT_THROW(write_gguf(model, dir + "/missing-dir/x.gguf"), Error);
  EXPECT_TRUE(files_in(dir).empty());
}

}  // namespace
}  // namespace layerlab
