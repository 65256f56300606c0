#include "layerlab/io/metadata.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <stdexcept>

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
Value Value::array(ValueType elem_type, ValueArray items) {
  Value x;
  x.type = ValueType::ARRAY;
  x.elem_type = elem_type;
  x.items = std::move(items);
  return x;
}
Value Value::string_array(const std::vector<std::string>& v) {
  size_t chars = 0;
  for (const auto& s : v) chars += s.size();
  ValueArray items;
  items.reserve(v.size(), chars);
  for (const auto& s : v) items.push_string(s);
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

// --- ValueArray ---

namespace {

bool is_signed_int(ValueType t) {
  return t == ValueType::I8 || t == ValueType::I16 || t == ValueType::I32 || t == ValueType::I64;
}

bool is_packable_type(ValueType t) {
  return is_valid_value_type(static_cast<uint32_t>(t)) && t != ValueType::STRING && t != ValueType::ARRAY;
}

bool is_zero_double(double d) { return std::bit_cast<uint64_t>(d) == 0; }

// True when nothing but the typed value is set, so that an element rebuilt from its packed
// bytes (or its text) is indistinguishable from v.
bool has_only_payload(const Value& v) {
  return v.str.empty() && v.elem_type == ValueType::U8 && v.items.empty();
}

// Packs a scalar at its on-disk width if that reproduces v exactly; false otherwise.
bool pack_scalar(const Value& v, unsigned char out[8]) {
  if (!is_packable_type(v.type) || !has_only_payload(v)) return false;
  const uint32_t width = value_type_size(v.type);
  uint64_t bits = 0;
  if (v.type == ValueType::F32) {
    if (v.u != 0 || v.i != 0) return false;
    const float x = static_cast<float>(v.f);
    if (std::bit_cast<uint64_t>(static_cast<double>(x)) != std::bit_cast<uint64_t>(v.f)) return false;
    bits = std::bit_cast<uint32_t>(x);
  } else if (v.type == ValueType::F64) {
    if (v.u != 0 || v.i != 0) return false;
    bits = std::bit_cast<uint64_t>(v.f);
  } else if (is_signed_int(v.type)) {
    if (v.u != 0 || !is_zero_double(v.f)) return false;
    if (width < 8) {
      const int64_t lim = int64_t{1} << (8 * width - 1);
      if (v.i < -lim || v.i >= lim) return false;
    }
    bits = static_cast<uint64_t>(v.i);
  } else {  // unsigned integers and BOOL (its raw byte)
    if (v.i != 0 || !is_zero_double(v.f)) return false;
    if (width < 8 && (v.u >> (8 * width)) != 0) return false;
    bits = v.u;
  }
  std::memcpy(out, &bits, width);  // little-endian host: the low bytes
  return true;
}

bool is_plain_string(const Value& v) {
  return v.type == ValueType::STRING && v.u == 0 && v.i == 0 && is_zero_double(v.f) &&
         v.elem_type == ValueType::U8 && v.items.empty();
}

uint64_t load_bits(const unsigned char* p, uint32_t width) {
  uint64_t bits = 0;
  std::memcpy(&bits, p, width);
  return bits;
}

int64_t sign_extend(uint64_t bits, uint32_t width) {
  if (width == 8) return static_cast<int64_t>(bits);
  const unsigned shift = 64 - 8 * width;
  return static_cast<int64_t>(bits << shift) >> shift;
}

}  // namespace

ValueArray::ValueArray(std::initializer_list<Value> values) {
  reserve(values.size());
  for (const Value& v : values) push_back(v);
}

ValueArray::ValueArray(const std::vector<Value>& values) {
  reserve(values.size());
  for (const Value& v : values) push_back(v);
}

Value ValueArray::operator[](size_t k) const {
  if (k >= size_) throw std::out_of_range(fmt::format("metadata array index {} of {}", k, size_));
  switch (form_) {
    case Form::kPacked: {
      const uint32_t width = value_type_size(type_);
      const uint64_t bits = load_bits(bytes_.data() + k * width, width);
      Value v;
      v.type = type_;
      if (type_ == ValueType::F32) v.f = std::bit_cast<float>(static_cast<uint32_t>(bits));
      else if (type_ == ValueType::F64) v.f = std::bit_cast<double>(bits);
      else if (is_signed_int(type_)) v.i = sign_extend(bits, width);
      else v.u = bits;
      return v;
    }
    case Form::kStrings: return Value::string(std::string(string_at(k)));
    case Form::kGeneric: return values_[k];
    case Form::kEmpty: break;
  }
  return Value{};
}

std::string_view ValueArray::string_at(size_t k) const {
  if (k >= size_) throw std::out_of_range(fmt::format("metadata array index {} of {}", k, size_));
  if (form_ == Form::kStrings) {
    const uint64_t begin = k == 0 ? 0 : ends_[k - 1];
    return {reinterpret_cast<const char*>(bytes_.data()) + begin, static_cast<size_t>(ends_[k] - begin)};
  }
  if (form_ == Form::kGeneric && values_[k].type == ValueType::STRING) return values_[k].str;
  return {};
}

std::optional<int64_t> ValueArray::int_at(size_t k) const {
  if (form_ == Form::kPacked && k < size_ && type_ != ValueType::F32 && type_ != ValueType::F64) {
    const uint32_t width = value_type_size(type_);
    const uint64_t bits = load_bits(bytes_.data() + k * width, width);
    return is_signed_int(type_) ? sign_extend(bits, width) : static_cast<int64_t>(bits);
  }
  return (*this)[k].as_int();
}

std::optional<double> ValueArray::double_at(size_t k) const {
  if (form_ == Form::kPacked && k < size_ && type_ == ValueType::F32) {
    float x;
    std::memcpy(&x, bytes_.data() + k * 4, 4);
    return x;
  }
  if (form_ == Form::kPacked && k < size_ && type_ != ValueType::F64)
    return static_cast<double>(*int_at(k));
  return (*this)[k].as_double();
}

std::optional<ValueType> ValueArray::uniform_type() const {
  switch (form_) {
    case Form::kEmpty: return std::nullopt;
    case Form::kPacked:
    case Form::kStrings: return type_;
    case Form::kGeneric:
      for (const Value& v : values_)
        if (v.type != values_.front().type) return std::nullopt;
      return values_.front().type;
  }
  return std::nullopt;
}

std::span<const unsigned char> ValueArray::packed_bytes() const {
  if (form_ != Form::kPacked) return {};
  return bytes_;
}

void ValueArray::reserve(size_t n, size_t string_bytes) {
  reserve_ = n;
  reserve_chars_ = string_bytes;
  switch (form_) {
    case Form::kEmpty: break;
    case Form::kPacked: bytes_.reserve(n * value_type_size(type_)); break;
    case Form::kStrings:
      ends_.reserve(n);
      bytes_.reserve(string_bytes);
      break;
    case Form::kGeneric: values_.reserve(n); break;
  }
}

void ValueArray::push_back(const Value& v) {
  unsigned char packed[8];
  if (form_ == Form::kEmpty) {
    if (is_plain_string(v)) {
      form_ = Form::kStrings;
      type_ = ValueType::STRING;
      ends_.reserve(reserve_);
      bytes_.reserve(reserve_chars_);
    } else if (pack_scalar(v, packed)) {
      form_ = Form::kPacked;
      type_ = v.type;
      bytes_.reserve(reserve_ * value_type_size(type_));
    } else {
      form_ = Form::kGeneric;
      values_.reserve(reserve_);
    }
  }
  if (form_ == Form::kStrings) {
    if (is_plain_string(v)) return push_string(v.str);
    to_generic();
  } else if (form_ == Form::kPacked) {
    if (v.type == type_ && pack_scalar(v, packed)) {
      bytes_.insert(bytes_.end(), packed, packed + value_type_size(type_));
      ++size_;
      return;
    }
    to_generic();
  }
  values_.push_back(v);
  ++size_;
}

void ValueArray::push_string(std::string_view text) {
  if (form_ == Form::kEmpty) {
    form_ = Form::kStrings;
    type_ = ValueType::STRING;
    ends_.reserve(reserve_);
    bytes_.reserve(reserve_chars_);
  }
  if (form_ != Form::kStrings) {
    if (form_ == Form::kPacked) to_generic();
    values_.push_back(Value::string(std::string(text)));
    ++size_;
    return;
  }
  bytes_.insert(bytes_.end(), text.begin(), text.end());
  ends_.push_back(bytes_.size());
  ++size_;
}

void ValueArray::to_generic() {
  std::vector<Value> values;
  values.reserve(std::max(size_ + 1, reserve_));
  for (size_t k = 0; k < size_; ++k) values.push_back((*this)[k]);
  bytes_ = {};
  ends_ = {};
  values_ = std::move(values);
  form_ = Form::kGeneric;
}

void ValueArray::resize(size_t n) {
  if (n >= size_) {
    while (size_ < n) push_back(Value{});
    return;
  }
  switch (form_) {
    case Form::kEmpty: break;
    case Form::kPacked: bytes_.resize(n * value_type_size(type_)); break;
    case Form::kStrings:
      ends_.resize(n);
      bytes_.resize(n == 0 ? 0 : static_cast<size_t>(ends_.back()));
      break;
    case Form::kGeneric: values_.resize(n); break;
  }
  size_ = n;
}

void ValueArray::clear() { *this = ValueArray(); }

void ValueArray::shrink_to_fit() {
  bytes_.shrink_to_fit();
  ends_.shrink_to_fit();
  values_.shrink_to_fit();
}

bool ValueArray::operator==(const ValueArray& o) const {
  if (size_ != o.size_) return false;
  if (form_ == o.form_ && type_ == o.type_) {
    if (form_ == Form::kStrings) return ends_ == o.ends_ && bytes_ == o.bytes_;
    if (form_ == Form::kGeneric) return values_ == o.values_;
    // Packed floats compare by value (NaN equals NaN, see Value::operator==); the rest by bits.
    if (form_ == Form::kPacked && type_ != ValueType::F32 && type_ != ValueType::F64) return bytes_ == o.bytes_;
  }
  for (size_t k = 0; k < size_; ++k)
    if (!((*this)[k] == o[k])) return false;
  return true;
}

// --- Value ---

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
