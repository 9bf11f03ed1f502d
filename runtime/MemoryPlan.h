//===- MemoryPlan.h - Buffer placement by liveness --------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A compiled model's intermediate buffers share one arena: two buffers may
// use the same bytes when no step needs both. The compiler plans the arena
// with `planMemory` and records the offsets in the artifact; the runtime
// checks what it loads with `verifyPlan`. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_MEMORYPLAN_H_
#define KILN_RUNTIME_MEMORYPLAN_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

/// The alignment, in bytes, of every buffer in the arena and of the arena
/// itself: a cache line, and the width of an AVX-512 vector.
inline constexpr int64_t kArenaAlignment = 64;

/// An intermediate buffer and the steps that use it. It is live from the
/// start of step `firstStep` to the end of step `lastStep`, both included, so
/// the buffers one step reads and writes are all live at that step.
struct BufferLifetime {
  /// Names the buffer in `verifyPlan`'s messages (the manifest's buffer id).
  int64_t id = 0;
  int64_t bytes = 0;
  int64_t firstStep = 0;
  int64_t lastStep = 0;
};

/// Where each buffer lives in the arena.
struct MemoryPlan {
  /// The byte offset of each buffer, in the order the buffers were given;
  /// every offset is a multiple of kArenaAlignment.
  std::vector<int64_t> offsets;
  /// The planned peak: the end of the highest-placed buffer.
  int64_t arenaBytes = 0;
  /// The sum of all buffer sizes: the arena size without any reuse.
  int64_t unplannedBytes = 0;
};

/// Places `buffers` in one arena so that buffers live at the same step never
/// share bytes. Greedy by size: the largest buffers are placed first, each
/// into the smallest gap that fits among the already-placed buffers whose
/// lifetimes overlap its own (above all of them when no gap fits).
/// Deterministic. Requires bytes >= 0, 0 <= firstStep <= lastStep, and sizes
/// that sum, with alignment padding, to less than 2^62.
MemoryPlan planMemory(const std::vector<BufferLifetime> &buffers);

/// Checks that `plan` is a valid placement of `buffers`: one aligned,
/// non-negative offset per buffer; every buffer inside [0, arenaBytes);
/// `unplannedBytes` equal to the sum of the sizes; and no two buffers live at
/// the same step sharing a byte (empty buffers share none). On failure
/// returns false and sets `error` to one message naming the buffers at fault.
/// Never crashes, whatever the values.
bool verifyPlan(const std::vector<BufferLifetime> &buffers,
                const MemoryPlan &plan, std::string &error);

} // namespace kiln

#endif // KILN_RUNTIME_MEMORYPLAN_H_
