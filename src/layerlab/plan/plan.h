// A layer plan: the sequence of decoder-layer slots a model executes.
//
// Duplication, repetition, deletion and transplant are all plans. A slot names a source
// (model, layer); model 0 is the host, 1.. are donors in the order given. Weights belong
// to the source layer (a repeated layer shares them); caches belong to the slot.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "layerlab/io/error.h"

namespace layerlab {

struct PlanSlot {
  int model = 0;   // 0 = host model, k >= 1 = donor k
  int layer = 0;   // source layer index in that model
  int pass = 0;    // 0 on the first execution of this (model, layer), 1 on the second, ...
  bool operator==(const PlanSlot& o) const { return model == o.model && layer == o.layer; }
};

struct Plan {
  std::vector<PlanSlot> slots;
  // On slots with pass >= 1, only repeat_scale × the layer's residual update is added
  // (1 = plain repetition). Damped repeats test whether extra passes must destroy.
  float repeat_scale = 1.0f;

  static Plan identity(int n_layer);
  // Host slots running these source layers, in order (passes assigned).
  static Plan from_layers(const std::vector<int>& layers);
  std::vector<int> host_layers() const;  // layer per slot (all slots must be host slots)
  bool is_identity(int n_layer) const;
  bool uses_donors() const;
  // Canonical text: explicit ranges, e.g. "0-3,2-3,4-5" or "0-9,donor1:10-12,13-23".
  std::string to_string() const;
};

// A plan that cannot be parsed or does not fit the models; the message names the token
// and its 1-based column in the plan text.
class PlanError : public Error {
 public:
  using Error::Error;
};

struct PlanLimits {
  int host_layers = 0;               // layers of the host model
  std::vector<int> donor_layers;     // layers of donor 1, 2, ... (empty: no donors given)
};

// Parses the plan language (docs/plans.md):
//   explicit ranges   0-3,2-3,4-5        (inclusive, execution order; single layers allowed)
//   RYS duplication   dup:I,J  dup:I,J,x2   (run 0..J-1, then I..J-1 again (x2: twice more), then J..N-1)
//   deletion          del:I  del:I-J  del:1,5-7
//   transplant        0-9,donor:10-12,13-23  (donor = donor1; donor2:..., ...)
//   identity          all | identity
// Every layer is checked against `limits`.
Plan parse_plan(std::string_view text, const PlanLimits& limits);

// Slot passes recomputed from the order (used after building slots by hand).
void assign_passes(Plan& plan);

}  // namespace layerlab
