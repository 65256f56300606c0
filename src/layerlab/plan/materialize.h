// Turns a plan into a model file whose decoder layers are the plan's slots, for `apply`.
//
// Tensors `blk.<source>.*` of each slot's source model become `blk.<slot>.*` — the bytes are
// views of the sources, copied byte for byte when written, so a quantized model stays
// quantized. `block_count` and every per-layer metadata array are rewritten for the new
// sequence; hybrid (linear-attention) models get an explicit `attention.recurrent_layers`
// array, because the interval rule would mislabel moved layers. MTP/NextN blocks after the
// trunk are kept after the new trunk. Provenance goes into `layerlab.plan` / `layerlab.source`.
#pragma once

#include <string>
#include <vector>

#include "layerlab/io/model_file.h"
#include "layerlab/plan/plan.h"

namespace layerlab {

struct MaterializeInput {
  const ModelFile* host = nullptr;
  std::vector<const ModelFile*> donors;  // donor k is donors[k-1]
  std::string source_label;              // recorded as layerlab.source (e.g. the host path)
};

ModelFile materialize_plan(const MaterializeInput& input, const Plan& plan);

// Keys under "<arch>." whose value is an array with one entry per block.
bool is_per_layer_key(const std::string& key, const Value& value, const std::string& arch, int64_t block_count);

}  // namespace layerlab
