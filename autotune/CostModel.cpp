//===- CostModel.cpp - Predicted time of a candidate config ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/CostModel.h"

#include <algorithm>
#include <cmath>

namespace kiln::autotune {

/// Seconds of bookkeeping per matmul tile: the loop set-up, the packing of
/// its panels, the stores of a partial vector at its edges.
static constexpr double kSecondsPerTile = 2e-7;
/// Seconds per tile of a streaming kernel: an iteration of the tile loop
/// (a SiLU over 32768x1024 in 1x16 tiles, 2M of them, takes about 10 ms
/// longer than in 2x1024 ones).
static constexpr double kSecondsPerStreamTile = 5e-9;
/// Address streams a tile may walk side by side before the hardware
/// prefetchers lose track (each row of a tile that covers rows partially is
/// a stream of its own, per operand).
static constexpr double kPrefetchStreams = 24;
/// Seconds lost per run of a partial row fetched on demand, for a run of
/// one cache line; a longer run lets the prefetcher catch up part of the
/// way (the loss grows as the square root of its lines).
static constexpr double kSecondsPerDemandRun = 5e-8;
static constexpr double kCacheLineBytes = 64;
/// How much faster than DRAM a working set held in L2 streams.
static constexpr double kL2Speedup = 4.0;
/// Independent FMAs needed in flight to hide the FMA latency (4 cycles on
/// 2 ports).
static constexpr double kFmasInFlight = 8.0;
/// Issue slots, in FMAs, that one load of the register tile's inner loop
/// (an lhs broadcast or an rhs vector) takes from the FMAs: the loads share
/// the front end with them. Measured: a 2 x 64 or 4 x 32 tile (8 FMAs, 6
/// loads per k step) runs about 13% slower than a 4 x 64 one (16 FMAs, 8
/// loads) and an 8 x 16 one (8 FMAs, 9 loads) about 30% slower.
static constexpr double kFmaSlotsPerLoad = 0.7;
/// The register tile's efficiency stops growing at that of 8 x 48 (24 FMAs
/// and 11 loads per k step): 8 x 32, 8 x 48, 12 x 32 and 6 x 64 tiles all
/// measured 85-87% of the FMA peak with their operands in L1
/// (bench/ceiling/register_tile.c), the FMAs' own limit; in whole matmuls
/// (kiln-cpu-split-register-tiles) 8 x 48 ran 1.05-1.06x 8 x 32 where its
/// panels divide the result (512x384x1536, 128x768x3072, 768x768x1536; see
/// bench/NOTES.md, `matmul_structure.py` config variants).
static constexpr double kMaxRegisterTileEfficiency =
    24.0 / (24.0 + kFmaSlotsPerLoad * 11.0);
/// The speed of a matmul with m blocks whose panels do not divide its tile
/// (its rows, by the register tile's m with `pack_lhs`, or its columns when
/// they are fewer than one panel): its result is accumulated in a packed
/// buffer, not in place, and unpacked, and its padded packs stay outside
/// the k block. At 1024^3, 8 x 48 padded that way ran at 0.77 of 8 x 32,
/// which is about 0.75 of the 1.05x it runs where its panels divide.
static constexpr double kPaddedPanelSpeed = 0.75;
/// Seconds per element a matmul tile packs (rhs panels or lhs micro
/// panels), on top of its FMAs: at 2048^3 in 256 x 256 tiles every rhs
/// element is packed 8 times, and skipping those packs (stale panels)
/// measured about 10% of the run, some 11 ms for 32 M elements.
static constexpr double kSecondsPerPackedElement = 3.5e-10;
/// The share of that cost per result element a k block reads and writes
/// back in place (with `m_block`): the next micro kernel's rows are
/// prefetched, so they mostly arrive in time. At 128 x 768 x 3072, where
/// the in-place result is all the m blocks add, they measured about 8%
/// slower than the packed accumulators.
static constexpr double kInPlaceShare = 0.1;
/// The share of the packing cost of a rhs element packed panel by panel
/// (`pack_rhs_per_panel`) when one m block covers the tile: every panel
/// then reuses one panel's space in L1, where with more m blocks the whole
/// k block is packed, through L2 and L3, for the later m blocks to read
/// back. At 512x384x1536 (8 x 32, k blocks of 192) one m block of 512 ran
/// 1.5% faster than two of 256, about 40 us of 0.59 M rhs elements.
static constexpr double kPanelInL1Share = 0.8;

static int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Seconds lost to the prefetchers when the tiles of a streaming kernel
/// over `shape` cover `covered` elements per dimension: a tile that covers
/// its rows partially reads each as a run of its own, and as its rows (the
/// streams, times the `operands`) outnumber what the prefetchers track, a
/// growing share of those runs is fetched on demand. Tall narrow tiles of a
/// wide tensor are several times slower than whole rows.
static double getDemandRunSeconds(const std::vector<int64_t> &shape,
                                  const std::vector<int64_t> &covered,
                                  int64_t operands) {
  int64_t rank = static_cast<int64_t>(shape.size());
  if (rank < 2 || covered[rank - 1] >= shape[rank - 1])
    return 0;
  double streams = static_cast<double>(covered[rank - 2]) * operands;
  double share = std::clamp(std::log2(streams / kPrefetchStreams) / 8, 0.0,
                            1.0);
  double elements = 1;
  for (int64_t extent : shape)
    elements *= extent;
  double runs = elements / covered[rank - 1] * operands;
  double lines = std::max(1.0, covered[rank - 1] * 4 / kCacheLineBytes);
  return share * runs * kSecondsPerDemandRun * std::sqrt(lines);
}

/// Elements a matmul with an m x n result of depth k packs (or, in place,
/// moves) beyond its FMAs in tiles of tm x tn, weighted by their cost: each
/// tile packs its own rhs panels, so the rhs is packed once per row of
/// tiles (at a discount panel by panel in one m block); the lhs, packed,
/// once per column of tiles; with m blocks the result is read and written
/// back once per k block instead.
static double getPackedElements(CpuConfigAttr config, int64_t m, int64_t n,
                                int64_t k, int64_t tm, int64_t tn) {
  double elements = 0;
  if (config.getPackMatmul()) {
    bool panelInL1 = config.getPackRhsPerPanel() && config.getMBlock() >= tm;
    elements += static_cast<double>(ceilDiv(m, tm)) * k * n *
                (panelInL1 ? kPanelInL1Share : 1.0);
  }
  if (config.getPackLhs())
    elements += static_cast<double>(ceilDiv(n, tn)) * m * k;
  if (config.getMBlock() > 0) {
    int64_t kBlocks = config.getKBlock() > 0 ? ceilDiv(k, config.getKBlock())
                                             : 1;
    elements += kInPlaceShare * static_cast<double>(m) * n * kBlocks;
  }
  return elements;
}

double predictSeconds(const SearchSpace &space, const Candidate &candidate,
                      const MachinePeaks &peaks) {
  CpuConfigAttr config = applyCandidate(space, candidate);
  llvm::ArrayRef<int64_t> tiles = config.getTileSizes().asArrayRef();
  const std::vector<int64_t> &shape = space.shape;
  int64_t rank = static_cast<int64_t>(shape.size());
  int64_t lanes = config.getVectorWidth();
  double threads = std::max(1, peaks.numThreads);
  constexpr double kBytes = 4;

  // 1. Tiles per dimension and the parallel efficiency of their waves.
  int64_t numTiles = 1;
  std::vector<int64_t> covered(rank);
  for (int64_t d = 0; d < rank; ++d) {
    covered[d] = tiles[d] == 0 ? shape[d] : std::min(tiles[d], shape[d]);
    numTiles *= ceilDiv(shape[d], covered[d]);
  }
  double waves = std::ceil(numTiles / threads);
  double parallel = numTiles / (waves * threads);

  int64_t elements = 1;
  for (int64_t extent : shape)
    elements *= extent;

  if (space.kind == cpu::KernelKind::Matmul && rank >= 2 &&
      config.getMicroTile() && space.depth > 0) {
    // 2. Compute at the register tile's efficiency: per k step it loads m
    //    broadcasts and n / lanes vectors for m * n / lanes FMAs, which
    //    issue beside the loads and, too few, wait on their latency.
    llvm::ArrayRef<int64_t> micro = config.getMicroTile().asArrayRef();
    double fmas = static_cast<double>(micro[0] * micro[1] / lanes);
    double loads = static_cast<double>(micro[0] + micro[1] / lanes);
    double efficiency = std::min(
        fmas / std::max(fmas + kFmaSlotsPerLoad * loads, kFmasInFlight),
        kMaxRegisterTileEfficiency);
    // Edges: the part of a tile the register tile does not divide runs at
    // a fraction of the speed.
    // With m blocks, columns past the last whole panel go to a narrower
    // panel, padded to whole vectors only.
    int64_t tm = covered[rank - 2], tn = covered[rank - 1];
    bool blocksRows = config.getMBlock() > 0 && config.getPackMatmul();
    bool splitsColumns = blocksRows && tn > micro[1];
    int64_t paddedColumns =
        splitsColumns ? tn / micro[1] * micro[1] +
                            ceilDiv(tn % micro[1], lanes) * lanes
                      : ceilDiv(tn, micro[1]) * micro[1];
    double rowsUsed =
        static_cast<double>(tm) / (ceilDiv(tm, micro[0]) * micro[0]);
    double colsUsed = static_cast<double>(tn) / paddedColumns;
    efficiency *= rowsUsed * colsUsed;
    bool paddedPanels = (tn % micro[1] != 0 && !splitsColumns) ||
                        (config.getPackLhs() && tm % micro[0] != 0);
    if (blocksRows && paddedPanels)
      efficiency *= kPaddedPanelSpeed;
    // Unpacked, the rows of a deep rhs panel alias in L1.
    int64_t k = space.depth;
    int64_t kb = config.getKBlock() > 0 ? std::min(config.getKBlock(), k) : k;
    if (!config.getPackMatmul() && kb * tn * kBytes > 32 * 1024)
      efficiency *= 0.7;
    double flops = 2.0 * elements * k;
    double compute = flops / (peaks.flopsPerSecond * efficiency);
    // 3. Memory: each tile reads its lhs rows and rhs panel; packing adds a
    //    pass over the rhs.
    int64_t m = shape[rank - 2], n = shape[rank - 1];
    int64_t batches = elements / (m * n);
    double bytes = batches *
                   (ceilDiv(n, tn) * static_cast<double>(m) * k +
                    ceilDiv(m, tm) * static_cast<double>(k) * n +
                    static_cast<double>(m) * n) *
                   kBytes;
    if (config.getPackMatmul())
      bytes += 2.0 * batches * k * n * kBytes;
    double workingSet = (tm * kb + kb * tn + tm * tn) * kBytes;
    double bandwidth = peaks.bytesPerSecond *
                       (workingSet <= space.limits.l2Bytes ? kL2Speedup : 1.0);
    double memory = bytes / bandwidth;
    // 4. Packing, which the FMAs wait for.
    double packing = getPackedElements(config, m, n, k, tm, tn) * batches *
                     kSecondsPerPackedElement;
    return (std::max(compute, memory) + packing) / parallel +
           numTiles * kSecondsPerTile / threads;
  }

  // 5. Other kernels stream their operands once; a short innermost tile
  //    wastes vector lanes.
  int64_t operands = space.numInputs + space.numResults;
  double bytes = elements * kBytes * operands;
  double memory = bytes / peaks.bytesPerSecond;
  if (rank > 0 && covered[rank - 1] < lanes)
    memory *= static_cast<double>(lanes) / covered[rank - 1];
  memory += getDemandRunSeconds(space.shape, covered, operands);
  return memory / parallel + numTiles * kSecondsPerStreamTile / threads;
}

} // namespace kiln::autotune
