#include "layerlab/util/thread_pool.h"

#include <algorithm>

namespace layerlab {
namespace {
// Spin iterations before a worker sleeps: short enough to leave the core to others when
// idle, long enough to catch the next call of a decode loop without a futex wake-up.
constexpr int kSpinIterations = 4000;
// A chunk is 1 / (kGuidedDivisor * threads) of the items left when it is taken.
constexpr int64_t kGuidedDivisor = 2;
thread_local bool tl_inside_pool = false;
std::atomic<uint64_t> g_total_dispatches{0};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}
}  // namespace

uint64_t ThreadPool::total_dispatches() { return g_total_dispatches.load(std::memory_order_relaxed); }

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunks() {
  int64_t begin = next_.load(std::memory_order_relaxed);
  while (begin < n_) {
    // Guided sizes: a share of what is left, so chunks shrink towards the end and the
    // threads finish within a small chunk of each other.
    const int64_t size = std::max<int64_t>(1, (n_ - begin) / (kGuidedDivisor * n_threads_));
    if (!next_.compare_exchange_weak(begin, begin + size, std::memory_order_relaxed)) continue;
    try {
      call_(ctx_, begin, std::min(n_, begin + size));
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
      next_.store(n_, std::memory_order_relaxed);  // the call fails: skip the rest
    }
    begin = next_.load(std::memory_order_relaxed);
  }
}

void ThreadPool::run(int64_t n, Trampoline call, void* ctx) {
  if (n <= 0) return;
  bool expected = false;
  if (n_threads_ == 1 || n == 1 || tl_inside_pool || !busy_.compare_exchange_strong(expected, true)) {
    // Inline: single thread, a single item, a nested call, or another thread owns the pool.
    call(ctx, 0, n);
    return;
  }
  dispatches_.fetch_add(1, std::memory_order_relaxed);
  g_total_dispatches.fetch_add(1, std::memory_order_relaxed);
  call_ = call;
  ctx_ = ctx;
  n_ = n;
  next_.store(0, std::memory_order_relaxed);
  error_ = nullptr;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  tl_inside_pool = true;
  run_chunks();
  tl_inside_pool = false;
  for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
    if (spin < kSpinIterations) {
      cpu_relax();
    } else {
      std::unique_lock<std::mutex> lock(mutex_);
      done_cv_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    }
  }
  std::exception_ptr error = error_;
  error_ = nullptr;
  busy_.store(false, std::memory_order_release);
  if (error) std::rethrow_exception(error);
}

void ThreadPool::worker_loop() {
  tl_inside_pool = true;
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
      cpu_relax();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    run_chunks();
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_cv_.notify_all();
    }
  }
}

}  // namespace layerlab
