//===- ThreadPool.cpp - A fixed pool of threads -----------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A loop is published under the mutex with a new generation number and every
// worker is woken. Threads then claim chunks with an atomic counter, so no
// chunk runs twice and a worker that wakes late simply finds none left. The
// loop lives on its owner's stack; the owner leaves only when every worker
// that entered the loop has left it again.
//
// Before a worker sleeps on the condition variable, and before the owner
// does, each polls for a short while: a model's kernels come microseconds
// apart, and a worker still polling joins the next one at once instead of
// after a wake-up that costs as much as a small kernel. Every decision is
// still taken under the mutex; the poll only says when to take it.
//
//===----------------------------------------------------------------------===//

#include "runtime/ThreadPool.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <exception>

namespace kiln {

/// One parallelFor call.
struct ThreadPool::Loop {
  const Body *body;
  int64_t n;
  int64_t numChunks;
  std::atomic<int64_t> nextChunk{0};
  std::mutex errorMutex;
  std::exception_ptr error;
};

/// The pool whose loop the current thread is running, if any; lets a nested
/// parallelFor on the same pool run inline instead of deadlocking.
static thread_local const ThreadPool *runningPool = nullptr;

namespace {
/// Marks the current thread as running a loop of `pool` while in scope.
class RunningPoolScope {
public:
  explicit RunningPoolScope(const ThreadPool *pool) : saved(runningPool) {
    runningPool = pool;
  }
  ~RunningPoolScope() { runningPool = saved; }

private:
  const ThreadPool *saved;
};
} // namespace

/// Chunk `chunk` of [0, n) split into `numChunks` near-equal parts; the first
/// n % numChunks chunks get one extra index. Written without n * chunk, which
/// could overflow.
static std::pair<int64_t, int64_t> getChunk(int64_t n, int64_t numChunks,
                                            int64_t chunk) {
  int64_t base = n / numChunks;
  int64_t extra = n % numChunks;
  int64_t begin = base * chunk + std::min(chunk, extra);
  return {begin, begin + base + (chunk < extra ? 1 : 0)};
}

void ThreadPool::runChunks(Loop &loop) {
  for (;;) {
    int64_t chunk = loop.nextChunk.fetch_add(1, std::memory_order_relaxed);
    if (chunk >= loop.numChunks)
      return;
    auto [begin, end] = getChunk(loop.n, loop.numChunks, chunk);
    try {
      (*loop.body)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(loop.errorMutex);
      if (!loop.error)
        loop.error = std::current_exception();
    }
  }
}

int ThreadPool::resolveNumThreads(int numThreads) {
  assert(numThreads >= 0 && "negative thread count");
  if (numThreads > 0)
    return numThreads;
  return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool::ThreadPool(int numThreads)
    : numThreads(resolveNumThreads(numThreads)) {
  workers.reserve(this->numThreads - 1);
  try {
    for (int i = 1; i < this->numThreads; ++i)
      workers.emplace_back([this] { workerMain(); });
  } catch (...) {
    // Stop the workers already started before the pool is torn down.
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    loopReady.notify_all();
    for (std::thread &worker : workers)
      worker.join();
    throw;
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  loopReady.notify_all();
  for (std::thread &worker : workers)
    worker.join();
}

/// How long a thread polls before it sleeps: longer than the gaps between
/// a model's kernels and than a benchmark's cache eviction between calls
/// (0.05-0.6 ms), short enough that an idle pool soon stops using CPU (the
/// libgomp default polls about 7 ms here). A sleeping worker took 20-30 us
/// to start its chunk on the 2-vCPU VM of bench/NOTES.md (session 19), 2%
/// of a 1.2 ms kernel; a polling one under 1 us.
static constexpr std::chrono::microseconds kSpinTime{2000};

/// Polls until `done` returns true or kSpinTime has passed; the caller then
/// checks under the mutex either way.
template <typename Done> static void spinUntil(Done done) {
  auto start = std::chrono::steady_clock::now();
  while (!done() && std::chrono::steady_clock::now() - start <= kSpinTime)
    std::this_thread::yield();
}

void ThreadPool::workerMain() {
  RunningPoolScope scope(this);
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    lock.unlock();
    spinUntil([&] { return stopping || generation != seen; });
    lock.lock();
    loopReady.wait(lock,
                   [&] { return stopping || (loop && generation != seen); });
    if (stopping)
      return;
    seen = generation;
    Loop &current = *loop;
    ++busyWorkers;
    lock.unlock();
    runChunks(current);
    lock.lock();
    if (--busyWorkers == 0)
      workersDone.notify_all();
  }
}

void ThreadPool::parallelFor(int64_t n, const Body &body) {
  if (n <= 0)
    return;
  int64_t numChunks = std::min<int64_t>(n, numThreads);
  if (numChunks == 1 || runningPool == this) {
    body(0, n);
    return;
  }

  // 1. Publish the loop and wake the workers.
  std::lock_guard<std::mutex> loopLock(loopMutex);
  Loop current;
  current.body = &body;
  current.n = n;
  current.numChunks = numChunks;
  {
    std::lock_guard<std::mutex> lock(mutex);
    loop = &current;
    ++generation;
  }
  loopReady.notify_all();

  // 2. Work alongside them.
  {
    RunningPoolScope scope(this);
    runChunks(current);
  }

  // 3. Every chunk is claimed now; wait for the workers still running one.
  //    Clearing `loop` under the mutex keeps late wakers out of it.
  spinUntil([&] { return busyWorkers == 0; });
  {
    std::unique_lock<std::mutex> lock(mutex);
    workersDone.wait(lock, [&] { return busyWorkers == 0; });
    loop = nullptr;
  }
  if (current.error)
    std::rethrow_exception(current.error);
}

} // namespace kiln
