//===- MemoryPlanTest.cpp - Tests for arena planning ------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Known small cases with their optimal arena sizes, seeded random lifetimes
// that must always verify, and one damaged plan per rule verifyPlan checks.
//
//===----------------------------------------------------------------------===//

#include "runtime/MemoryPlan.h"

#include "runtime/Random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <limits>

using namespace kiln;

/// Lifetimes with ids 0, 1, ... from (bytes, firstStep, lastStep) triples.
static std::vector<BufferLifetime>
makeBuffers(std::initializer_list<std::array<int64_t, 3>> triples) {
  std::vector<BufferLifetime> buffers;
  for (const auto &[bytes, first, last] : triples)
    buffers.push_back(
        {static_cast<int64_t>(buffers.size()), bytes, first, last});
  return buffers;
}

static void expectValid(const std::vector<BufferLifetime> &buffers,
                        const MemoryPlan &plan) {
  std::string error;
  EXPECT_TRUE(verifyPlan(buffers, plan, error)) << error;
}

static void expectInvalid(const std::vector<BufferLifetime> &buffers,
                          const MemoryPlan &plan, const std::string &word) {
  std::string error;
  EXPECT_FALSE(verifyPlan(buffers, plan, error));
  EXPECT_NE(error.find(word), std::string::npos)
      << "expected '" << word << "' in: " << error;
}

//===----------------------------------------------------------------------===//
// Planning
//===----------------------------------------------------------------------===//

TEST(MemoryPlanTest, NoBuffers) {
  MemoryPlan plan = planMemory({});
  EXPECT_TRUE(plan.offsets.empty());
  EXPECT_EQ(plan.arenaBytes, 0);
  EXPECT_EQ(plan.unplannedBytes, 0);
  expectValid({}, plan);
}

TEST(MemoryPlanTest, ChainReusesMemory) {
  // a -> b -> c: a is dead once c is written, so c takes a's place.
  std::vector<BufferLifetime> buffers =
      makeBuffers({{100, 0, 1}, {100, 1, 2}, {100, 2, 3}});
  MemoryPlan plan = planMemory(buffers);
  expectValid(buffers, plan);
  EXPECT_EQ(plan.unplannedBytes, 300);
  EXPECT_LT(plan.arenaBytes, plan.unplannedBytes);
  EXPECT_EQ(plan.offsets[0], plan.offsets[2]);
  EXPECT_EQ(plan.arenaBytes, 128 + 100); // Optimal: a and b, b aligned.
}

TEST(MemoryPlanTest, KnownOptimalCases) {
  struct Case {
    const char *name;
    std::vector<BufferLifetime> buffers;
    int64_t arenaBytes;
  };
  std::vector<Case> cases = {
      // All live at once: no reuse is possible.
      {"all live", makeBuffers({{64, 0, 2}, {128, 1, 2}, {192, 0, 3}}), 384},
      // Never live together: everything shares the largest buffer's place.
      {"disjoint", makeBuffers({{64, 0, 0}, {200, 1, 1}, {10, 2, 2}}), 200},
      // Two large ends around a small middle: the ends share.
      {"sandwich", makeBuffers({{100, 0, 1}, {50, 1, 2}, {100, 2, 3}}), 178},
      // The small buffer fits the gap a dead large one left.
      {"gap", makeBuffers({{256, 0, 1}, {256, 0, 3}, {64, 2, 3}, {128, 2, 3}}),
       512},
      // Empty buffers take no space.
      {"empty", makeBuffers({{0, 0, 5}, {64, 0, 5}, {0, 1, 1}}), 64},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    MemoryPlan plan = planMemory(c.buffers);
    expectValid(c.buffers, plan);
    EXPECT_EQ(plan.arenaBytes, c.arenaBytes);
  }
}

TEST(MemoryPlanTest, OffsetsAreAligned) {
  std::vector<BufferLifetime> buffers =
      makeBuffers({{1, 0, 3}, {3, 0, 3}, {65, 0, 3}, {7, 0, 3}});
  MemoryPlan plan = planMemory(buffers);
  for (int64_t offset : plan.offsets)
    EXPECT_EQ(offset % kArenaAlignment, 0) << offset;
  expectValid(buffers, plan);
}

