#include "layerlab/runtime/kv_cache.h"

#include <algorithm>
#include <string>
#include <utility>

#include "layerlab/io/error.h"

namespace layerlab {

KvCache::KvCache(std::vector<int64_t> k_width, std::vector<int64_t> v_width, int64_t max_positions)
    : k_width_(std::move(k_width)), v_width_(std::move(v_width)), max_positions_(max_positions) {}

void KvCache::reset(int n_sequences) {
  const size_t n = static_cast<size_t>(n_sequences);
  length_.assign(n, 0);
  // Keep existing buffers (and their capacity) for sequences that still exist.
  capacity_.resize(n, 0);
  stores_.resize(n * k_width_.size());
}

uint64_t KvCache::bytes() const {
  uint64_t total = 0;
  for (const Store& st : stores_) total += (st.k.capacity() + st.v.capacity()) * sizeof(float);
  return total;
}

void KvCache::reserve(int s, int64_t n_positions) {
  if (n_positions > max_positions_)
    throw Error("sequence " + std::to_string(s) + ": " + std::to_string(n_positions) +
                " positions exceed the context size of " + std::to_string(max_positions_));
  int64_t& cap = capacity_[static_cast<size_t>(s)];
  if (n_positions <= cap) return;
  const int64_t grown = std::min(max_positions_, std::max<int64_t>(n_positions, std::max<int64_t>(16, 2 * cap)));
  for (int j = 0; j < n_slots(); ++j) {
    Store& st = store(j, s);
    st.k.resize(static_cast<size_t>(grown * k_width_[j]));
    st.v.resize(static_cast<size_t>(grown * v_width_[j]));
  }
  cap = grown;
}

}  // namespace layerlab
