//===- MachinePeaks.cpp - This machine's measured roofline ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "runtime/MachinePeaks.h"

#include "runtime/ThreadPool.h"

#include <algorithm>
#include <chrono>
#include <immintrin.h>
#include <limits>
#include <memory>
#include <unistd.h>
#include <vector>

namespace kiln {

double StreamBandwidth::getBest() const {
  return std::max({copy, scale, add, triad});
}

double MachinePeaks::getMinSeconds(int64_t flops, int64_t bytes) const {
  double computeSeconds =
      flopsPerSecond > 0 ? static_cast<double>(flops) / flopsPerSecond : 0;
  double memorySeconds =
      bytesPerSecond > 0 ? static_cast<double>(bytes) / bytesPerSecond : 0;
  return std::max(computeSeconds, memorySeconds);
}

/// Seconds `loop` takes, the best of `repetitions` runs and of as many more
/// as start within `minSeconds`.
template <typename Loop>
static double bestSeconds(int repetitions, const Loop &loop,
                          double minSeconds = 0) {
  double best = std::numeric_limits<double>::infinity();
  auto begin = std::chrono::steady_clock::now();
  for (int r = 0; r < repetitions ||
                  std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - begin)
                          .count() < minSeconds;
       ++r) {
    auto start = std::chrono::steady_clock::now();
    loop();
    std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - start;
    best = std::min(best, elapsed.count());
  }
  return best;
}

/// Four times the last-level cache, so no array of a STREAM kernel stays in
/// cache between repetitions.
static int64_t getDefaultStreamElements() {
  long cacheBytes = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (cacheBytes <= 0)
    cacheBytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
  int64_t elements = 4 * std::max<long>(cacheBytes, 0) /
                     static_cast<int64_t>(sizeof(double));
  return std::clamp<int64_t>(elements, int64_t{8} << 20, int64_t{64} << 20);
}

StreamBandwidth measureStreamBandwidth(ThreadPool &pool,
                                       int64_t elementsPerArray,
                                       int repetitions) {
  int64_t n =
      elementsPerArray > 0 ? elementsPerArray : getDefaultStreamElements();
  // Uninitialized on purpose: each thread first touches the part it streams.
  std::unique_ptr<double[]> a(new double[n]), b(new double[n]),
      c(new double[n]);
  double *pa = a.get(), *pb = b.get(), *pc = c.get();
  pool.parallelFor(n, [=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      pa[i] = 1.0;
      pb[i] = 2.0;
      pc[i] = 0.0;
    }
  });

  const double scalar = 3.0;
  auto run = [&](auto kernel) {
    return bestSeconds(repetitions, [&] { pool.parallelFor(n, kernel); });
  };
  double copySeconds = run([=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      pc[i] = pa[i];
  });
  double scaleSeconds = run([=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      pb[i] = scalar * pc[i];
  });
  double addSeconds = run([=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      pc[i] = pa[i] + pb[i];
  });
  double triadSeconds = run([=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      pa[i] = pb[i] + scalar * pc[i];
  });

  double arrayBytes = static_cast<double>(n) * sizeof(double);
  StreamBandwidth bandwidth;
  bandwidth.copy = 2 * arrayBytes / copySeconds;
  bandwidth.scale = 2 * arrayBytes / scaleSeconds;
  bandwidth.add = 3 * arrayBytes / addSeconds;
  bandwidth.triad = 3 * arrayBytes / triadSeconds;
  return bandwidth;
}

namespace {

/// Independent accumulators per thread: enough to cover the FMA latency
/// times the FMA ports of current x86 cores (4 cycles x 2 ports), few enough
/// to stay in the 16 registers of AVX2.
constexpr int kChains = 12;

/// FMA iterations per thread and run: tens of milliseconds at any width.
constexpr int64_t kIterations = int64_t{1} << 22;

/// Each chain computes acc = acc * x + y, which converges to a finite value,
/// so no run meets infinities or denormals. Returns a sum of the chains so
/// the compiler cannot drop them.
__attribute__((target("avx512f"))) float runFmaChainsAvx512() {
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j)
    acc[j] = _mm512_set1_ps(static_cast<float>(j));
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-3f);
  for (int64_t i = 0; i < kIterations; ++i)
    for (int j = 0; j < kChains; ++j)
      acc[j] = _mm512_fmadd_ps(acc[j], x, y);
  __m512 sum = acc[0];
  for (int j = 1; j < kChains; ++j)
    sum = _mm512_add_ps(sum, acc[j]);
  return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx2,fma"))) float runFmaChainsAvx2() {
  __m256 acc[kChains];
  for (int j = 0; j < kChains; ++j)
    acc[j] = _mm256_set1_ps(static_cast<float>(j));
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-3f);
  for (int64_t i = 0; i < kIterations; ++i)
    for (int j = 0; j < kChains; ++j)
      acc[j] = _mm256_fmadd_ps(acc[j], x, y);
  __m256 sum = acc[0];
  for (int j = 1; j < kChains; ++j)
    sum = _mm256_add_ps(sum, acc[j]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0;
  for (float lane : lanes)
    total += lane;
  return total;
}

/// Without FMA a multiply and an add stand in for one FMA.
float runFmaChainsSse() {
  __m128 acc[kChains];
  for (int j = 0; j < kChains; ++j)
    acc[j] = _mm_set1_ps(static_cast<float>(j));
  const __m128 x = _mm_set1_ps(0.999999f), y = _mm_set1_ps(1e-3f);
  for (int64_t i = 0; i < kIterations; ++i)
    for (int j = 0; j < kChains; ++j)
      acc[j] = _mm_add_ps(_mm_mul_ps(acc[j], x), y);
  __m128 sum = acc[0];
  for (int j = 1; j < kChains; ++j)
    sum = _mm_add_ps(sum, acc[j]);
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, sum);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

} // namespace

double measureFmaPeak(ThreadPool &pool, int repetitions) {
  float (*chains)() = runFmaChainsSse;
  int64_t lanes = 4;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    chains = runFmaChainsAvx512;
    lanes = 16;
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    chains = runFmaChainsAvx2;
    lanes = 8;
  }

  int numThreads = pool.getNumThreads();
  std::vector<float> sinks(numThreads);
  // A few repetitions last about 50 ms. Threads that poll a core for a
  // while after they start (OpenBLAS's, for about 0.1 s once the library is
  // loaded, as it is in `kiln bench`) took one of two threads' cores for all
  // of them, half the time: the repetitions go on for a third of a second.
  double seconds = bestSeconds(
      repetitions,
      [&] {
        pool.parallelFor(numThreads, [&](int64_t begin, int64_t end) {
          for (int64_t t = begin; t < end; ++t)
            sinks[t] = chains();
        });
      },
      repetitions > 1 ? 0.3 : 0);
  double flops = 2.0 * static_cast<double>(kIterations) * kChains * lanes *
                 numThreads;
  return flops / seconds;
}

MachinePeaks measureMachinePeaks(ThreadPool &pool) {
  MachinePeaks peaks;
  peaks.numThreads = pool.getNumThreads();
  peaks.flopsPerSecond = measureFmaPeak(pool);
  peaks.bytesPerSecond = measureStreamBandwidth(pool).getBest();
  return peaks;
}

} // namespace kiln
