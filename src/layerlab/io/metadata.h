// GGUF-style key/value metadata, kept in file order so that a file written back has
// the same keys in the same order with the same value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace layerlab {

// GGUF value type ids (gguf_type).
enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
std::string_view value_type_name(ValueType type);
bool is_valid_value_type(uint32_t id);
// Bytes of one scalar of this type on disk; 0 for STRING and ARRAY.
uint32_t value_type_size(ValueType type);

// One metadata value. Integers are held widened (unsigned in `u`, signed in `i`),
// floats in `f`; `type` remembers the stored width so a round trip is exact.
struct Value {
  ValueType type = ValueType::U32;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0.0;
  std::string str;
  ValueType elem_type = ValueType::U8;  // for ARRAY
  std::vector<Value> items;             // for ARRAY

  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value u64(uint64_t v);
  static Value f32(float v);
  static Value boolean(bool v);
  static Value string(std::string v);
  static Value array(ValueType elem_type, std::vector<Value> items);
  static Value string_array(const std::vector<std::string>& v);

  bool is_array() const { return type == ValueType::ARRAY; }
  bool is_integer() const;
  bool is_float() const { return type == ValueType::F32 || type == ValueType::F64; }
  // Numeric views; integers convert to double, bools to 0/1.
  std::optional<int64_t> as_int() const;
  std::optional<double> as_double() const;
  // A readable rendering for `inspect` (long arrays are abbreviated).
  std::string to_display(size_t max_items = 8) const;
  bool operator==(const Value& other) const;
};

class Metadata {
 public:
  // Inserts or replaces; a replaced key keeps its position.
  void set(std::string key, Value value);
  bool erase(std::string_view key);
  const Value* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: nullopt if the key is absent or has an unsuitable type.
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;

  const std::vector<std::pair<std::string, Value>>& items() const { return items_; }
  size_t size() const { return items_.size(); }
  bool operator==(const Metadata& other) const { return items_ == other.items_; }

 private:
  std::vector<std::pair<std::string, Value>> items_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace layerlab
