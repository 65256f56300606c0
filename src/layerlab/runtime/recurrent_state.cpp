#include "layerlab/runtime/recurrent_state.h"

#include <algorithm>

#include "layerlab/io/error.h"

namespace layerlab {

RecurrentState::RecurrentState(std::vector<int64_t> conv_size, std::vector<int64_t> ssm_size)
    : conv_size_(std::move(conv_size)), ssm_size_(std::move(ssm_size)) {
  if (conv_size_.size() != ssm_size_.size()) throw Error("recurrent state: conv and SSM slot counts differ");
  slot_offset_.resize(conv_size_.size());
  for (size_t j = 0; j < conv_size_.size(); ++j) {
    slot_offset_[j] = per_sequence_;
    per_sequence_ += conv_size_[j] + ssm_size_[j];
  }
}

void RecurrentState::reset(int n_sequences) {
  n_sequences_ = n_sequences;
  data_.assign(static_cast<size_t>(per_sequence_ * n_sequences), 0.0f);
}

}  // namespace layerlab
