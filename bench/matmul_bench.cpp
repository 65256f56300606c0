// Matrix-product throughput on qwen2.5-0.5b shapes, next to the machine's own limits:
// a STREAM-like triad (memory bandwidth) and a vector FMA loop (float peak), so the table
// shows efficiency, not just speed.
//
// Usage: matmul_bench [--quick] [--target NAME] [TYPE...]   (types default to F32 F16 Q8_0 Q4_K Q6_K)
//   --target forces one compiled SIMD target the CPU supports (AVX2, AVX3, AVX3_DL, ...), so
//   two targets can be compared on the same machine state.
//   decode  = 1 token, reported as GB/s of weight bytes streamed (weights cycled through
//             enough copies to exceed the last-level cache);
//   prefill = 128 and 512 tokens, reported as GFLOP/s (2 * n_in * n_out * tokens).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "hwy/targets.h"
#include "layerlab/io/ggml_type.h"
#include "layerlab/tensor/f16.h"
#include "layerlab/tensor/kernels.h"
#include "layerlab/tensor/matmul.h"
#include "layerlab/util/thread_pool.h"
#include "machine_peaks.h"

using namespace layerlab;
using layerlab::bench::best_time;

namespace {

// Random weight bytes with finite f16 scales (values do not matter for speed).
std::vector<std::byte> random_weight(GgmlType t, int64_t n_in, int64_t n_out, size_t& row_bytes, std::mt19937& rng) {
  const auto info = *ggml_type_info(static_cast<uint32_t>(t));
  row_bytes = static_cast<size_t>(n_in / info.block_size) * info.type_size;
  std::vector<std::byte> w(row_bytes * static_cast<size_t>(n_out));
  std::uniform_int_distribution<int> byte(0, 255);
  if (t == GgmlType::F32) {
    auto* f = reinterpret_cast<float*>(w.data());
    for (size_t i = 0; i < w.size() / 4; ++i) f[i] = (byte(rng) - 128) / 1024.0f;
    return w;
  }
  for (auto& b : w) b = static_cast<std::byte>(byte(rng));
  auto put = [&](size_t off) {
    const uint16_t h = fp32_to_fp16(0.001f + byte(rng) / 25600.0f);
    std::memcpy(&w[off], &h, 2);
  };
  if (t == GgmlType::F16) {
    for (size_t i = 0; i < w.size(); i += 2) put(i);
  } else if (t == GgmlType::Q8_0) {
    for (size_t i = 0; i < w.size(); i += 34) put(i);
  } else if (t == GgmlType::Q4_0) {
    for (size_t i = 0; i < w.size(); i += 18) put(i);
  } else if (t == GgmlType::Q5_0) {
    for (size_t i = 0; i < w.size(); i += 22) put(i);
  } else if (t == GgmlType::Q4_K) {
    for (size_t i = 0; i < w.size(); i += 144) { put(i); put(i + 2); }
  } else if (t == GgmlType::Q6_K) {
    for (size_t i = 0; i < w.size(); i += 210) put(i + 208);
  }
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  const char* forced = nullptr;
  std::vector<GgmlType> types;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      quick = true;
      continue;
    }
    if (arg == "--target" && i + 1 < argc) {
      forced = argv[++i];
      const std::string name = forced;
      bool found = false;
      for (int64_t target = 1; target != 0 && target <= hwy::SupportedTargets(); target <<= 1)
        if ((hwy::SupportedTargets() & target) && name == hwy::TargetName(target)) {
          hwy::SetSupportedTargetsForTest(target);
          found = true;
        }
      if (!found) {
        std::fprintf(stderr, "target %s is not compiled or not supported here\n", name.c_str());
        return 2;
      }
      continue;
    }
    const auto t = ggml_type_by_name(arg);
    if (!t) {
      std::fprintf(stderr, "unknown type %s\n", argv[i]);
      return 2;
    }
    types.push_back(t->type);
  }
  if (types.empty()) types = {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K};
  std::printf("SIMD target: %s\n", simd_target_name());
  if (forced && std::string(forced) != simd_target_name()) {
    std::fprintf(stderr, "target %s is not compiled into the kernels\n", forced);
    return 2;
  }
  std::mt19937 rng(42);
  const int64_t triad_n = quick ? (8 << 20) : (32 << 20);  // 3 arrays x 128 MiB > L3
  double bw[3] = {0, 0, 0}, peak[3] = {0, 0, 0};
  for (int th : {1, 2}) {
    ThreadPool pool(th);
    bw[th] = bench::triad_gbs(pool, triad_n);
    peak[th] = bench::fma_peak_gflops(pool);
    std::printf("threads %d: triad %.1f GB/s, FMA peak %.1f GFLOP/s\n", th, bw[th], peak[th]);
  }
  std::printf("\n%-5s %-10s %-5s %2s %10s %8s %12s %8s %12s %8s\n", "type", "shape", "mode", "th",
              "decode GB/s", "/triad", "pf128 GF/s", "/peak", "pf512 GF/s", "/peak");
  const std::pair<int64_t, int64_t> shapes[] = {{896, 4864}, {4864, 896}};
  for (GgmlType t : types) {
    for (auto [n_in, n_out] : shapes) {
      if (n_in % ggml_type_info(static_cast<uint32_t>(t))->block_size != 0) {
        // 896 is not a multiple of 256: real Q4_K_M files store such matrices in another type.
        std::printf("%-5s %4lldx%-5lld (row length not a multiple of the block size; skipped)\n",
                    std::string(ggml_type_name(t)).c_str(), (long long)n_in, (long long)n_out);
        continue;
      }
      size_t rb = 0;
      const auto w = random_weight(t, n_in, n_out, rb, rng);
      const size_t mat_bytes = w.size();
      // Copies so that one decode pass streams more than the last-level cache holds.
      const int64_t copies = std::max<int64_t>(1, static_cast<int64_t>((quick ? 64e6 : 320e6) / mat_bytes));
      std::vector<std::byte> big(mat_bytes * copies);
      for (int64_t c = 0; c < copies; ++c) std::memcpy(big.data() + c * mat_bytes, w.data(), mat_bytes);
      std::vector<float> x(static_cast<size_t>(n_in * 512));
      for (auto& v : x) v = std::normal_distribution<float>(0, 1)(rng);
      std::vector<float> y(static_cast<size_t>(n_out * 512));
      for (auto mode : {ActivationMode::kGgml, ActivationMode::kExact}) {
        for (int th : {1, 2}) {
          ThreadPool pool(th);
          const double td = best_time(quick ? 1 : 3, [&] {
            for (int64_t c = 0; c < copies; ++c) {
              WeightView v{t, n_in, n_out, big.data() + c * mat_bytes, rb};
              matmul(v, x.data(), 1, y.data(), mode, pool);
            }
          });
          const double dec = static_cast<double>(mat_bytes * copies) / td / 1e9;
          WeightView v{t, n_in, n_out, w.data(), rb};
          double pf[2];
          int k = 0;
          for (int64_t tokens : {128, 512}) {
            const double tp = best_time(quick ? 1 : 2, [&] { matmul(v, x.data(), tokens, y.data(), mode, pool); });
            pf[k++] = 2.0 * n_in * n_out * tokens / tp / 1e9;
          }
          std::printf("%-5s %4lldx%-5lld %-5s %2d %10.1f %8.2f %12.1f %8.2f %12.1f %8.2f\n",
                      std::string(ggml_type_name(t)).c_str(), (long long)n_in, (long long)n_out,
                      mode == ActivationMode::kGgml ? "ggml" : "exact", th, dec, dec / bw[th], pf[0],
                      pf[0] / peak[th], pf[1], pf[1] / peak[th]);
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
