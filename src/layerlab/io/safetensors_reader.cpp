#include "layerlab/io/safetensors_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_set>

#include "layerlab/io/error.h"

namespace layerlab {
namespace {

using json = nlohmann::json;

struct DtypeInfo {
  std::string_view name;
  uint32_t size;
  std::optional<GgmlType> ggml;
};

// Every dtype of the safetensors format; those ggml can hold map to a ggml type.
// Unsigned integers and 8-bit floats have no ggml counterpart.
constexpr DtypeInfo kDtypes[] = {
    {"F32", 4, GgmlType::F32},   {"F16", 2, GgmlType::F16},   {"BF16", 2, GgmlType::BF16},
    {"F64", 8, GgmlType::F64},   {"I8", 1, GgmlType::I8},     {"I16", 2, GgmlType::I16},
    {"I32", 4, GgmlType::I32},   {"I64", 8, GgmlType::I64},   {"BOOL", 1, std::nullopt},
    {"U8", 1, std::nullopt},     {"U16", 2, std::nullopt},    {"U32", 4, std::nullopt},
    {"U64", 8, std::nullopt},    {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt},
};

const DtypeInfo* find_dtype(std::string_view name) {
  for (const auto& d : kDtypes)
    if (d.name == name) return &d;
  return nullptr;
}

uint64_t read_u64le(const std::byte* p) {
  uint64_t v = 0;
  for (int k = 7; k >= 0; --k) v = (v << 8) | static_cast<uint8_t>(p[k]);
  return v;
}

// Rejects nesting deeper than a valid header needs before handing the text to the JSON
// parser, so a hostile header cannot make the parser build a huge stack of containers.
void check_nesting(std::string_view text, const std::string& path) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t k = 0; k < text.size(); ++k) {
    char c = text[k];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > 3) throw FormatError(path, 8 + k, "safetensors header is nested too deeply");
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

int64_t json_to_nonneg(const json& v, const std::string& path, uint64_t offset, const std::string& what) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) throw FormatError(path, offset, what + " is too large");
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < 0) throw FormatError(path, offset, what + " is negative");
    return i;
  }
  throw FormatError(path, offset, what + " is not an integer");
}

SafetensorsEntry parse_entry(const std::string& name, const json& desc, const std::string& path,
                             uint64_t header_offset) {
  const std::string where = fmt::format("tensor '{}'", name);
  if (!desc.is_object()) throw FormatError(path, header_offset, where + ": description is not an object");
  for (const auto& [key, _] : desc.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      throw FormatError(path, header_offset, fmt::format("{}: unknown field '{}'", where, key));
  auto dt = desc.find("dtype");
  auto sh = desc.find("shape");
  auto off = desc.find("data_offsets");
  if (dt == desc.end() || !dt->is_string()) throw FormatError(path, header_offset, where + ": missing dtype");
  if (sh == desc.end() || !sh->is_array()) throw FormatError(path, header_offset, where + ": missing shape");
  if (off == desc.end() || !off->is_array() || off->size() != 2)
    throw FormatError(path, header_offset, where + ": data_offsets must be [begin, end]");

  SafetensorsEntry e;
  e.name = name;
  e.dtype = dt->get<std::string>();
  const DtypeInfo* info = find_dtype(e.dtype);
  if (!info) throw FormatError(path, header_offset, fmt::format("{}: unknown dtype '{}'", where, e.dtype));
  if (!info->ggml)
    throw FormatError(path, header_offset,
                      fmt::format("{}: dtype {} has no ggml equivalent", where, e.dtype));
  e.type = *info->ggml;

  if (sh->size() > 4)
    throw FormatError(path, header_offset, fmt::format("{}: {} dimensions (ggml holds at most 4)", where, sh->size()));
  uint64_t numel = 1;
  for (const auto& d : *sh) {
    int64_t n = json_to_nonneg(d, path, header_offset, where + ": shape entry");
    e.shape.push_back(n);
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(n), &numel) || numel > (1ull << 62))
      throw FormatError(path, header_offset, where + ": shape overflows");
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(info->size), &nbytes))
    throw FormatError(path, header_offset, where + ": byte size overflows");
  e.begin = static_cast<uint64_t>(json_to_nonneg((*off)[0], path, header_offset, where + ": data offset"));
  e.end = static_cast<uint64_t>(json_to_nonneg((*off)[1], path, header_offset, where + ": data offset"));
  if (e.end < e.begin)
    throw FormatError(path, header_offset, fmt::format("{}: data_offsets [{}, {}] are reversed", where, e.begin, e.end));
  if (e.end - e.begin != nbytes)
    throw FormatError(path, header_offset,
                      fmt::format("{}: data_offsets span {} bytes but shape and dtype need {}", where,
                                  e.end - e.begin, nbytes));
  return e;
}

}  // namespace

