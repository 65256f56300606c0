#include "layerlab/util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>
#include <vector>

namespace layerlab {
namespace {

// Guided chunks (a share of what is left) keep the count near 2 x threads x ln(n).
TEST(ThreadPool, CoversEveryIndexOnceInFewChunks) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {1, 2, 3, 7, 64, 1001}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> calls{0};
      pool.parallel_for(n, [&](int64_t b, int64_t e) {
        ASSERT_LT(b, e);
        ++calls;
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << n << " " << i;
      EXPECT_LE(calls.load(), threads == 1 ? 1.0 : 2.0 * threads * (std::log(static_cast<double>(n)) + 2.0));
    }
  }
}

// Each of two chunks waits until both have started: only two threads running at once finish.
TEST(ThreadPool, UsesSeveralThreads) {
  ThreadPool pool(2);
  std::vector<std::thread::id> ids(2);
  std::atomic<int> started{0};
  pool.parallel_for(2, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) ids[static_cast<size_t>(i)] = std::this_thread::get_id();
    ++started;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (started.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  });
  EXPECT_EQ(started.load(), 2);
  EXPECT_NE(ids[0], ids[1]);
}

// A thread held up in its first chunk takes no more: the others share the rest.
TEST(ThreadPool, ASlowThreadTakesFewerChunks) {
  ThreadPool pool(2);
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> by_caller{0}, by_worker{0};
  pool.parallel_for(16, [&](int64_t b, int64_t e) {
    if (std::this_thread::get_id() == caller) {
      if (by_caller.fetch_add(static_cast<int>(e - b)) == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
    } else {
      by_worker += static_cast<int>(e - b);
    }
  });
  EXPECT_EQ(by_caller.load() + by_worker.load(), 16);
  EXPECT_GT(by_worker.load(), 8);
}

TEST(ThreadPool, ManyConsecutiveCallsAndSums) {
  ThreadPool pool(3);
  for (int rep = 0; rep < 3000; ++rep) {
    std::atomic<int64_t> sum{0};
    pool.parallel_for(100, [&](int64_t b, int64_t e) {
      int64_t s = 0;
      for (int64_t i = b; i < e; ++i) s += i;
      sum += s;
    });
    ASSERT_EQ(sum.load(), 4950);
  }
}

TEST(ThreadPool, RethrowsAndStaysUsable) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(10, [&](int64_t b, int64_t) {
    if (b > 0) throw std::runtime_error("boom");
  }), std::runtime_error);
  std::atomic<int> count{0};
  pool.parallel_for(10, [&](int64_t b, int64_t e) { count += static_cast<int>(e - b); });
  EXPECT_EQ(count.load(), 10);
}

TEST(ThreadPool, NestedCallRunsInline) {
  ThreadPool pool(2);
  std::atomic<int> count{0};
  pool.parallel_for(4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      pool.parallel_for(5, [&](int64_t b2, int64_t e2) { count += static_cast<int>(e2 - b2); });
  });
  EXPECT_EQ(count.load(), 20);
}

TEST(ThreadPool, ZeroItemsDoesNothing) {
  ThreadPool pool(2);
  bool called = false;
  pool.parallel_for(0, [&](int64_t, int64_t) { called = true; });
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace layerlab