/// The most bytes live at any one step: no valid plan can be smaller.
static int64_t getPeakLiveBytes(const std::vector<BufferLifetime> &buffers) {
  int64_t lastStep = 0;
  for (const BufferLifetime &buffer : buffers)
    lastStep = std::max(lastStep, buffer.lastStep);
  int64_t peak = 0;
  for (int64_t step = 0; step <= lastStep; ++step) {
    int64_t live = 0;
    for (const BufferLifetime &buffer : buffers)
      if (buffer.firstStep <= step && step <= buffer.lastStep)
        live += buffer.bytes;
    peak = std::max(peak, live);
  }
  return peak;
}

TEST(MemoryPlanTest, RandomLifetimesAlwaysVerify) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Random random(seed);
    std::vector<BufferLifetime> buffers;
    int64_t count = random.uniformInt(1, 40);
    int64_t steps = random.uniformInt(1, 30);
    int64_t alignedSum = 0;
    for (int64_t i = 0; i < count; ++i) {
      int64_t first = random.uniformInt(0, steps);
      int64_t last = random.uniformInt(first, steps);
      // Mostly small, sometimes empty, sometimes large.
      int64_t bytes = random.uniformInt(0, 4) == 0 ? random.uniformInt(0, 3)
                                                   : random.uniformInt(1, 5000);
      if (random.uniformInt(0, 10) == 0)
        bytes = random.uniformInt(100000, 1000000);
      buffers.push_back({i, bytes, first, last});
      alignedSum += (bytes + 63) / 64 * 64;
    }
    MemoryPlan plan = planMemory(buffers);
    std::string error;
    ASSERT_TRUE(verifyPlan(buffers, plan, error)) << error;
    EXPECT_GE(plan.arenaBytes, getPeakLiveBytes(buffers));
    EXPECT_LE(plan.arenaBytes, alignedSum);
    // Deterministic.
    EXPECT_EQ(planMemory(buffers).offsets, plan.offsets);
  }
}

//===----------------------------------------------------------------------===//
// Verification
//===----------------------------------------------------------------------===//

namespace {
/// Two buffers live at step 1, placed apart, and a third after them.
class VerifyPlanTest : public ::testing::Test {
protected:
  std::vector<BufferLifetime> buffers =
      makeBuffers({{100, 0, 1}, {64, 1, 2}, {64, 3, 3}});
  MemoryPlan plan = {{0, 128, 0}, 192, 228};
};
} // namespace

TEST_F(VerifyPlanTest, AcceptsTheValidPlan) { expectValid(buffers, plan); }

TEST_F(VerifyPlanTest, LiveBuffersSharingBytes) {
  plan.offsets[1] = 64; // Inside buffer 0's [0, 100).
  expectInvalid(buffers, plan, "buffers 0 and 1 share arena bytes");
  // Buffers 0 and 2 are never live together, so sharing is fine.
  plan.offsets[1] = 128;
  plan.offsets[2] = 0;
  expectValid(buffers, plan);
}

TEST_F(VerifyPlanTest, MisalignedOrNegativeOffset) {
  plan.offsets[1] = 136;
  expectInvalid(buffers, plan, "buffer 1: offset 136 is not");
  plan.offsets[1] = -64;
  expectInvalid(buffers, plan, "offset -64");
}

TEST_F(VerifyPlanTest, BufferBeyondTheArena) {
  plan.arenaBytes = 191;
  expectInvalid(buffers, plan, "beyond the arena (191 bytes)");
  // Near INT64_MAX, offset + bytes must not wrap around.
  plan.arenaBytes = std::numeric_limits<int64_t>::max();
  plan.offsets[1] = std::numeric_limits<int64_t>::max() / 64 * 64;
  expectInvalid(buffers, plan, "beyond the arena");
}

TEST_F(VerifyPlanTest, WrongUnplannedSize) {
  plan.unplannedBytes = 227;
  expectInvalid(buffers, plan, "not the sum of the buffer sizes (228 bytes)");
}

TEST_F(VerifyPlanTest, WrongOffsetCount) {
  plan.offsets.pop_back();
  expectInvalid(buffers, plan, "2 offsets for 3 buffers");
}

TEST_F(VerifyPlanTest, InvalidLifetimes) {
  buffers[2].firstStep = 4; // After its last step.
  expectInvalid(buffers, plan, "buffer 2 has an invalid lifetime");
  buffers[2] = {2, -1, 3, 3};
  expectInvalid(buffers, plan, "buffer 2 has an invalid lifetime");
}

TEST_F(VerifyPlanTest, NegativeArena) {
  plan.arenaBytes = -1;
  expectInvalid(buffers, plan, "negative");
}
