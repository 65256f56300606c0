// A corpus of damaged GGUF files generated from the fixtures: truncations, flipped header
// bytes, absurd counts and lengths, bad tensor infos. Each must be refused with a one-line
// FormatError naming the file and the byte, and nothing may crash or over-allocate.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <random>

#include "layerlab/io/error.h"
#include "layerlab/io/ggml_type.h"
#include "layerlab/io/gguf_image.h"
#include "layerlab/io/gguf_reader.h"
#include "test_support.h"

namespace layerlab {
namespace {

namespace fs = std::filesystem;

std::span<const std::byte> as_bytes(const std::string& s, size_t n = std::string::npos) {
  return {reinterpret_cast<const std::byte*>(s.data()), std::min(n, s.size())};
}

template <typename T>
void poke(std::string& bytes, uint64_t at, T value) {
  ASSERT_LE(at + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + at, &value, sizeof(T));
}

template <typename T>
T peek(const std::string& bytes, uint64_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  return value;
}

// Parses `bytes` and requires a FormatError that names the file and the byte; `expect` (if
// not empty) must occur in the message.
void expect_rejected(std::span<const std::byte> bytes, const std::string& name, const std::string& expect,
                     const std::string& what) {
  SCOPED_TRACE(what);
  try {
    read_gguf_from_memory(bytes, name);
    ADD_FAILURE() << "accepted: " << what;
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(name + ": at byte ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    if (!expect.empty()) {
      EXPECT_NE(msg.find(expect), std::string::npos) << msg;
    }
    EXPECT_LE(e.offset(), bytes.size()) << msg;
  }
}

// Where things are in a valid file, for aiming the damage.
struct Layout {
  gguf::Image image;
  uint64_t kv_begin = 24, infos_begin = 0, infos_end = 0, data_end = 0;
};

Layout layout_of(const std::string& bytes, const std::string& name) {
  Layout l;
  l.image = gguf::parse_image(as_bytes(bytes), name);
  l.infos_begin = l.image.info_offsets.empty() ? 0 : l.image.info_offsets.front();
  l.data_end = l.image.data_start;
  for (const auto& t : l.image.tensors)
    l.data_end = std::max<uint64_t>(l.data_end, t.data.data() + t.data.size() - as_bytes(bytes).data());
  l.infos_end = l.image.data_start;  // padding included; the last info ends before this
  return l;
}

// Offsets of the fields of tensor info k: name length, n_dims, ne[], type, offset.
struct InfoFields {
  uint64_t name_len, n_dims, ne, type, offset;
};
InfoFields info_fields(const std::string& bytes, uint64_t at) {
  InfoFields f;
  f.name_len = at;
  f.n_dims = at + 8 + peek<uint64_t>(bytes, at);
  f.ne = f.n_dims + 4;
  f.type = f.ne + 8 * peek<uint32_t>(bytes, f.n_dims);
  f.offset = f.type + 4;
  return f;
}

// A working copy of a file whose header region is reset before each damage: patches only
// touch the header, so the tensor data need not be copied again for every case.
class Workbench {
 public:
  Workbench(const std::string& orig, uint64_t header_end) : orig_(orig), work_(orig), header_end_(header_end) {}
  std::string& fresh() {
    std::memcpy(work_.data(), orig_.data(), header_end_);
    return work_;
  }

