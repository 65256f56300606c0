// Attention K/V storage, one buffer pair per executed SLOT and per sequence.
//
// Keyed by slot, never by source layer: a layer that a plan runs twice writes two separate
// caches (the second execution sees the first one's output, not its own earlier K/V).
// Values are F32 (llama.cpp's exact profile: -ctk f32 -ctv f32). K is stored after RoPE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace layerlab {

class KvCache {
 public:
  // k_width[j] / v_width[j]: floats per position in slot j (n_head_kv * head_dim).
  // max_positions: the most positions one sequence may hold (the context size).
  KvCache(std::vector<int64_t> k_width, std::vector<int64_t> v_width, int64_t max_positions);

  // Drops every sequence and its contents (capacity is kept for reuse).
  void reset(int n_sequences);
  int n_sequences() const { return static_cast<int>(length_.size()); }
  int n_slots() const { return static_cast<int>(k_width_.size()); }
  int64_t max_positions() const { return max_positions_; }

  // Positions stored for sequence s (the same in every slot).
  int64_t length(int s) const { return length_[static_cast<size_t>(s)]; }
  // Makes room for n_positions in sequence s, growing geometrically so that decoding one
  // token at a time reallocates only O(log n) times. Throws layerlab::Error past max_positions.
  void reserve(int s, int64_t n_positions);
  void set_length(int s, int64_t n_positions) { length_[static_cast<size_t>(s)] = n_positions; }

  // Row of position `pos` of sequence s in slot j; rows are contiguous, k_width(j) apart.
  float* k(int slot, int s, int64_t pos) { return store(slot, s).k.data() + pos * k_width_[slot]; }
  float* v(int slot, int s, int64_t pos) { return store(slot, s).v.data() + pos * v_width_[slot]; }
  int64_t k_width(int slot) const { return k_width_[static_cast<size_t>(slot)]; }
  // Bytes allocated for K and V over all slots and sequences.
  uint64_t bytes() const;
  int64_t v_width(int slot) const { return v_width_[static_cast<size_t>(slot)]; }

 private:
  struct Store {
    std::vector<float> k, v;
  };
  Store& store(int slot, int s) { return stores_[static_cast<size_t>(s * n_slots() + slot)]; }

  std::vector<int64_t> k_width_, v_width_;
  int64_t max_positions_ = 0;
  std::vector<int64_t> length_;    // per sequence
  std::vector<int64_t> capacity_;  // per sequence, positions
  std::vector<Store> stores_;      // [sequence][slot]
};

}  // namespace layerlab
