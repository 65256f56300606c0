// The machine's own limits, measured in the same run as a benchmark so that results can be
// given as efficiencies: a STREAM-like triad (memory bandwidth) and independent vector FMA
// chains (float peak), both with the threads of the pool that the benchmark uses.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "layerlab/tensor/kernels.h"
#include "layerlab/util/thread_pool.h"

namespace layerlab::bench {

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best-of-reps seconds for fn(): the least disturbed run on a shared machine.
template <typename F>
double best_time(int reps, F&& fn) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_seconds();
    fn();
    best = std::min(best, now_seconds() - t0);
  }
  return best;
}

// a = b + q c over n floats per array, split over the pool; GB/s counts the 3 arrays once.
// n should make the arrays much larger than the last-level cache.
inline double triad_gbs(ThreadPool& pool, int64_t n, int reps = 5) {
  std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n), 1.0f), c(static_cast<size_t>(n), 2.0f);
  const float q = 3.0f;
  const int th = pool.size();
  const double t = best_time(reps, [&] {
    pool.parallel_for(th, [&](int64_t tb, int64_t te) {
      for (int64_t ti = tb; ti < te; ++ti) {
        const int64_t s = n * ti / th, e = n * (ti + 1) / th;
        for (int64_t i = s; i < e; ++i) a[i] = b[i] + q * c[i];
      }
    });
  });
  return 3.0 * 4.0 * static_cast<double>(n) / t / 1e9;
}

// Vector FMA throughput of the dispatched SIMD target, all pool threads at once.
inline double fma_peak_gflops(ThreadPool& pool, int64_t iters = 20'000'000, int reps = 3) {
  const int th = pool.size();
  std::vector<float> sink(static_cast<size_t>(th));
  std::vector<double> flops(static_cast<size_t>(th));
  const double t = best_time(reps, [&] {
    pool.parallel_for(th, [&](int64_t tb, int64_t te) {
      for (int64_t ti = tb; ti < te; ++ti) flops[ti] = fma_peak_flops(iters, &sink[ti]);
    });
  });
  double total = 0;
  for (double f : flops) total += f;
  return total / t / 1e9;
}

}  // namespace layerlab::bench