std::optional<GgmlType> safetensors_dtype_to_ggml(std::string_view dtype) {
  const DtypeInfo* d = find_dtype(dtype);
  return d ? d->ggml : std::nullopt;
}

std::optional<std::string_view> ggml_to_safetensors_dtype(GgmlType type) {
  for (const auto& d : kDtypes)
    if (d.ggml && *d.ggml == type) return d.name;
  return std::nullopt;
}

uint32_t safetensors_dtype_size(std::string_view dtype) {
  const DtypeInfo* d = find_dtype(dtype);
  return d ? d->size : 0;
}

SafetensorsHeader parse_safetensors(std::span<const std::byte> bytes, const std::string& path) {
  if (bytes.size() < 8) throw FormatError(path, 0, "file too short for a safetensors header length");
  const uint64_t n = read_u64le(bytes.data());
  if (n > kMaxSafetensorsHeaderBytes)
    throw FormatError(path, 0, fmt::format("safetensors header length {} exceeds the limit of {} bytes", n,
                                           kMaxSafetensorsHeaderBytes));
  if (n > bytes.size() - 8)
    throw FormatError(path, 0, fmt::format("safetensors header length {} runs past the end of the file ({} bytes)",
                                           n, bytes.size()));
  if (n < 2) throw FormatError(path, 8, "safetensors header is empty");

  std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), n);
  check_nesting(text, path);

  // The callback sees each top-level key once, which is the only way to notice a duplicate:
  // the parsed object keeps just the last one.
  std::unordered_set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && duplicate.empty()) {
      std::string key = parsed.get<std::string>();
      if (!seen.insert(key).second) duplicate = key;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), cb);
  } catch (const json::parse_error& e) {
    uint64_t at = 8 + (e.byte > 0 ? e.byte - 1 : 0);
    std::string msg = e.what();
    auto colon = msg.find("parse error");
    throw FormatError(path, at, "safetensors header is not valid JSON: " +
                                    (colon == std::string::npos ? msg : msg.substr(colon)));
  } catch (const json::exception& e) {  // e.g. a number too large for any JSON number type
    throw FormatError(path, 8, std::string("safetensors header is not usable JSON: ") + e.what());
  }
  if (!header.is_object()) throw FormatError(path, 8, "safetensors header is not a JSON object");
  if (!duplicate.empty())
    throw FormatError(path, 8, fmt::format("tensor '{}' appears twice in the header", duplicate));

  SafetensorsHeader out;
  out.data_offset = 8 + n;
  const uint64_t data_size = bytes.size() - out.data_offset;
  for (const auto& [name, desc] : header.items()) {
    if (name == "__metadata__") {
      if (!desc.is_object()) throw FormatError(path, 8, "__metadata__ is not an object");
      for (const auto& [k, v] : desc.items()) {
        if (!v.is_string())
          throw FormatError(path, 8, fmt::format("__metadata__ value '{}' is not a string", k));
        out.metadata.emplace_back(k, v.get<std::string>());
      }
      continue;
    }
    if (name.empty()) throw FormatError(path, 8, "tensor with an empty name");
    SafetensorsEntry e = parse_entry(name, desc, path, 8);
    if (e.end > data_size)
      throw FormatError(path, out.data_offset + e.begin,
                        fmt::format("tensor '{}': data [{}, {}) runs past the end of the data buffer ({} bytes)",
                                    name, e.begin, e.end, data_size));
    out.entries.push_back(std::move(e));
  }
  std::sort(out.entries.begin(), out.entries.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t k = 1; k < out.entries.size(); ++k) {
    const auto& prev = out.entries[k - 1];
    const auto& cur = out.entries[k];
    if (cur.begin < prev.end)
      throw FormatError(path, out.data_offset + cur.begin,
                        fmt::format("tensor '{}' overlaps tensor '{}'", cur.name, prev.name));
  }
  return out;
}

