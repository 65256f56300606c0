// GGUF-style key/value metadata, kept in file order so that a file written back has
// the same keys in the same order with the same value types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <span>
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

struct Value;

// The elements of an ARRAY value, held compactly. It behaves like a std::vector<Value> whose
// elements are read by value: a run of plain scalars of one type is packed at its on-disk
// width, a run of strings is one character blob plus end offsets, and anything else (nested
// arrays, mixed element types, a value the packed form cannot reproduce exactly) falls back
// to a list of Values. A tokenizer's 150k-entry token and merge lists thus cost a few bytes
// per entry instead of a Value each.
class ValueArray {
 public:
  class const_iterator;

  ValueArray() = default;
  ValueArray(std::initializer_list<Value> values);
  ValueArray(const std::vector<Value>& values);  // NOLINT: implicit, as for Value::array

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Element k as a standalone value (a copy). Out-of-range k throws std::out_of_range.
  Value operator[](size_t k) const;
  Value at(size_t k) const;
  Value back() const;
  // Fast element views, without building a Value: the text of a STRING element ("" for any
  // other), and the numeric views of Value::as_int / as_double.
  std::string_view string_at(size_t k) const;
  std::optional<int64_t> int_at(size_t k) const;
  std::optional<double> double_at(size_t k) const;
  // The type every element has when they all share one, else nullopt (also when empty).
  std::optional<ValueType> uniform_type() const;
  // The packed scalars (uniform_type()'s width each), empty unless the array is packed.
  std::span<const unsigned char> packed_bytes() const;

  // Room for n elements; string_bytes of text in total when they are strings.
  void reserve(size_t n, size_t string_bytes = 0);
  void push_back(const Value& v);
  void push_string(std::string_view text);  // appends a STRING element
  // Drops elements past n, or appends default Values (u32 0) up to n.
  void resize(size_t n);
  void clear();
  // Returns spare capacity (after reading an array of unknown total string length).
  void shrink_to_fit();

  const_iterator begin() const;
  const_iterator end() const;

  bool operator==(const ValueArray& other) const;

 private:
  enum class Form : uint8_t { kEmpty, kPacked, kStrings, kGeneric };
  void to_generic();

  Form form_ = Form::kEmpty;
  ValueType type_ = ValueType::U8;   // element type of kPacked / kStrings
  size_t size_ = 0;
  size_t reserve_ = 0, reserve_chars_ = 0;  // applied once the form is known
  std::vector<unsigned char> bytes_;  // kPacked: scalars; kStrings: the characters
  std::vector<uint64_t> ends_;        // kStrings: end offset of each string in bytes_
  std::vector<Value> values_;         // kGeneric
};

// One metadata value. Integers are held widened (unsigned in `u`, signed in `i`),
// floats in `f`; `type` remembers the stored width so a round trip is exact.
struct Value {
  ValueType type = ValueType::U32;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0.0;
  std::string str;
  ValueType elem_type = ValueType::U8;  // for ARRAY
  ValueArray items;                     // for ARRAY

  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value u64(uint64_t v);
  static Value f32(float v);
  static Value boolean(bool v);
  static Value string(std::string v);
  // `items` converts from a std::vector<Value> or a braced list of Values.
  static Value array(ValueType elem_type, ValueArray items);
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

// Iterates a ValueArray, yielding each element by value.
class ValueArray::const_iterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = Value;
  using difference_type = std::ptrdiff_t;
  using reference = Value;
  using pointer = void;

  const_iterator(const ValueArray* array, size_t k) : array_(array), k_(k) {}
  Value operator*() const { return (*array_)[k_]; }
  const_iterator& operator++() { ++k_; return *this; }
  const_iterator operator++(int) { auto old = *this; ++k_; return old; }
  bool operator==(const const_iterator& o) const { return k_ == o.k_; }

 private:
  const ValueArray* array_;
  size_t k_;
};

inline Value ValueArray::at(size_t k) const { return (*this)[k]; }
inline Value ValueArray::back() const { return (*this)[size_ - 1]; }
inline ValueArray::const_iterator ValueArray::begin() const { return {this, 0}; }
inline ValueArray::const_iterator ValueArray::end() const { return {this, size_}; }

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
