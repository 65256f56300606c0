// libFuzzer target for the safetensors header parser (the code read_safetensors_files uses,
// fed from memory). Every input must either parse into entries that lie inside the buffer
// or be refused with layerlab::Error; anything else (a crash, a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "layerlab/io/error.h"
#include "layerlab/io/safetensors_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    layerlab::SafetensorsHeader h = layerlab::parse_safetensors(bytes, "fuzz-input");
    uint64_t prev_end = 0;
    for (const auto& e : h.entries) {
      // Validation promises: in bounds, sorted, non-overlapping.
      if (e.end < e.begin || h.data_offset + e.end > size || e.begin < prev_end) std::abort();
      prev_end = e.end;
    }
  } catch (const layerlab::Error&) {
  }
  return 0;
}