 private:
  const std::string& orig_;
  std::string work_;
  uint64_t header_end_;
};

std::vector<std::string> corpus_files() {
  std::vector<std::string> files;
  for (const auto& f : testing::fixture_model_files()) files.push_back(testing::fixture_model(f));
  files.push_back(testing::fixture_path("vocab/ggml-vocab-phi-3.gguf"));
  return files;
}

TEST(GgufCorrupt, TruncatedEverywhere) {
  for (const auto& path : corpus_files()) {
    const std::string bytes = testing::read_file(path);
    const std::string name = fs::path(path).filename().string();
    Layout l = layout_of(bytes, name);
    // 20 cut points: inside the header, spread over the key/values, the tensor infos and the
    // tensor data (up to the end of the last tensor; only padding follows it).
    std::vector<uint64_t> cuts = {0, 2, 4, 6, 8, 15, 16, 23};
    const uint64_t kv_end = l.infos_begin ? l.infos_begin : l.data_end;
    for (int k = 0; k < 5; ++k) cuts.push_back(l.kv_begin + (kv_end - l.kv_begin) * k / 5 + 1);
    if (!l.image.tensors.empty()) {
      for (int k = 0; k < 4; ++k) cuts.push_back(l.infos_begin + (l.infos_end - l.infos_begin) * k / 4 + 1);
      for (int k = 1; k <= 3; ++k) cuts.push_back(l.image.data_start + (l.data_end - l.image.data_start) * k / 4);
    } else {
      for (int k = 0; k < 7; ++k) cuts.push_back(l.kv_begin + (kv_end - l.kv_begin) * (2 * k + 1) / 14);
    }
    cuts.push_back(l.data_end - 1);
    ASSERT_EQ(cuts.size(), 21u);
    for (uint64_t cut : cuts) expect_rejected(as_bytes(bytes, cut), name, "", name + " cut at " + std::to_string(cut));
  }
}

TEST(GgufCorrupt, TruncatedFilesOnDisk) {
  // The mapped path reports the same way; on disk for the smaller files.
  const std::string dir = testing::scratch_dir();
  for (const char* file : {"stories260K.gguf", "llama-q2_k.gguf"}) {
    const std::string bytes = testing::read_file(testing::fixture_model(file));
    Layout l = layout_of(bytes, file);
    for (uint64_t cut : {uint64_t{3}, uint64_t{20}, l.infos_begin - 3, l.infos_begin + 40, l.data_end - 100}) {
      const std::string path = dir + "/cut.gguf";
      testing::write_file(path, bytes.substr(0, cut));
      try {
        read_gguf(path);
        ADD_FAILURE() << file << " cut at " << cut << " accepted";
      } catch (const FormatError& e) {
        EXPECT_EQ(std::string(e.what()).rfind(path + ": at byte ", 0), 0u) << e.what();
      }
    }
  }
  const std::string empty = dir + "/empty.gguf";
  testing::write_file(empty, "");
  EXPECT_THROW(read_gguf(empty), FormatError);
}

TEST(GgufCorrupt, HeaderFields) {
  for (const auto& path : corpus_files()) {
    const std::string orig = testing::read_file(path);
    const std::string name = fs::path(path).filename().string();
    Workbench bench(orig, 64);
    auto check = [&](const std::function<void(std::string&)>& patch, const std::string& expect, const std::string& what) {
      std::string& bytes = bench.fresh();
      patch(bytes);
      expect_rejected(as_bytes(bytes), name, expect, what);
    };
    for (int k = 0; k < 4; ++k)
      check([&](std::string& b) { b[k] = static_cast<char>(b[k] ^ 0x20); }, "bad magic", "magic byte");
    check([](std::string& b) { poke<uint32_t>(b, 4, 1); }, "version 1", "version 1");
    check([](std::string& b) { poke<uint32_t>(b, 4, 0x03000000); }, "big-endian", "byte-swapped version");
    check([](std::string& b) { poke<uint32_t>(b, 4, 4); }, "version 4", "version 4");
    check([](std::string& b) { poke<uint32_t>(b, 4, 0); }, "version", "version 0");
    check([](std::string& b) { poke<uint64_t>(b, 8, uint64_t{1} << 60); }, "tensor count", "2^60 tensors");
    check([](std::string& b) { poke<uint64_t>(b, 16, uint64_t{1} << 60); }, "key/value count", "2^60 kvs");
    check([](std::string& b) { poke<uint64_t>(b, 8, ~uint64_t{0}); }, "tensor count", "2^64-1 tensors");
    check([](std::string& b) { poke<uint64_t>(b, 16, peek<uint64_t>(b, 16) + 1); }, "", "one kv too many");
    check([](std::string& b) { poke<uint64_t>(b, 8, peek<uint64_t>(b, 8) + 1); }, "", "one tensor too many");
    check([](std::string& b) { poke<uint64_t>(b, 24, uint64_t{1} << 62); }, "claims", "2^62-byte first key");
  }
}

TEST(GgufCorrupt, KeyValues) {
  for (const auto& path : corpus_files()) {
    const std::string orig = testing::read_file(path);
    const std::string name = fs::path(path).filename().string();
    Layout l = layout_of(orig, name);
    Workbench bench(orig, l.image.data_start);
    const auto& items = l.image.metadata.items();
    for (size_t k = 0; k < items.size(); ++k) {
      const auto& [key, value] = items[k];
      const uint64_t at = l.image.key_offsets[k];
      const uint64_t type_at = at + 8 + key.size();
      std::string& b = bench.fresh();
      poke<uint32_t>(b, type_at, 13);
      expect_rejected(as_bytes(b), name, "invalid value type 13", key + " type 13");
      bench.fresh();
      poke<uint32_t>(b, type_at, 0xFFFFFFFF);
      expect_rejected(as_bytes(b), name, "invalid value type", key + " type -1");
      if (value.type == ValueType::STRING) {
        bench.fresh();
        poke<uint64_t>(b, type_at + 4, uint64_t{1} << 62);
        expect_rejected(as_bytes(b), name, "claims", key + " 2^62-byte string");
      }
      if (value.type == ValueType::ARRAY) {
        bench.fresh();
        poke<uint32_t>(b, type_at + 4, 9);
        expect_rejected(as_bytes(b), name, "nested", key + " nested array");
        bench.fresh();
        poke<uint32_t>(b, type_at + 4, 77);
        expect_rejected(as_bytes(b), name, "element type", key + " bad element type");
        bench.fresh();
        poke<uint64_t>(b, type_at + 8, uint64_t{1} << 60);
        expect_rejected(as_bytes(b), name, "cannot fit", key + " 2^60 elements");
        if (value.elem_type == ValueType::STRING && !value.items.empty()) {
          bench.fresh();
          poke<uint64_t>(b, type_at + 16, ~uint64_t{0});
          expect_rejected(as_bytes(b), name, "claims", key + " huge first element");
        }
      }
      if (value.type == ValueType::BOOL) {
        bench.fresh();
        b[type_at + 4] = 7;
        expect_rejected(as_bytes(b), name, "bool", key + " bool 7");
      }
      if (k + 1 < items.size() && items[k + 1].first.size() == key.size()) {
        bench.fresh();  // the next key renamed to this one
        std::memcpy(b.data() + l.image.key_offsets[k + 1] + 8, key.data(), key.size());
        expect_rejected(as_bytes(b), name, "duplicate key", key + " duplicated");
      }
    }
  }
}

TEST(GgufCorrupt, TensorInfos) {
  for (const auto& file : testing::fixture_model_files()) {
    const std::string orig = testing::read_file(testing::fixture_model(file));
    Layout l = layout_of(orig, file);
    Workbench bench(orig, l.image.data_start);
    const auto& tensors = l.image.tensors;
    ASSERT_GE(tensors.size(), 2u);
    // Each kind of damage, on a few tensors (first, second, last).
    for (size_t k : {size_t{0}, size_t{1}, tensors.size() - 1}) {
      const TensorInfo& t = tensors[k];
      const InfoFields f = info_fields(orig, l.image.info_offsets[k]);
      auto info = ggml_type_info(static_cast<uint32_t>(t.type));
      auto damaged = [&](const std::function<void(std::string&)>& patch, const std::string& expect,
                         const std::string& what) {
        std::string& b = bench.fresh();
        patch(b);
        expect_rejected(as_bytes(b), file, expect, t.name + ": " + what);
      };
      damaged([&](std::string& b) { poke<uint32_t>(b, f.n_dims, 5); }, "dimensions", "5 dims");
      damaged([&](std::string& b) { poke<uint32_t>(b, f.n_dims, 0xFFFFFFFF); }, "dimensions", "2^32-1 dims");
      damaged([&](std::string& b) { poke<int64_t>(b, f.ne, -1); }, "dimension 0 is -1", "negative dim");
      damaged([&](std::string& b) { poke<int64_t>(b, f.ne, 0); }, "dimension 0 is 0", "zero dim");
      damaged([&](std::string& b) { poke<int64_t>(b, f.ne, int64_t{1} << 62); }, "", "2^62 dim");
      if (t.n_dims >= 2) {
        damaged([&](std::string& b) { poke<int64_t>(b, f.ne + 8, INT64_MAX); }, "overflows", "INT64_MAX dim");
        damaged([&](std::string& b) { poke<int64_t>(b, f.ne + 8, int64_t{1} << 40); }, "past the end", "huge dim");
      }
      if (info->block_size > 1)
        damaged([&](std::string& b) { poke<int64_t>(b, f.ne, t.ne[0] + 1); }, "block size", "ne0 not whole blocks");
      damaged([&](std::string& b) { poke<uint32_t>(b, f.type, 99); }, "tensor '" + t.name + "' has unknown ggml type 99",
              "type 99");
      damaged([&](std::string& b) { poke<uint32_t>(b, f.type, 4); }, "unknown ggml type 4", "removed type 4");
      damaged([&](std::string& b) { poke<uint64_t>(b, f.offset, peek<uint64_t>(b, f.offset) + 1); }, "alignment",
              "unaligned offset");
      damaged([&](std::string& b) { poke<uint64_t>(b, f.offset, uint64_t{1} << 62); }, "past the end", "far offset");
      damaged([&](std::string& b) { poke<uint64_t>(b, f.offset, ~uint64_t{31}); }, "past the end", "wrapping offset");
      damaged([&](std::string& b) { poke<uint64_t>(b, f.name_len, uint64_t{1} << 62); }, "claims", "2^62-byte name");
      // Overlap: this tensor moved onto its neighbour's data.
      const size_t other = k == 0 ? 1 : k - 1;
      const uint64_t other_offset = peek<uint64_t>(orig, info_fields(orig, l.image.info_offsets[other]).offset);
      damaged([&](std::string& b) { poke<uint64_t>(b, f.offset, other_offset); }, "overlaps", "overlap");
    }
    // Duplicate names: a tensor renamed to another of the same name length.
    bool duplicated = false;
    for (size_t a = 0; a < tensors.size() && !duplicated; ++a)
      for (size_t b = a + 1; b < tensors.size() && !duplicated; ++b)
        if (tensors[a].name.size() == tensors[b].name.size()) {
          std::string& bytes = bench.fresh();
          std::memcpy(bytes.data() + l.image.info_offsets[b] + 8, tensors[a].name.data(), tensors[a].name.size());
          expect_rejected(as_bytes(bytes), file, "duplicate tensor name '" + tensors[a].name + "'", "duplicate name");
          duplicated = true;
        }
    EXPECT_TRUE(duplicated);
  }
}

// Hand-built files for what cannot be patched in place.
class Builder {
 public:
  Builder(uint64_t n_tensors, uint64_t n_kv) {
    bytes_ = "GGUF";
    u32(3);
    u64(n_tensors);
    u64(n_kv);
  }
  Builder& u32(uint32_t v) { return raw(&v, 4); }
  Builder& u64(uint64_t v) { return raw(&v, 8); }
  Builder& i64(int64_t v) { return raw(&v, 8); }
  Builder& str(const std::string& s) {
    u64(s.size());
    bytes_ += s;
    return *this;
  }
  Builder& kv_u32(const std::string& key, uint32_t v) { return str(key).u32(4).u32(v); }
  Builder& kv_str(const std::string& key, const std::string& v) { return str(key).u32(8).str(v); }
  Builder& info(const std::string& name, std::vector<int64_t> ne, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (int64_t n : ne) i64(n);
    return u32(type).u64(offset);
  }
  Builder& pad(size_t alignment) {
    bytes_.resize((bytes_.size() + alignment - 1) / alignment * alignment, '\0');
    return *this;
  }
  Builder& zeros(size_t n) {
    bytes_.append(n, '\0');
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  Builder& raw(const void* p, size_t n) {
    bytes_.append(static_cast<const char*>(p), n);
    return *this;
  }
  std::string bytes_;
};

TEST(GgufCorrupt, HandBuilt) {
  const std::string n = "built.gguf";
  // A valid baseline first, so the damaged variants below fail for the stated reason.
  EXPECT_NO_THROW(read_gguf_from_memory(
      as_bytes(Builder(1, 1).kv_str("general.architecture", "x").info("a", {4}, 0, 0).pad(32).zeros(32).bytes()), n));
  auto rejected = [&](const Builder& b, const std::string& expect) { expect_rejected(as_bytes(b.bytes()), n, expect, expect); };
  rejected(Builder(1, 0).info(std::string(64, 'n'), {4}, 0, 0).pad(32).zeros(32), "limit is 63");
  rejected(Builder(0, 2).kv_u32("a", 1).kv_u32("a", 2), "duplicate key 'a'");
  rejected(Builder(0, 1).kv_u32("general.alignment", 48), "power of two");
  rejected(Builder(0, 1).kv_u32("general.alignment", 0), "power of two");
  rejected(Builder(0, 1).str("general.alignment").u32(10).u64(32), "must be u32");
  rejected(Builder(0, 1).str("k").u32(9).u32(9).u64(0), "nested arrays");
  rejected(Builder(0, 1).str("k\nnext").u32(13), "'k?next': invalid value type 13");
  rejected(Builder(1, 0).info("t", {32}, 2, 0), "truncated");
  rejected(Builder(2, 0).info("a", {8}, 0, 0).info("b", {8}, 0, 0).pad(32).zeros(64), "overlaps");
  rejected(Builder(2, 0).info("a", {8}, 0, 0).info("b", {8}, 0, 16).pad(32).zeros(64), "alignment");
  rejected(Builder(2, 0).info("a", {16}, 0, 32).info("b", {8}, 0, 64).pad(32).zeros(96), "overlaps");
  rejected(Builder(1, 0).info("t", {1, 1, 1, 1, 1}, 0, 0), "dimensions");
  rejected(Builder(1, 0).info("t", {1 << 20, 1 << 20, 1 << 20, 1 << 20}, 0, 0).pad(32), "overflows");
  // Split-set keys on a file given from memory, and split keys of the wrong type.
  rejected(Builder(0, 1).kv_u32("split.count", 3), "split set");
  rejected(Builder(0, 1).kv_str("split.count", "3"), "must be an integer");
  // Out-of-order but disjoint offsets are accepted (only overlap is an error).
  EXPECT_NO_THROW(read_gguf_from_memory(
      as_bytes(Builder(2, 0).info("a", {8}, 0, 32).info("b", {8}, 0, 0).pad(32).zeros(64).bytes()), n));
}

TEST(GgufCorrupt, RandomByteFlipsNeverCrash) {
  // Random damage to the header region of a small fixture: either it parses or it is an Error.
  const std::string orig = testing::read_file(testing::fixture_model("stories260K.gguf"));
  Layout l = layout_of(orig, "stories260K.gguf");
  std::mt19937_64 rng(1234);
  std::uniform_int_distribution<uint64_t> where(0, l.image.data_start - 1);
  int rejected = 0;
  for (int round = 0; round < 400; ++round) {
    std::string b = orig;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) b[where(rng)] = static_cast<char>(rng());
    try {
      read_gguf_from_memory(as_bytes(b), "flipped.gguf");
    } catch (const Error& e) {
      ++rejected;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace layerlab
