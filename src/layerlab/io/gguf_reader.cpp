#include "layerlab/io/gguf_reader.h"

#include <fmt/format.h>

#include <cctype>
#include <memory>
#include <unordered_map>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_image.h"

namespace layerlab {
namespace {

// An integer-valued split key, or nullopt if absent; other value types are an error.
std::optional<int64_t> split_int(const gguf::Image& img, const std::string& path, const char* key) {
  const Value* v = img.metadata.find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer())
    throw FormatError(path, img.key_offset(key), fmt::format("{} must be an integer, not {}", key, value_type_name(v->type)));
  return v->as_int();
}

void strip_split_keys(Metadata& m) {
  for (const char* k : {kSplitNoKey, kSplitCountKey, kSplitTensorsCountKey}) m.erase(k);
}

// The split.count of an image: 1 for a plain file.
uint32_t split_count_of(const gguf::Image& img, const std::string& path) {
  auto count = split_int(img, path, kSplitCountKey);
  if (!count) return 1;
  if (*count < 1 || *count > 99999)
    throw FormatError(path, img.key_offset(kSplitCountKey), fmt::format("split.count {} is out of range", *count));
  return static_cast<uint32_t>(*count);
}

ModelFile model_from_image(gguf::Image img, const std::string& path, uint32_t part) {
  ModelFile m;
  m.format = FileFormat::GGUF;
  m.paths = {path};
  m.gguf_version = img.version;
  m.alignment = img.alignment;
  m.metadata = std::move(img.metadata);
  strip_split_keys(m.metadata);
  m.tensors = std::move(img.tensors);
  for (auto& t : m.tensors) t.source_index = part;
  return m;
}

struct Part {
  std::shared_ptr<const MappedFile> file;
  gguf::Image image;
};

ModelFile read_split_set(Part given, const std::string& path, uint32_t count) {
  auto name = parse_gguf_split_name(path);
  if (!name)
    throw FormatError(path, given.image.key_offset(kSplitCountKey),
                      fmt::format("split.count is {} but the file name does not follow NAME-00001-of-{:05}.gguf", count, count));
  if (name->count != count)
    throw FormatError(path, given.image.key_offset(kSplitCountKey),
                      fmt::format("split.count is {} but the file name says {} parts", count, name->count));

  std::vector<Part> parts(count);
  for (uint32_t k = 0; k < count; ++k) {
    std::string part_path = gguf_split_path(name->prefix, k + 1, count);
    if (k + 1 == name->index) {
      parts[k] = std::move(given);
    } else {
      auto file = std::make_shared<const MappedFile>(part_path);
      parts[k].image = gguf::parse_image(file->bytes(), part_path);
      parts[k].file = std::move(file);
    }
    const gguf::Image& img = parts[k].image;
    auto no = split_int(img, part_path, kSplitNoKey);
    if (!no || *no != static_cast<int64_t>(k))
      throw FormatError(part_path, img.key_offset(kSplitNoKey),
                        fmt::format("split.no is {} but the file is part {} of {}", no ? fmt::format("{}", *no) : "missing",
                                    k + 1, count));
    if (split_count_of(img, part_path) != count)
      throw FormatError(part_path, img.key_offset(kSplitCountKey),
                        fmt::format("split.count differs from the first part's ({})", count));
  }

  const std::string first_path = gguf_split_path(name->prefix, 1, count);
  auto expected = split_int(parts[0].image, first_path, kSplitTensorsCountKey);
  const uint64_t expected_at = parts[0].image.key_offset(kSplitTensorsCountKey);
  // File offset of each merged tensor's info, for messages about duplicates.
  std::vector<uint64_t> info_at = parts[0].image.info_offsets;
  ModelFile m = model_from_image(std::move(parts[0].image), first_path, 0);
  m.mappings.push_back(parts[0].file);
  std::unordered_map<std::string_view, uint32_t> seen;
  for (uint32_t k = 1; k < count; ++k) {
    std::string part_path = gguf_split_path(name->prefix, k + 1, count);
    gguf::Image& img = parts[k].image;
    auto tc = split_int(img, part_path, kSplitTensorsCountKey);
    if (tc != expected)
      throw FormatError(part_path, img.key_offset(kSplitTensorsCountKey),
                        "split.tensors.count differs from the first part's");
    m.paths.push_back(part_path);
    m.mappings.push_back(parts[k].file);
    m.tensors.reserve(m.tensors.size() + img.tensors.size());
    for (size_t i = 0; i < img.tensors.size(); ++i) {
      info_at.push_back(img.info_offsets[i]);
      TensorInfo t = std::move(img.tensors[i]);
      t.source_index = k;
      m.tensors.push_back(std::move(t));
    }
  }
  // Names must be unique across the whole set (string_views point into m.tensors, now stable).
  seen.clear();
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const TensorInfo& t = m.tensors[i];
    auto [it, inserted] = seen.emplace(t.name, t.source_index);
    if (!inserted)
      throw FormatError(m.paths[t.source_index], info_at[i],
                        fmt::format("tensor '{}' also appears in part {}", gguf::printable(t.name), it->second + 1));
  }
  if (expected && *expected != static_cast<int64_t>(m.tensors.size()))
    throw FormatError(first_path, expected_at,
                      fmt::format("split.tensors.count is {} but the {} parts hold {} tensors", *expected, count,
                                  m.tensors.size()));
  return m;
}

}  // namespace

