// A fixed set of persistent worker threads for data-parallel loops. parallel_for splits
// [0, n) into contiguous chunks that the threads (the calling one too) take in order from a
// shared counter until none is left, each chunk a share of the items still left (guided
// scheduling: big chunks first, small ones at the end). A thread that starts late or runs
// slower (another process on its core) takes fewer, so all finish at nearly the same time.
// Which thread runs which items varies between calls. No threads are created per call; idle
// workers spin briefly, then sleep.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace layerlab {

class ThreadPool {
 public:
  // n_threads counts the calling thread; values < 1 mean 1 (everything runs inline).
  explicit ThreadPool(int n_threads = 1);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Debug counters: how many parallel_for calls woke the workers (calls run inline, with one
  // thread, one item or nested, are not counted), for this pool and for every pool of the
  // process. Each counted call is one synchronisation of all threads.
  uint64_t dispatches() const { return dispatches_.load(std::memory_order_relaxed); }
  static uint64_t total_dispatches();

  // Calls fn(begin, end) on disjoint chunks covering [0, n), in parallel, and returns when
  // all are done. The first exception thrown by fn is rethrown here. A call made from inside
  // fn (nested) runs inline on the calling thread.
  template <typename Fn>
  void parallel_for(int64_t n, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run(n, [](void* ctx, int64_t b, int64_t e) { (*static_cast<F*>(ctx))(b, e); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  using Trampoline = void (*)(void*, int64_t, int64_t);
  void run(int64_t n, Trampoline call, void* ctx);
  void worker_loop();
  void run_chunks();

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  // The job being run (written before generation_ is bumped).
  Trampoline call_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};      // first item of the next chunk to take
  std::exception_ptr error_;
  std::mutex error_mutex_;
  std::atomic<bool> busy_{false};
  std::atomic<uint64_t> dispatches_{0};
};

}  // namespace layerlab
