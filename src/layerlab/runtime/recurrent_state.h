// Recurrent state of the linear-attention (Gated DeltaNet) layers: a conv state and an SSM
// state per executed SLOT and per sequence.
//
// Keyed by slot, never by source layer: a linear-attention layer that a plan runs twice keeps
// two states (each execution advances its own recurrence). Slots of other kinds hold nothing.
// A new sequence starts from zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace layerlab {

class RecurrentState {
 public:
  RecurrentState() = default;
  // conv_size[j] / ssm_size[j]: floats per sequence in slot j (0 for a slot without state).
  RecurrentState(std::vector<int64_t> conv_size, std::vector<int64_t> ssm_size);

  // Drops every sequence and starts n_sequences zero states.
  void reset(int n_sequences);
  int n_sequences() const { return n_sequences_; }
  int n_slots() const { return static_cast<int>(conv_size_.size()); }
  bool has_state(int slot) const { return conv_size_[static_cast<size_t>(slot)] + ssm_size_[static_cast<size_t>(slot)] > 0; }

  float* conv(int slot, int s) { return data_.data() + offset(slot, s); }
  float* ssm(int slot, int s) { return conv(slot, s) + conv_size_[static_cast<size_t>(slot)]; }
  int64_t conv_size(int slot) const { return conv_size_[static_cast<size_t>(slot)]; }
  int64_t ssm_size(int slot) const { return ssm_size_[static_cast<size_t>(slot)]; }
  // Floats held per sequence, all slots together.
  int64_t floats_per_sequence() const { return per_sequence_; }

 private:
  int64_t offset(int slot, int s) const {
    return s * per_sequence_ + slot_offset_[static_cast<size_t>(slot)];
  }

  std::vector<int64_t> conv_size_, ssm_size_, slot_offset_;
  int64_t per_sequence_ = 0;
  int n_sequences_ = 0;
  std::vector<float> data_;  // [sequence][slot: conv | ssm]
};

}  // namespace layerlab
