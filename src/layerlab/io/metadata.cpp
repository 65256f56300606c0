#include "layerlab/io/metadata.h"

#include <fmt/format.h>

namespace layerlab {

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::U8: return "u8";
    case ValueType::I8: return "i8";
    case ValueType::U16: return "u16";
    case ValueType::I16: return "i16";
    case ValueType::U32: return "u32";
    case ValueType::I32: return "i32";
    case ValueType::F32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::U64: return "u64";
    case ValueType::I64: return "i64";
    case ValueType::F64: return "f64";
  }
  return "?";
}

bool is_valid_value_type(uint32_t id) { return id <= static_cast<uint32_t>(ValueType::F64); }

uint32_t value_type_size(ValueType type) {
  switch (type) {
    case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    case ValueType::STRING: case ValueType::ARRAY: return 0;
  }
  return 0;
}

Value Value::u32(uint32_t v) { Value x; x.type = ValueType::U32; x.u = v; return x; }
Value Value::i32(int32_t v) { Value x; x.type = ValueType::I32; x.i = v; return x; }
Value Value::u64(uint64_t v) { Value x; x.type = ValueType::U64; x.u = v; return x; }
Value Value::f32(float v) { Value x; x.type = ValueType::F32; x.f = v; return x; }
Value Value::boolean(bool v) { Value x; x.type = ValueType::BOOL; x.u = v ? 1 : 0; return x; }
Value Value::string(std::string v) { Value x; x.type = ValueType::STRING; x.str = std::move(v); return x; }
Value Value::array(ValueType elem_type, std::vector<Value> items) {
  Value x;
  x.type = ValueType::ARRAY;
  x.elem_type = elem_type;
  x.items = std::move(items);
  return x;
}
Value Value::string_array(const std::vector<std::string>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (const auto& s : v) items.push_back(Value::string(s));
  return array(ValueType::STRING, std::move(items));
}

bool Value::is_integer() const {
  switch (type) {
    case ValueType::U8: case ValueType::I8: case ValueType::U16: case ValueType::I16:
    case ValueType::U32: case ValueType::I32: case ValueType::U64: case ValueType::I64:
      return true;
    default:
      return false;
  }
}

static bool is_signed(ValueType t) {
  return t == ValueType::I8 || t == ValueType::I16 || t == ValueType::I32 || t == ValueType::I64;
}

std::optional<int64_t> Value::as_int() const {
  if (is_integer()) return is_signed(type) ? i : static_cast<int64_t>(u);
  if (type == ValueType::BOOL) return static_cast<int64_t>(u);
  return std::nullopt;
}

std::optional<double> Value::as_double() const {
  if (is_float()) return f;
  if (auto v = as_int()) return static_cast<double>(*v);
  return std::nullopt;
}

std::string Value::to_display(size_t max_items) const {
  switch (type) {
    case ValueType::STRING: {
      std::string s = str.size() > 120 ? str.substr(0, 117) + "..." : str;
      for (auto& c : s)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
      return fmt::format("\"{}\"", s);
    }
    case ValueType::BOOL: return u ? "true" : "false";
    case ValueType::F32: return fmt::format("{}", static_cast<float>(f));
    case ValueType::F64: return fmt::format("{}", f);
    case ValueType::ARRAY: {
      std::string out = fmt::format("[{} x {}]", items.size(), value_type_name(elem_type));
      if (items.empty()) return out;
      out += " [";
      for (size_t k = 0; k < items.size() && k < max_items; ++k) {
        if (k) out += ", ";
        out += items[k].to_display(max_items);
      }
      if (items.size() > max_items) out += ", ...";
      return out + "]";
    }
    default: return fmt::format("{}", *as_int());
  }
}

bool Value::operator==(const Value& o) const {
  if (type != o.type) return false;
  switch (type) {
    case ValueType::STRING: return str == o.str;
    case ValueType::ARRAY: return elem_type == o.elem_type && items == o.items;
    case ValueType::F32: case ValueType::F64:
      // Bitwise-equal semantics for round trips (NaN == NaN of the same payload).
      return f == o.f || (f != f && o.f != o.f);
    default: return as_int() == o.as_int();
  }
}

void Metadata::set(std::string key, Value value) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    items_[it->second].second = std::move(value);
    return;
  }
  index_.emplace(key, items_.size());
  items_.emplace_back(std::move(key), std::move(value));
}

bool Metadata::erase(std::string_view key) {
  auto it = index_.find(std::string(key));
  if (it == index_.end()) return false;
  items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(it->second));
  index_.clear();
  for (size_t k = 0; k < items_.size(); ++k) index_.emplace(items_[k].first, k);
  return true;
}

const Value* Metadata::find(std::string_view key) const {
  auto it = index_.find(std::string(key));
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

std::optional<int64_t> Metadata::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type == ValueType::BOOL) return std::nullopt;
  return v->as_int();
}

std::optional<double> Metadata::get_float(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->as_double() : std::nullopt;
}

std::optional<std::string> Metadata::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != ValueType::STRING) return std::nullopt;
  return v->str;
}

std::optional<bool> Metadata::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != ValueType::BOOL) return std::nullopt;
  return v->u != 0;
}

}  // namespace layerlab
