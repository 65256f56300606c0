// libFuzzer target for the GGUF parser (the same code read_gguf uses, fed from memory).
//
// Seed mode: with LAYERLAB_FUZZ_SEED_DIR set, the binary writes small seed files there
// instead of fuzzing: every fixture GGUF under $LAYERLAB_SHARED_DIR/fixtures/{models,vocab}
// with its full key set (arrays cut to a few items) and a few tiny tensors of its own types.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/io/gguf_writer.h"

namespace {

constexpr size_t kSeedArrayItems = 24;
constexpr size_t kSeedTensors = 6;

layerlab::ModelFile shrink(const layerlab::ModelFile& model) {
  layerlab::ModelFile seed;
  seed.alignment = model.alignment;
  for (const auto& [key, value] : model.metadata.items()) {
    layerlab::Value v = value;
    if (v.is_array() && v.items.size() > kSeedArrayItems) v.items.resize(kSeedArrayItems);
    seed.metadata.set(key, std::move(v));
  }
  for (size_t k = 0; k < model.tensors.size() && k < kSeedTensors; ++k) {
    layerlab::TensorInfo t = model.tensors[k];
    auto info = layerlab::ggml_type_info(static_cast<uint32_t>(t.type));
    t.ne = {static_cast<int64_t>(info->block_size), t.n_dims > 1 ? 2 : 1, 1, 1};
    if (t.n_bytes() > t.data.size()) t.ne[1] = 1;
    t.data = t.data.first(t.n_bytes());  // real bytes from the start of the tensor
    seed.tensors.push_back(t);
  }
  seed.mappings = model.mappings;
  return seed;
}

void write_seeds(const std::string& out_dir, const std::string& shared) {
  namespace fs = std::filesystem;
  fs::create_directories(out_dir);
  int written = 0;
  for (const char* sub : {"/fixtures/models", "/fixtures/vocab"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(shared + sub, ec)) {
      if (e.path().extension() != ".gguf") continue;
      try {
        layerlab::ModelFile model = layerlab::read_gguf(e.path().string());
        layerlab::write_gguf(shrink(model), out_dir + "/seed-" + e.path().filename().string());
        ++written;
      } catch (const layerlab::Error& err) {
        std::fprintf(stderr, "seed: %s\n", err.what());
      }
    }
  }
  std::fprintf(stderr, "seed: wrote %d GGUF seeds to %s\n", written, out_dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("LAYERLAB_FUZZ_SEED_DIR")) {
    const char* shared = std::getenv("LAYERLAB_SHARED_DIR");
    write_seeds(dir, shared ? shared : "../shared");
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    layerlab::ModelFile model = layerlab::read_gguf_from_memory(bytes, "fuzz-input.gguf");
    // Touch every tensor byte so the sanitizers check that the spans stay inside the input.
    unsigned sum = 0;
    for (const auto& t : model.tensors)
      for (std::byte b : t.data) sum += static_cast<unsigned>(b);
    volatile unsigned sink = sum;
    (void)sink;
  } catch (const layerlab::Error&) {
    // Refusing bad input is the expected outcome.
  }
  return 0;
}
