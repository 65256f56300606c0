// Lookup tables of a vocabulary, sized for 150k-token vocabularies: open addressing over
// plain arrays instead of node-based hash maps, so a table costs a few bytes per entry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace layerlab {

struct TransparentStringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Token text -> id. A slot holds only an id; a probe compares against the token's own text,
// which the caller passes in (the index does not own the texts).
class TokenTextIndex {
 public:
  // Indexes the texts of ids 0..n-1 (text_of(id) gives one); a repeated text keeps its first id.
  template <typename TextOf>
  void build(size_t n, TextOf text_of) {
    reset(n);
    for (size_t id = 0; id < n; ++id) {
      const std::string_view text = text_of(static_cast<int32_t>(id));
      size_t s = hash(text) & mask_;
      while (slots_[s] >= 0 && text_of(slots_[s]) != text) s = (s + 1) & mask_;
      if (slots_[s] < 0) slots_[s] = static_cast<int32_t>(id);
    }
  }
  // The id of `text`, or -1; text_of must give the texts build() indexed.
  template <typename TextOf>
  int32_t find(std::string_view text, TextOf text_of) const {
    if (slots_.empty()) return -1;
    for (size_t s = hash(text) & mask_;; s = (s + 1) & mask_) {
      const int32_t id = slots_[s];
      if (id < 0) return -1;
      if (text_of(id) == text) return id;
    }
  }

 private:
  static size_t hash(std::string_view text) { return std::hash<std::string_view>{}(text); }
  void reset(size_t n);
  std::vector<int32_t> slots_;  // -1: empty
  size_t mask_ = 0;
};

// (left token id, right token id) -> merge rank.
class MergeRankTable {
 public:
  void reserve(size_t n);
  // Keeps the first rank given for a pair.
  void insert(int32_t left, int32_t right, int32_t rank);
  // The rank, or -1.
  int32_t find(int32_t left, int32_t right) const;
  size_t size() const { return size_; }

 private:
  static uint64_t key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  static size_t hash(uint64_t k);
  void grow();

  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are non-negative: never a real key
  std::vector<uint64_t> keys_;
  std::vector<int32_t> ranks_;
  size_t mask_ = 0, size_ = 0;
};

}  // namespace layerlab
