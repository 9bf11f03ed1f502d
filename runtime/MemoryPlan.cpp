//===- MemoryPlan.cpp - Buffer placement by liveness ------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Greedy-by-size placement, as in TFLite's arena planner: large buffers are
// the hardest to fit, so they go first and the small ones fill the gaps they
// leave. Best fit among the gaps keeps large gaps free for later buffers.
//
//===----------------------------------------------------------------------===//

#include "runtime/MemoryPlan.h"

#include <algorithm>
#include <cassert>
#include <numeric>

namespace kiln {

static int64_t alignUp(int64_t value) {
  return (value + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

static bool livesOverlap(const BufferLifetime &a, const BufferLifetime &b) {
  return a.firstStep <= b.lastStep && b.firstStep <= a.lastStep;
}

//===----------------------------------------------------------------------===//
// Planning
//===----------------------------------------------------------------------===//

namespace {
/// A placed buffer's bytes: [begin, end).
struct Extent {
  int64_t begin;
  int64_t end;
};
} // namespace

/// The buffer indices in placement order: larger first, then earlier first,
/// then by index, so the plan does not depend on the sort's stability.
static std::vector<size_t>
getPlacementOrder(const std::vector<BufferLifetime> &buffers) {
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (buffers[a].bytes != buffers[b].bytes)
      return buffers[a].bytes > buffers[b].bytes;
    if (buffers[a].firstStep != buffers[b].firstStep)
      return buffers[a].firstStep < buffers[b].firstStep;
    return a < b;
  });
  return order;
}

/// The lowest offset of the smallest gap of at least `bytes` between the
/// sorted `extents`, or the aligned end of the highest one when no gap fits.
static int64_t findBestFit(const std::vector<Extent> &extents, int64_t bytes) {
  int64_t cursor = 0;
  int64_t bestOffset = -1;
  int64_t bestGap = 0;
  for (const Extent &extent : extents) {
    int64_t gap = extent.begin - cursor;
    if (gap >= bytes && (bestOffset < 0 || gap < bestGap)) {
      bestOffset = cursor;
      bestGap = gap;
    }
    cursor = std::max(cursor, alignUp(extent.end));
  }
  return bestOffset >= 0 ? bestOffset : cursor;
}

MemoryPlan planMemory(const std::vector<BufferLifetime> &buffers) {
  MemoryPlan plan;
  plan.offsets.assign(buffers.size(), 0);
  std::vector<size_t> placed;
  for (size_t index : getPlacementOrder(buffers)) {
    const BufferLifetime &buffer = buffers[index];
    assert(buffer.bytes >= 0 && buffer.firstStep >= 0 &&
           buffer.firstStep <= buffer.lastStep && "invalid buffer lifetime");
    plan.unplannedBytes += buffer.bytes;
    if (buffer.bytes == 0)
      continue; // Occupies nothing; offset 0 is as good as any.

    // 1. The extents of the placed buffers live at the same time.
    std::vector<Extent> conflicts;
    for (size_t other : placed)
      if (livesOverlap(buffer, buffers[other]))
        conflicts.push_back(
            {plan.offsets[other], plan.offsets[other] + buffers[other].bytes});
    std::sort(
        conflicts.begin(), conflicts.end(),
        [](const Extent &a, const Extent &b) { return a.begin < b.begin; });

    // 2. The best gap between them.
    int64_t offset = findBestFit(conflicts, buffer.bytes);
    plan.offsets[index] = offset;
    plan.arenaBytes = std::max(plan.arenaBytes, offset + buffer.bytes);
    placed.push_back(index);
  }
  return plan;
}

//===----------------------------------------------------------------------===//
// Verification
//===----------------------------------------------------------------------===//

/// Checks one buffer's lifetime and placement on its own.
static bool verifyBuffer(const BufferLifetime &buffer, int64_t offset,
                         int64_t arenaBytes, std::string &error) {
  std::string name = "buffer " + std::to_string(buffer.id);
  if (buffer.bytes < 0 || buffer.firstStep < 0 ||
      buffer.firstStep > buffer.lastStep) {
    error = name + " has an invalid lifetime (" + std::to_string(buffer.bytes) +
            " bytes, steps " + std::to_string(buffer.firstStep) + ".." +
            std::to_string(buffer.lastStep) + ")";
    return false;
  }
  if (offset < 0 || offset % kArenaAlignment != 0) {
    error = name + ": offset " + std::to_string(offset) +
            " is not a non-negative multiple of " +
            std::to_string(kArenaAlignment);
    return false;
  }
  int64_t end;
  if (__builtin_add_overflow(offset, buffer.bytes, &end) || end > arenaBytes) {
    error = name + ": bytes [" + std::to_string(offset) + ", " +
            std::to_string(offset) + " + " + std::to_string(buffer.bytes) +
            ") extend beyond the arena (" + std::to_string(arenaBytes) +
            " bytes)";
    return false;
  }
  return true;
}

/// Checks that no two buffers live at the same step share a byte. Each
/// buffer is compared only with those that start living no later than it
/// ends, which keeps this near linear for real models.
static bool verifyNoConflicts(const std::vector<BufferLifetime> &buffers,
                              const std::vector<int64_t> &offsets,
                              std::string &error) {
  std::vector<size_t> byStart(buffers.size());
  std::iota(byStart.begin(), byStart.end(), 0);
  std::sort(byStart.begin(), byStart.end(), [&](size_t a, size_t b) {
    return buffers[a].firstStep < buffers[b].firstStep;
  });
  for (size_t i = 0; i < byStart.size(); ++i) {
    const BufferLifetime &a = buffers[byStart[i]];
    int64_t aBegin = offsets[byStart[i]];
    for (size_t j = i + 1; j < byStart.size(); ++j) {
      const BufferLifetime &b = buffers[byStart[j]];
      if (b.firstStep > a.lastStep)
        break;
      int64_t bBegin = offsets[byStart[j]];
      // Both ends were checked for overflow by verifyBuffer.
      if (a.bytes == 0 || b.bytes == 0 || aBegin >= bBegin + b.bytes ||
          bBegin >= aBegin + a.bytes)
        continue;
      error = "buffers " + std::to_string(a.id) + " and " +
              std::to_string(b.id) + " share arena bytes while both are " +
              "live at step " + std::to_string(b.firstStep);
      return false;
    }
  }
  return true;
}

bool verifyPlan(const std::vector<BufferLifetime> &buffers,
                const MemoryPlan &plan, std::string &error) {
  if (plan.offsets.size() != buffers.size()) {
    error = "the plan has " + std::to_string(plan.offsets.size()) +
            " offsets for " + std::to_string(buffers.size()) + " buffers";
    return false;
  }
  if (plan.arenaBytes < 0) {
    error =
        "the arena size " + std::to_string(plan.arenaBytes) + " is negative";
    return false;
  }
  int64_t sum = 0;
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (!verifyBuffer(buffers[i], plan.offsets[i], plan.arenaBytes, error))
      return false;
    // Each size is below arenaBytes, but many of them may still overflow.
    if (__builtin_add_overflow(sum, buffers[i].bytes, &sum)) {
      error = "the buffer sizes overflow when summed";
      return false;
    }
  }
  if (plan.unplannedBytes != sum) {
    error = "the unplanned size (" + std::to_string(plan.unplannedBytes) +
            " bytes) is not the sum of the buffer sizes (" +
            std::to_string(sum) + " bytes)";
    return false;
  }
  return verifyNoConflicts(buffers, plan.offsets, error);
}

} // namespace kiln
