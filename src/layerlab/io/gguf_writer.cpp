#include "layerlab/io/gguf_writer.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <unordered_set>

#include "layerlab/io/atomic_file.h"
#include "layerlab/io/error.h"
#include "layerlab/io/gguf_image.h"
#include "layerlab/io/gguf_reader.h"

namespace layerlab {
namespace {

bool is_split_key(std::string_view key) {
  return key == kSplitNoKey || key == kSplitCountKey || key == kSplitTensorsCountKey;
}

uint64_t padded(uint64_t x, uint64_t alignment) { return (x + alignment - 1) / alignment * alignment; }

// --- validation (before any file is created) ---

void check_value(const Value& v, const std::string& key, const std::string& path) {
  if (!is_valid_value_type(static_cast<uint32_t>(v.type)))
    throw Error(fmt::format("{}: key '{}' has an invalid value type", path, key));
  if (v.type != ValueType::ARRAY) return;
  if (v.elem_type == ValueType::ARRAY || !is_valid_value_type(static_cast<uint32_t>(v.elem_type)))
    throw Error(fmt::format("{}: key '{}': nested arrays cannot be written to GGUF", path, key));
  if (v.items.empty() || v.items.uniform_type() == v.elem_type) return;
  for (const Value& item : v.items)
    if (item.type != v.elem_type)
      throw Error(fmt::format("{}: key '{}': array of {} holds a {}", path, key, value_type_name(v.elem_type),
                              value_type_name(item.type)));
}

void check_tensor(const TensorInfo& t, const std::string& path) {
  auto fail = [&](const std::string& problem) {
    throw Error(fmt::format("{}: cannot write tensor '{}': {}", path, gguf::printable(t.name), problem));
  };
  if (t.name.size() > gguf::kMaxNameBytes) fail(fmt::format("name longer than {} bytes", gguf::kMaxNameBytes));
  if (t.n_dims > gguf::kMaxDims) fail(fmt::format("{} dimensions", t.n_dims));
  auto info = ggml_type_info(static_cast<uint32_t>(t.type));
  if (!info) fail("unknown ggml type");
  uint64_t elems = 1;
  for (uint32_t d = 0; d < 4; ++d) {
    if (t.ne[d] <= 0 || (d >= t.n_dims && t.ne[d] != 1)) fail(fmt::format("bad shape {}", t.shape_string()));
    if (__builtin_mul_overflow(elems, static_cast<uint64_t>(t.ne[d]), &elems)) fail("element count overflows");
  }
  if (t.ne[0] % info->block_size != 0) fail(fmt::format("ne[0] is not a multiple of {}", info->block_size));
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(t.ne[0]) / info->block_size, uint64_t{info->type_size}, &bytes))
    fail("byte size overflows");
  for (int d = 1; d < 4; ++d)
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(t.ne[d]), &bytes)) fail("byte size overflows");
  if (t.data.size() != bytes)
    fail(fmt::format("holds {} bytes of data, its shape and type need {}", t.data.size(), bytes));
}

// --- encoding ---

class Out {
 public:
  explicit Out(AtomicFile& file) : f_(file) {}
  template <typename T>
  void put(T v) { f_.write(&v, sizeof(T)); }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    f_.write(s.data(), s.size());
  }
  void put_scalar(const Value& v) {
    switch (v.type) {
      case ValueType::U8: put(static_cast<uint8_t>(v.u)); break;
      case ValueType::I8: put(static_cast<int8_t>(v.i)); break;
      case ValueType::U16: put(static_cast<uint16_t>(v.u)); break;
      case ValueType::I16: put(static_cast<int16_t>(v.i)); break;
      case ValueType::U32: put(static_cast<uint32_t>(v.u)); break;
      case ValueType::I32: put(static_cast<int32_t>(v.i)); break;
      case ValueType::U64: put(static_cast<uint64_t>(v.u)); break;
      case ValueType::I64: put(static_cast<int64_t>(v.i)); break;
      case ValueType::F32: put(static_cast<float>(v.f)); break;
      case ValueType::F64: put(static_cast<double>(v.f)); break;
      case ValueType::BOOL: put(static_cast<uint8_t>(v.u != 0)); break;
      case ValueType::STRING: put_string(v.str); break;
      case ValueType::ARRAY: break;  // checked away before writing
    }
  }
  void put_kv(const std::string& key, const Value& v) {
    put_string(key);
    put(static_cast<uint32_t>(v.type));
    if (v.type != ValueType::ARRAY) return put_scalar(v);
    put(static_cast<uint32_t>(v.elem_type));
    put<uint64_t>(v.items.size());
    // Packed scalars are already in their on-disk form (bools are written as 0/1).
    if (auto packed = v.items.packed_bytes(); !packed.empty() && v.elem_type != ValueType::BOOL)
      return f_.write(packed.data(), packed.size());
    if (v.elem_type == ValueType::STRING) {
      for (size_t k = 0; k < v.items.size(); ++k) put_string(v.items.string_at(k));
      return;
    }
    for (const Value& item : v.items) put_scalar(item);
  }
  void pad_to(uint64_t alignment) { f_.write_zeros(padded(f_.position(), alignment) - f_.position()); }

 private:
  AtomicFile& f_;
};

Value integer_value(ValueType type, int64_t x) {
  Value v;
  v.type = type;
  v.u = static_cast<uint64_t>(x);
  v.i = x;
  return v;
}

struct PartPlan {
  size_t begin = 0, end = 0;  // tensor index range
};

