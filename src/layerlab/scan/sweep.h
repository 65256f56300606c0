// The configurations a scan runs: every block duplication or deletion a user asks for, or
// every experts-per-token count, plus the baseline (the model as trained) first.
//
// Blocks are inclusive layer ranges [start, end]. A duplication block is the RYS plan
// `dup:start,end+1` (layers 0..end, then start..end once more per extra pass, then the rest);
// a deletion block is `del:start-end`. Blocks can be restricted to whole periods of a hybrid
// model's layer pattern (start and length multiples of the period) and to one layer kind.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "layerlab/model/config.h"
#include "layerlab/plan/plan.h"

namespace layerlab {

enum class SweepKind { kDuplicate, kDelete, kExperts };
std::string_view sweep_kind_name(SweepKind kind);  // "dup" / "del" / "experts"

struct SweepOptions {
  SweepKind kind = SweepKind::kDuplicate;
  int min_block = 1;
  int max_block = 0;   // 0: no limit (a deletion keeps at least one layer)
  int first_layer = 0; // blocks lie within [first_layer, last_layer]
  int last_layer = -1; // -1: the last layer
  int passes = 1;      // duplication: extra passes of the block
  int period = 0;      // 0: any block; p > 1: start and length multiples of p
  std::optional<MixerKind> only_kind;  // every layer of a block has this mixer kind
  std::vector<int> experts;            // experts sweep: the counts (empty: 1..n_expert)
};

struct ScanConfig {
  std::string key;        // unique, and valid plan text where it is a plan ("baseline" otherwise)
  SweepKind kind = SweepKind::kDuplicate;
  bool baseline = false;
  int start = -1, end = -1;  // block, inclusive (dup / del)
  int passes = 0;
  int experts_per_token = 0; // 0: the model's own count
  Plan plan;                 // empty slots: the model as trained
};

// The baseline followed by the sweep. Throws Error naming the problem when the options
// cannot fit the model (e.g. an experts sweep on a dense model, a period on a model without
// one, no block satisfying the restrictions).
std::vector<ScanConfig> make_sweep(const ModelConfig& config, const SweepOptions& options);

// The period `--period auto` means: the hybrid pattern's full_attention_interval, else 1.
int auto_period(const ModelConfig& config);

}  // namespace layerlab
