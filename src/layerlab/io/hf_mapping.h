// Conversion between a Hugging Face checkpoint (config.json + safetensors tensors under HF
// names) and the canonical ModelFile (GGUF names, metadata and value conventions), in both
// directions. Names: hf_names.h; config keys: hf_config.h; value transforms: hf_transforms.h.
// Per-expert HF tensors are stacked into 3-D *_exps tensors on the way in and sliced (no
// copy) on the way out.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "layerlab/io/hf_config.h"
#include "layerlab/io/model_file.h"
#include "layerlab/io/safetensors_reader.h"

namespace layerlab {

// Builds the canonical model from HF tensors and config.json (`config_path` names it in
// errors). Takes over the mappings of `raw`.
ModelFile hf_to_canonical(SafetensorsSet raw, const nlohmann::json& config, const std::string& config_path);

struct HfTensor {
  std::string name;
  GgmlType type = GgmlType::F32;   // F32, F16, BF16, F64 or an integer type
  std::vector<int64_t> shape;      // outermost first (safetensors order)
  std::span<const std::byte> data;
};

struct HfCheckpoint {
  nlohmann::json config;
  std::vector<HfTensor> tensors;   // in the canonical model's tensor order
  std::vector<std::shared_ptr<const std::vector<std::byte>>> buffers;  // owners of transformed data
};

// The HF form of a canonical model. A block-quantized tensor is refused with an Error naming
// it, unless `dequantize` is set, in which case it is written as F32 (dequantize_row).
HfCheckpoint canonical_to_hf(const ModelFile& model, bool dequantize);

}  // namespace layerlab
