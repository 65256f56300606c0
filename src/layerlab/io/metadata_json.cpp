#include "layerlab/io/metadata_json.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "layerlab/io/error.h"

namespace layerlab {
namespace {

using json = nlohmann::json;

bool is_valid_utf8(const std::string& s) {
  size_t k = 0;
  while (k < s.size()) {
    const auto c = static_cast<unsigned char>(s[k]);
    int extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : -1;
    if (extra < 0 || k + static_cast<size_t>(extra) >= s.size()) return false;
    uint32_t cp = extra == 0 ? c : c & (0x3f >> extra);
    for (int j = 1; j <= extra; ++j) {
      const auto d = static_cast<unsigned char>(s[k + j]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
      return false;
    k += static_cast<size_t>(extra) + 1;
  }
  return true;
}

bool is_signed_type(ValueType t) {
  return t == ValueType::I8 || t == ValueType::I16 || t == ValueType::I32 || t == ValueType::I64;
}

json encode(const Value& v) {
  switch (v.type) {
    case ValueType::STRING:
      if (is_valid_utf8(v.str)) return v.str;
      {
        std::string hex;
        for (unsigned char c : v.str) hex += fmt::format("{:02x}", c);
        return json{{"hex", hex}};
      }
    case ValueType::BOOL: return v.u != 0;
    case ValueType::F32:
    case ValueType::F64:
      if (std::isnan(v.f)) return "nan";
      if (std::isinf(v.f)) return v.f > 0 ? "inf" : "-inf";
      return v.f;
    case ValueType::ARRAY: {
      json items = json::array();
      for (const auto& item : v.items) items.push_back(encode(item));
      return json{{"elem", std::string(value_type_name(v.elem_type))}, {"items", std::move(items)}};
    }
    default:
      if (is_signed_type(v.type)) return v.i;
      return v.u;
  }
}

std::optional<ValueType> type_by_name(const std::string& name) {
  for (uint32_t id = 0; is_valid_value_type(id); ++id)
    if (value_type_name(static_cast<ValueType>(id)) == name) return static_cast<ValueType>(id);
  return std::nullopt;
}

struct Decoder {
  const std::string& path;
  std::string key;

  [[noreturn]] void bad(const std::string& what) const {
    throw Error(fmt::format("{}: metadata key '{}': {}", path, key, what));
  }

  Value decode(ValueType type, const json& j) const {
    Value v;
    v.type = type;
    switch (type) {
      case ValueType::STRING:
        if (j.is_string()) v.str = j.get<std::string>();
        else if (j.is_object() && j.contains("hex") && j["hex"].is_string()) {
          const std::string hex = j["hex"].get<std::string>();
          if (hex.size() % 2) bad("odd-length hex string");
          for (size_t k = 0; k < hex.size(); k += 2) {
            unsigned value = 0;
            if (std::sscanf(hex.c_str() + k, "%2x", &value) != 1) bad("invalid hex string");
            v.str.push_back(static_cast<char>(value));
          }
        } else bad("expected a string");
        return v;
      case ValueType::BOOL:
        if (!j.is_boolean()) bad("expected true or false");
        v.u = j.get<bool>() ? 1 : 0;
        return v;
      case ValueType::F32:
      case ValueType::F64:
        if (j.is_number()) v.f = j.get<double>();
        else if (j == "nan") v.f = std::numeric_limits<double>::quiet_NaN();
        else if (j == "inf") v.f = std::numeric_limits<double>::infinity();
        else if (j == "-inf") v.f = -std::numeric_limits<double>::infinity();
        else bad("expected a number");
        if (type == ValueType::F32) v.f = static_cast<float>(v.f);
        return v;
      case ValueType::ARRAY: {
        if (!j.is_object() || !j.contains("elem") || !j["elem"].is_string() || !j.contains("items") ||
            !j["items"].is_array())
          bad("expected {\"elem\": type, \"items\": [...]}");
        auto elem = type_by_name(j["elem"].get<std::string>());
        if (!elem) bad("unknown element type");
        v.elem_type = *elem;
        v.items.reserve(j["items"].size());
        for (const auto& item : j["items"]) v.items.push_back(decode(*elem, item));
        return v;
      }
      default: {
        // Integers: check the value fits the declared width.
        const uint32_t bytes = value_type_size(type);
        if (is_signed_type(type)) {
          if (!j.is_number_integer() || (j.is_number_unsigned() && j.get<uint64_t>() > INT64_MAX)) bad("expected an integer");
          const int64_t x = j.get<int64_t>();
          const int64_t lim = bytes == 8 ? INT64_MAX : (int64_t{1} << (8 * bytes - 1)) - 1;
          if (x > lim || x < -lim - 1) bad("integer out of range");
          v.i = x;
        } else {
          if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<int64_t>() >= 0)) bad("expected an unsigned integer");
          const uint64_t x = j.get<uint64_t>();
          if (bytes < 8 && x >> (8 * bytes)) bad("integer out of range");
          v.u = x;
        }
        return v;
      }
    }
  }
};

// `from` converted to `like`'s type, or nullopt if the types do not convert.
std::optional<Value> convert_like(const Value& from, const Value& like) {
  if (from.type == like.type) return from;
  Value v;
  v.type = like.type;
  if (like.is_integer() && from.is_integer()) {
    const int64_t x = *from.as_int();
    if (is_signed_type(like.type)) v.i = x;
    else if (x >= 0) v.u = static_cast<uint64_t>(x);
    else return std::nullopt;
    return v;
  }
  if (like.is_float()) {
    auto x = from.as_double();
    if (!x) return std::nullopt;
    v.f = like.type == ValueType::F32 ? static_cast<float>(*x) : *x;
    return v;
  }
  return std::nullopt;
}

}  // namespace

json metadata_to_json(const ModelFile& model) {
  json items = json::array();
  for (const auto& [key, value] : model.metadata.items())
    items.push_back(json::array({key, std::string(value_type_name(value.type)), encode(value)}));
  return json{{"format", "layerlab-gguf-metadata"}, {"version", 1}, {"gguf_version", model.gguf_version},
              {"alignment", model.alignment}, {"metadata", std::move(items)}};
}

MetadataJson metadata_from_json(const json& doc, const std::string& path) {
  if (!doc.is_object() || doc.value("format", "") != "layerlab-gguf-metadata")
    throw Error(path + ": not a layerlab GGUF metadata file (\"format\" must be \"layerlab-gguf-metadata\")");
  if (doc.value("version", 0) != 1) throw Error(path + ": unsupported metadata file version");
  MetadataJson out;
  auto small = [&](const char* key, uint32_t fallback) {
    if (!doc.contains(key)) return fallback;
    const json& v = doc[key];
    if (!v.is_number_unsigned() || v.get<uint64_t>() > 0xffffffffu) throw Error(fmt::format("{}: '{}' is invalid", path, key));
    return v.get<uint32_t>();
  };
  out.gguf_version = small("gguf_version", 3);
  out.alignment = small("alignment", 32);
  if (!doc.contains("metadata") || !doc["metadata"].is_array()) throw Error(path + ": 'metadata' must be an array");
  for (const auto& entry : doc["metadata"]) {
    if (!entry.is_array() || entry.size() != 3 || !entry[0].is_string() || !entry[1].is_string())
      throw Error(path + ": each metadata entry must be [key, type, value]");
    Decoder d{path, entry[0].get<std::string>()};
    auto type = type_by_name(entry[1].get<std::string>());
    if (!type) d.bad("unknown type '" + entry[1].get<std::string>() + "'");
    if (out.metadata.contains(d.key)) d.bad("appears twice");
    out.metadata.set(d.key, d.decode(*type, entry[2]));
  }
  return out;
}

Metadata merge_sidecar_metadata(const Metadata& sidecar, const Metadata& from_config) {
  Metadata out = sidecar;
  for (const auto& [key, value] : from_config.items()) {
    const Value* old = sidecar.find(key);
    if (!old) continue;
    auto converted = convert_like(value, *old);
    if (converted && !(*converted == *old)) out.set(key, *converted);
  }
  return out;
}

}  // namespace layerlab
