//===- Random.h - Deterministic, portable random numbers -------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Seeded weights and inputs must be bit-identical on every machine and
// standard library, so this avoids <random>'s distributions (whose outputs
// are implementation-defined) and builds on SplitMix64.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_RANDOM_H_
#define KILN_RUNTIME_RANDOM_H_

#include <cmath>
#include <cstdint>
#include <string_view>

namespace kiln {

class Random {
public:
  explicit Random(uint64_t seed) : state(seed) {}

  /// A seed derived from `seed` and a name, so each named tensor gets its own
  /// stream that does not shift when other tensors are added.
  static uint64_t deriveSeed(uint64_t seed, std::string_view name) {
    uint64_t hash = 1469598103934665603ull ^ seed;
    for (char c : name)
      hash = (hash ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    return hash;
  }

  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  /// Uniform in [0, 1), with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  /// Uniform integer in [lo, hi); requires lo < hi.
  int64_t uniformInt(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo));
  }

  /// Standard normal by the Box-Muller transform.
  double normal() {
    double u1 = 1.0 - uniform(); // in (0, 1], so the log is finite
    double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

private:
  uint64_t state;
};

} // namespace kiln

#endif // KILN_RUNTIME_RANDOM_H_
