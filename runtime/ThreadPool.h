//===- ThreadPool.h - A fixed pool of threads -------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The executor splits each kernel's tiles across this pool. Workers poll for
// 2 ms after a loop, then sleep on a condition variable, so an idle pool
// soon costs no CPU time. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_THREADPOOL_H_
#define KILN_RUNTIME_THREADPOOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln {

/// A fixed set of threads that run parallel loops. The thread that calls
/// `parallelFor` takes part in the loop, so a pool of N threads starts N - 1
/// workers.
class ThreadPool {
public:
  /// The loop body: handles indices [begin, end).
  using Body = std::function<void(int64_t begin, int64_t end)>;

  /// A pool in which `numThreads` threads, the caller included, share each
  /// loop; 0 means one per hardware thread. Requires numThreads >= 0. Throws
  /// (std::system_error, std::bad_alloc) when the threads cannot be started.
  explicit ThreadPool(int numThreads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  /// The number of threads that share a loop, the caller included.
  int getNumThreads() const { return numThreads; }

  /// The number of threads a pool made with `numThreads` has (0: one per
  /// hardware thread), without starting one. Requires numThreads >= 0.
  static int resolveNumThreads(int numThreads);

  /// Calls `body` on contiguous chunks that together cover [0, n) exactly
  /// once: min(n, getNumThreads()) chunks of near-equal size, run in
  /// parallel, and returns when all are done. Does nothing when n <= 0.
  /// Calls from several threads run one after another; a call from inside a
  /// body of the same pool runs its whole range on the calling thread rather
  /// than deadlock. When a body throws, the other chunks still finish and
  /// the first exception is rethrown to the caller.
  void parallelFor(int64_t n, const Body &body);

private:
  struct Loop;

  /// Claims and runs chunks of `loop` until none is left, keeping the first
  /// exception a chunk throws.
  static void runChunks(Loop &loop);
  void workerMain();

  int numThreads;
  std::vector<std::thread> workers;
  /// Held for the whole of a parallelFor, so loops never interleave.
  std::mutex loopMutex;

  /// Guards everything below.
  std::mutex mutex;
  std::condition_variable loopReady;
  std::condition_variable workersDone;
  /// The running loop, or null between loops.
  Loop *loop = nullptr;
  /// Counts loops, so a worker can tell a new loop from one it already ran.
  /// Written under the mutex; read without it only to end a spin early.
  std::atomic<uint64_t> generation = 0;
  /// Workers inside the current loop; its owner waits for this to drop to 0.
  /// Written under the mutex; read without it only to end a spin early.
  std::atomic<int> busyWorkers = 0;
  std::atomic<bool> stopping = false;
};

} // namespace kiln

#endif // KILN_RUNTIME_THREADPOOL_H_