namespace {

// Adds the tensors of one parsed file to `model`, viewing the mapping. A tensor whose bytes
// are not aligned to its element size is copied into an owned buffer, so that compute code
// may read it through a typed pointer.
void add_file_tensors(ModelFile& model, const std::shared_ptr<const MappedFile>& file,
                      const SafetensorsHeader& header, uint32_t source_index,
                      std::unordered_set<std::string>& names) {
  for (const auto& e : header.entries) {
    if (!names.insert(e.name).second)
      throw FormatError(file->path(), 8, fmt::format("tensor '{}' is also in another file", e.name));
    TensorInfo t;
    t.name = e.name;
    t.type = e.type;
    t.n_dims = std::max<uint32_t>(1, static_cast<uint32_t>(e.shape.size()));
    for (size_t d = 0; d < e.shape.size(); ++d) t.ne[d] = e.shape[e.shape.size() - 1 - d];
    t.source_index = source_index;
    const std::byte* p = file->data() + header.data_offset + e.begin;
    const uint64_t size = e.end - e.begin;
    const uint32_t elem = safetensors_dtype_size(e.dtype);
    if (elem > 1 && reinterpret_cast<uintptr_t>(p) % elem != 0)
      t.data = model.own(std::vector<std::byte>(p, p + size));
    else
      t.data = {p, size};
    model.tensors.push_back(std::move(t));
  }
}

}  // namespace

SafetensorsSet read_safetensors_files(const std::vector<std::string>& paths) {
  SafetensorsSet set;
  set.model.format = FileFormat::SAFETENSORS;
  std::unordered_set<std::string> names;
  for (size_t k = 0; k < paths.size(); ++k) {
    auto file = std::make_shared<const MappedFile>(paths[k]);
    SafetensorsHeader header = parse_safetensors(file->bytes(), paths[k]);
    if (k == 0) set.header_metadata = header.metadata;
    set.model.paths.push_back(paths[k]);
    add_file_tensors(set.model, file, header, static_cast<uint32_t>(k), names);
    set.model.mappings.push_back(std::move(file));
  }
  return set;
}

SafetensorsSet read_safetensors_index(const std::string& index_path) {
  auto index_file = std::make_shared<const MappedFile>(index_path);
  if (index_file->size() > kMaxSafetensorsHeaderBytes)
    throw FormatError(index_path, 0, "index file is larger than the header limit");
  std::string_view text(reinterpret_cast<const char*>(index_file->data()), index_file->size());
  json index;
  try {
    index = json::parse(text);
  } catch (const json::parse_error& e) {
    throw FormatError(index_path, e.byte > 0 ? e.byte - 1 : 0, "index is not valid JSON");
  } catch (const json::exception& e) {
    throw FormatError(index_path, 0, std::string("index is not usable JSON: ") + e.what());
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw FormatError(index_path, 0, "index has no weight_map object");

  // Shard order: sorted file names (model-00001-of-0000N ... sort in shard order).
  std::map<std::string, std::set<std::string>> by_shard;
  for (const auto& [tensor, shard] : index["weight_map"].items()) {
    if (!shard.is_string()) throw FormatError(index_path, 0, fmt::format("weight_map['{}'] is not a file name", tensor));
    std::string file = shard.get<std::string>();
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
      throw FormatError(index_path, 0, fmt::format("weight_map['{}'] names an invalid file '{}'", tensor, file));
    by_shard[file].insert(tensor);
  }
  if (by_shard.empty()) throw FormatError(index_path, 0, "index weight_map is empty");
  std::filesystem::path dir = std::filesystem::path(index_path).parent_path();
  std::vector<std::string> paths;
  for (const auto& [file, _] : by_shard) paths.push_back((dir / file).string());

  SafetensorsSet set = read_safetensors_files(paths);
  size_t k = 0;
  for (const auto& [file, tensors] : by_shard) {
    size_t found = 0;
    for (const auto& t : set.model.tensors) {
      if (t.source_index != k) continue;
      if (!tensors.count(t.name))
        throw FormatError(paths[k], 8, fmt::format("tensor '{}' is not listed for this shard in {}", t.name,
                                                   std::filesystem::path(index_path).filename().string()));
      ++found;
    }
    if (found != tensors.size()) {
      for (const auto& name : tensors) {
        const TensorInfo* t = set.model.find_tensor(name);
        if (!t || t->source_index != k)
          throw FormatError(paths[k], 8, fmt::format("tensor '{}' listed in the index is missing from this shard", name));
      }
    }
    ++k;
  }
  set.model.paths.push_back(index_path);  // after the shards, so source_index indexes paths
  set.model.mappings.push_back(std::move(index_file));
  return set;
}

}  // namespace layerlab
