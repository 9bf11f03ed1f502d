//===- ThreadPoolTest.cpp - Tests for the thread pool -----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Checks that parallelFor covers its range exactly once in balanced chunks,
// really runs them at the same time, survives heavy reuse, nesting,
// concurrent callers and throwing bodies, and costs no CPU while idle.
//
//===----------------------------------------------------------------------===//

#include "runtime/ThreadPool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <set>
#include <stdexcept>

using namespace kiln;

namespace {
/// The chunks one parallelFor call handed out.
struct ChunkLog {
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> chunks;
};
} // namespace

TEST(ThreadPoolTest, VisitsEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 4, 7}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.getNumThreads(), threads);
    for (int64_t n : {0, 1, 2, 3, 5, 7, 8, 13, 64, 100, 1000, 1001}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + ", n " +
                   std::to_string(n));
      std::vector<std::atomic<int>> visits(static_cast<size_t>(n));
      ChunkLog log;
      pool.parallelFor(n, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          visits[static_cast<size_t>(i)]++;
        std::lock_guard<std::mutex> lock(log.mutex);
        log.chunks.emplace_back(begin, end);
      });
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(visits[static_cast<size_t>(i)].load(), 1) << "index " << i;

      // About one chunk per thread, none empty, sizes within one.
      size_t expectedChunks =
          n == 0 ? 0 : static_cast<size_t>(std::min<int64_t>(n, threads));
      ASSERT_EQ(log.chunks.size(), expectedChunks);
      int64_t smallest = n, largest = 0;
      for (auto [begin, end] : log.chunks) {
        smallest = std::min(smallest, end - begin);
        largest = std::max(largest, end - begin);
      }
      if (n > 0) {
        EXPECT_GE(smallest, 1);
        EXPECT_LE(largest - smallest, 1);
      }
    }
  }
}

TEST(ThreadPoolTest, NonPositiveCountsDoNothing) {
  ThreadPool pool(3);
  int calls = 0;
  pool.parallelFor(0, [&](int64_t, int64_t) { ++calls; });
  pool.parallelFor(-5, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ThreadPoolTest, ZeroThreadsMeansOnePerHardwareThread) {
  ThreadPool pool(0);
  int expected =
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(pool.getNumThreads(), expected);
}

TEST(ThreadPoolTest, ChunksRunAtTheSameTime) {
  // Each chunk waits until all four have started: only four threads running
  // at once, the caller among them, get past the wait.
  constexpr int kThreads = 4;
  ThreadPool pool(kThreads);
  std::mutex mutex;
  std::condition_variable allArrived;
  int arrived = 0;
  bool timedOut = false;
  std::set<std::thread::id> threadIds;
  pool.parallelFor(kThreads, [&](int64_t, int64_t) {
    std::unique_lock<std::mutex> lock(mutex);
    threadIds.insert(std::this_thread::get_id());
    if (++arrived == kThreads)
      allArrived.notify_all();
    if (!allArrived.wait_for(lock, std::chrono::seconds(10),
                             [&] { return arrived == kThreads; }))
      timedOut = true;
  });
  EXPECT_FALSE(timedOut);
  EXPECT_EQ(threadIds.size(), static_cast<size_t>(kThreads));
  EXPECT_EQ(threadIds.count(std::this_thread::get_id()), 1u);
}

TEST(ThreadPoolTest, SurvivesManyReuses) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int round = 0; round < 20000; ++round) {
    int64_t n = round % 9; // Includes 0 and 1, which skip the workers.
    pool.parallelFor(n, [&](int64_t begin, int64_t end) {
      int64_t sum = 0;
      for (int64_t i = begin; i < end; ++i)
        sum += i + 1;
      total += sum;
    });
  }
  // Each round adds 1 + ... + n: over the 9 residues that is 120, times
  // 20000 / 9 full cycles, plus the partial cycle 0..(20000 % 9 - 1).
  int64_t expected = 0;
  for (int round = 0; round < 20000; ++round) {
    int64_t n = round % 9;
    expected += n * (n + 1) / 2;
  }
  EXPECT_EQ(total.load(), expected);
}

TEST(ThreadPoolTest, NestedCallOnTheSamePoolRunsInline) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> visits(30);
  pool.parallelFor(3, [&](int64_t begin, int64_t end) {
    for (int64_t outer = begin; outer < end; ++outer)
      pool.parallelFor(10, [&](int64_t innerBegin, int64_t innerEnd) {
        for (int64_t inner = innerBegin; inner < innerEnd; ++inner)
          visits[static_cast<size_t>(outer * 10 + inner)]++;
      });
  });
  for (size_t i = 0; i < visits.size(); ++i)
    EXPECT_EQ(visits[i].load(), 1) << i;
}

TEST(ThreadPoolTest, ConcurrentCallersEachGetTheirWholeRange) {
  ThreadPool pool(3);
  std::atomic<int64_t> sums[2] = {{0}, {0}};
  auto caller = [&](int which) {
    for (int round = 0; round < 500; ++round)
      pool.parallelFor(
          100, [&](int64_t begin, int64_t end) { sums[which] += end - begin; });
  };
  std::thread first(caller, 0), second(caller, 1);
  first.join();
  second.join();
  EXPECT_EQ(sums[0].load(), 500 * 100);
  EXPECT_EQ(sums[1].load(), 500 * 100);
}

TEST(ThreadPoolTest, RethrowsTheBodysExceptionAfterAllChunks) {
  ThreadPool pool(4);
  std::atomic<int> visited{0};
  EXPECT_THROW(pool.parallelFor(8,
                                [&](int64_t begin, int64_t end) {
                                  visited += static_cast<int>(end - begin);
                                  if (begin == 0)
                                    throw std::runtime_error("chunk 0");
                                }),
               std::runtime_error);
  EXPECT_EQ(visited.load(), 8);
  // The pool still works afterwards.
  std::atomic<int> after{0};
  pool.parallelFor(8, [&](int64_t begin, int64_t end) {
    after += static_cast<int>(end - begin);
  });
  EXPECT_EQ(after.load(), 8);
}

TEST(ThreadPoolTest, IdleWorkersUseNoCpu) {
  ThreadPool pool(4);
  pool.parallelFor(4, [](int64_t, int64_t) {}); // Wake them once.
  std::clock_t before = std::clock();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  double cpuSeconds =
      static_cast<double>(std::clock() - before) / CLOCKS_PER_SEC;
  // Three spinning workers would burn about 0.9 s of CPU time here.
  EXPECT_LT(cpuSeconds, 0.05);
}