std::vector<PartPlan> plan_parts(const ModelFile& model, uint32_t alignment, const GgufWriteOptions& o) {
  std::vector<PartPlan> parts(1);
  uint64_t bytes = 0;
  for (size_t k = 0; k < model.tensors.size(); ++k) {
    uint64_t size = padded(model.tensors[k].data.size(), alignment);
    PartPlan& cur = parts.back();
    size_t n = cur.end - cur.begin;
    bool full = n > 0 && ((o.split_max_tensors && n + 1 > o.split_max_tensors) ||
                          (o.split_max_bytes && bytes + size > o.split_max_bytes));
    if (full) {
      parts.push_back({k, k});
      bytes = 0;
    }
    parts.back().end = k + 1;
    bytes += size;
  }
  return parts;
}

void write_part(AtomicFile& file, const ModelFile& model, const PartPlan& part, uint32_t index, uint32_t count,
                uint32_t alignment) {
  Out out(file);
  // Key/values of this part: split keys first (as gguf-split does), then the model's metadata
  // in part 1 only; later parts repeat just a non-default alignment, which they need.
  std::vector<std::pair<std::string, Value>> extra;
  if (count > 1) {
    extra.emplace_back(kSplitNoKey, integer_value(ValueType::U16, index));
    extra.emplace_back(kSplitCountKey, integer_value(ValueType::U16, count));
    extra.emplace_back(kSplitTensorsCountKey, integer_value(ValueType::I32, static_cast<int64_t>(model.tensors.size())));
  }
  const bool with_metadata = index == 0;
  const bool has_alignment_key = model.metadata.contains("general.alignment");
  uint64_t n_kv = extra.size();
  if (with_metadata) {
    for (const auto& [key, value] : model.metadata.items()) n_kv += !is_split_key(key);
    if (!has_alignment_key && alignment != gguf::kDefaultAlignment) ++n_kv;
  } else if (alignment != gguf::kDefaultAlignment) {
    ++n_kv;
  }

  file.write("GGUF", 4);
  out.put<uint32_t>(3);
  out.put<uint64_t>(part.end - part.begin);
  out.put<uint64_t>(n_kv);
  for (const auto& [key, value] : extra) out.put_kv(key, value);
  if (with_metadata) {
    for (const auto& [key, value] : model.metadata.items()) {
      if (is_split_key(key)) continue;
      out.put_kv(key, key == "general.alignment" ? Value::u32(alignment) : value);
    }
    if (!has_alignment_key && alignment != gguf::kDefaultAlignment) out.put_kv("general.alignment", Value::u32(alignment));
  } else if (alignment != gguf::kDefaultAlignment) {
    out.put_kv("general.alignment", Value::u32(alignment));
  }

  uint64_t offset = 0;
  for (size_t k = part.begin; k < part.end; ++k) {
    const TensorInfo& t = model.tensors[k];
    out.put_string(t.name);
    out.put<uint32_t>(t.n_dims);
    for (uint32_t d = 0; d < t.n_dims; ++d) out.put<int64_t>(t.ne[d]);
    out.put<uint32_t>(static_cast<uint32_t>(t.type));
    out.put<uint64_t>(offset);
    offset += padded(t.data.size(), alignment);
  }
  if (part.end == part.begin) return;  // no tensors: no data section, no padding
  out.pad_to(alignment);
  for (size_t k = part.begin; k < part.end; ++k) {
    file.write(model.tensors[k].data);
    out.pad_to(alignment);
  }
}

}  // namespace

std::vector<std::string> write_gguf(const ModelFile& model, const std::string& path, const GgufWriteOptions& options) {
  const uint32_t alignment = options.alignment ? options.alignment : model.alignment;
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw Error(fmt::format("{}: alignment {} is not a power of two", path, alignment));
  for (const auto& [key, value] : model.metadata.items()) check_value(value, key, path);
  std::unordered_set<std::string_view> names;
  for (const TensorInfo& t : model.tensors) {
    check_tensor(t, path);
    if (!names.insert(t.name).second)
      throw Error(fmt::format("{}: cannot write tensor '{}' twice", path, gguf::printable(t.name)));
  }

  std::vector<PartPlan> parts = plan_parts(model, alignment, options);
  const auto count = static_cast<uint32_t>(parts.size());
  if (count > 99999) throw Error(fmt::format("{}: {} split parts is too many", path, count));
  std::vector<std::string> paths;
  if (count == 1) {
    paths.push_back(path);
  } else {
    std::string prefix = path;
    if (prefix.size() > 5 && prefix.ends_with(".gguf")) prefix.resize(prefix.size() - 5);
    for (uint32_t k = 0; k < count; ++k) paths.push_back(gguf_split_path(prefix, k + 1, count));
  }

  // Write every part to its temporary file first, then rename them all; a failure while
  // renaming removes the parts already in place, so a set never appears half written.
  std::vector<std::unique_ptr<AtomicFile>> files;
  for (uint32_t k = 0; k < count; ++k) {
    files.push_back(std::make_unique<AtomicFile>(paths[k]));
    write_part(*files.back(), model, parts[k], k, count, alignment);
  }
  for (uint32_t k = 0; k < count; ++k) {
    try {
      files[k]->commit();
    } catch (...) {
      for (uint32_t j = 0; j < k; ++j) std::remove(paths[j].c_str());
      throw;
    }
  }
  return paths;
}

}  // namespace layerlab
