#include "layerlab/text/vocab_tables.h"

#include <algorithm>
#include <bit>

namespace layerlab {

namespace {

// Slots for n entries at a load factor of at most 3/4, a power of two (at least 16).
size_t table_slots(size_t n) { return std::bit_ceil(std::max<size_t>(16, n + n / 3 + 1)); }

}  // namespace

void TokenTextIndex::reset(size_t n) {
  slots_.assign(table_slots(n), -1);
  mask_ = slots_.size() - 1;
}

size_t MergeRankTable::hash(uint64_t k) {
  // splitmix64's finalizer: ids are small and dense, so their bits need spreading.
  k ^= k >> 30;
  k *= 0xbf58476d1ce4e5b9ull;
  k ^= k >> 27;
  k *= 0x94d049bb133111ebull;
  k ^= k >> 31;
  return static_cast<size_t>(k);
}

void MergeRankTable::reserve(size_t n) {
  if (table_slots(n) <= keys_.size()) return;
  std::vector<uint64_t> keys = std::move(keys_);
  std::vector<int32_t> ranks = std::move(ranks_);
  keys_.assign(table_slots(n), kEmpty);
  ranks_.assign(keys_.size(), -1);
  mask_ = keys_.size() - 1;
  size_ = 0;
  for (size_t s = 0; s < keys.size(); ++s)
    if (keys[s] != kEmpty) insert(static_cast<int32_t>(keys[s] >> 32), static_cast<int32_t>(keys[s] & 0xffffffffu), ranks[s]);
}

void MergeRankTable::insert(int32_t left, int32_t right, int32_t rank) {
  if (keys_.empty() || table_slots(size_ + 1) > keys_.size()) reserve(std::max<size_t>(size_ + 1, size_ * 2));
  const uint64_t k = key(left, right);
  size_t s = hash(k) & mask_;
  for (; keys_[s] != kEmpty; s = (s + 1) & mask_)
    if (keys_[s] == k) return;  // first rank wins
  keys_[s] = k;
  ranks_[s] = rank;
  ++size_;
}

int32_t MergeRankTable::find(int32_t left, int32_t right) const {
  if (keys_.empty()) return -1;
  const uint64_t k = key(left, right);
  for (size_t s = hash(k) & mask_;; s = (s + 1) & mask_) {
    if (keys_[s] == k) return ranks_[s];
    if (keys_[s] == kEmpty) return -1;
  }
}

}  // namespace layerlab