std::string gguf_split_path(const std::string& prefix, uint32_t index, uint32_t count) {
  return fmt::format("{}-{:05}-of-{:05}.gguf", prefix, index, count);
}

std::optional<GgufSplitName> parse_gguf_split_name(const std::string& path) {
  // PREFIX-DDDDD-of-DDDDD.gguf, each number at least five digits.
  const std::string_view suffix = ".gguf";
  std::string_view s = path;
  if (s.size() < suffix.size() || s.substr(s.size() - suffix.size()) != suffix) return std::nullopt;
  s.remove_suffix(suffix.size());
  auto take_number = [&](std::string_view& text, uint32_t* out) {
    size_t n = 0;
    while (n < text.size() && std::isdigit(static_cast<unsigned char>(text[text.size() - 1 - n]))) ++n;
    if (n < 5 || n > 9) return false;
    *out = static_cast<uint32_t>(std::stoul(std::string(text.substr(text.size() - n))));
    text.remove_suffix(n);
    return true;
  };
  GgufSplitName out;
  if (!take_number(s, &out.count)) return std::nullopt;
  if (s.size() < 4 || s.substr(s.size() - 4) != "-of-") return std::nullopt;
  s.remove_suffix(4);
  if (!take_number(s, &out.index)) return std::nullopt;
  if (s.empty() || s.back() != '-') return std::nullopt;
  s.remove_suffix(1);
  if (out.index < 1 || out.index > out.count) return std::nullopt;
  out.prefix = std::string(s);
  return out;
}

ModelFile read_gguf(const std::string& path) {
  Part given;
  given.file = std::make_shared<const MappedFile>(path);
  given.image = gguf::parse_image(given.file->bytes(), path);
  uint32_t count = split_count_of(given.image, path);
  if (count > 1) return read_split_set(std::move(given), path, count);
  if (auto no = split_int(given.image, path, kSplitNoKey); no && *no != 0)
    throw FormatError(path, given.image.key_offset(kSplitNoKey), fmt::format("split.no is {} in a single file", *no));
  ModelFile m = model_from_image(std::move(given.image), path, 0);
  m.mappings.push_back(std::move(given.file));
  return m;
}

ModelFile read_gguf_from_memory(std::span<const std::byte> bytes, const std::string& name) {
  gguf::Image img = gguf::parse_image(bytes, name);
  uint32_t count = split_count_of(img, name);
  if (count > 1)
    throw FormatError(name, img.key_offset(kSplitCountKey),
                      fmt::format("part of a {}-file split set; read it from disk to load the whole set", count));
  return model_from_image(std::move(img), name, 0);
}

}  // namespace layerlab
