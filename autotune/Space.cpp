//===- Space.cpp - The configs a kernel may be tuned over ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Space.h"

#include "codegen/Common/Target.h"

#include "mlir/IR/Diagnostics.h"

#include <algorithm>
#include <set>

using namespace mlir;

namespace kiln::autotune {

using cpu::KernelKind;

SpaceLimits getSpaceLimits(const codegen::CpuTarget &target, int64_t l2Bytes) {
  SpaceLimits limits;
  limits.vectorRegisters = target.hasAvx512 ? 32 : 16;
  if (l2Bytes > 0)
    limits.l2Bytes = l2Bytes;
  return limits;
}

int64_t SearchSpace::getSize() const {
  int64_t size = 1;
  for (const Knob &knob : knobs)
    size *= static_cast<int64_t>(knob.values.size());
  return size;
}

/// Tile sizes worth trying for a dimension of `extent`: whole (0), powers of
/// two from `least` and the even splits of the extent into 2 to 8 parts,
/// each smaller than the extent; plus `keep` (the default's).
static std::vector<int64_t> getTileValues(int64_t extent, int64_t least,
                                          int64_t keep) {
  std::set<int64_t> values = {0, keep};
  for (int64_t p = std::max<int64_t>(1, least); p < extent; p *= 2)
    values.insert(p);
  for (int64_t parts : {2, 3, 4, 6, 8})
    if (extent % parts == 0 && extent / parts >= least)
      values.insert(extent / parts);
  return {values.begin(), values.end()};
}

/// `fixed` values below `extent`, whole (0) and `keep`.
static std::vector<int64_t>
getBlockValues(int64_t extent, llvm::ArrayRef<int64_t> fixed, int64_t keep) {
  std::set<int64_t> values = {0, keep};
  for (int64_t value : fixed)
    if (value < extent)
      values.insert(value);
  return {values.begin(), values.end()};
}

/// K blocks worth trying for a contraction of `depth`: the fixed sizes, and
/// the depth's exact splits into 2 to 4 parts in whole vectors of `lanes`
/// and no shorter than 64. An exact split leaves no short last block, and
/// only blocks that divide the depth may pack the rhs per panel: at
/// 512x384x1536 blocks of 192 (two passes over the result instead of three
/// with 128) measured 1% faster on one thread (bench/NOTES.md, session 19).
static std::vector<int64_t> getKBlockValues(int64_t depth, int64_t lanes,
                                            int64_t keep) {
  std::vector<int64_t> blocks = {64, 128, 256, 512};
  for (int64_t parts : {2, 3, 4})
    if (depth % parts == 0 && depth / parts % lanes == 0 && depth / parts >= 64)
      blocks.push_back(depth / parts);
  return getBlockValues(depth, blocks, keep);
}

/// Whether `kernel` accepts a tile on dimension `dim` at all (several
/// results only share some dimensions), asked of verifyCpuConfig itself.
static bool isTileableDim(func::FuncOp kernel, CpuConfigAttr base,
                          int64_t dim) {
  SmallVector<int64_t> tiles(base.getTileSizes().asArrayRef());
  tiles[dim] = 1;
  MLIRContext *context = kernel.getContext();
  CpuConfigAttr probe = CpuConfigAttr::get(
      context, DenseI64ArrayAttr::get(context, tiles), base.getVectorWidth(),
      base.getMicroTile(), base.getPackMatmul(), base.getKBlock(),
      base.getPackLhs(), base.getMBlock(), base.getPackRhsPerPanel());
  ScopedDiagnosticHandler silence(context,
                                  [](Diagnostic &) { return success(); });
  return succeeded(cpu::verifyCpuConfig(kernel, probe));
}

SearchSpace buildSearchSpace(func::FuncOp kernel,
                             const codegen::CpuTarget &target,
                             const SpaceLimits &limits) {
  SearchSpace space;
  space.kind = cpu::classifyKernel(kernel);
  space.base = cpu::getDefaultCpuConfig(kernel, target);
  space.limits = limits;
  space.depth = cpu::getContractionDepth(kernel);
  FunctionType type = kernel.getFunctionType();
  space.numInputs = type.getNumInputs();
  space.numResults = type.getNumResults();
  auto result = type.getNumResults()
                    ? dyn_cast<RankedTensorType>(type.getResult(0))
                    : RankedTensorType();
  if (!result || !result.hasStaticShape())
    return space;
  space.shape.assign(result.getShape().begin(), result.getShape().end());
  int64_t rank = result.getRank();
  ArrayRef<int64_t> baseTiles = space.base.getTileSizes().asArrayRef();
  int64_t lanes = target.getF32Lanes();
  auto addTile = [&](int64_t dim, std::vector<int64_t> values) {
    if (space.shape[dim] > 1 && isTileableDim(kernel, space.base, dim))
      space.knobs.push_back({KnobKind::TileSize, dim, std::move(values)});
  };

  switch (space.kind) {
  case KernelKind::Matmul: {
    // 1. Tiles of m and n (batch dimensions stay one at a time), the
    //    register tile, packing (the rhs, and the lhs with it) and the k
    //    block.
    if (rank < 2)
      break;
    addTile(rank - 2,
            getTileValues(space.shape[rank - 2], 4, baseTiles[rank - 2]));
    addTile(rank - 1,
            getTileValues(space.shape[rank - 1], lanes, baseTiles[rank - 1]));
    ArrayRef<int64_t> micro = space.base.getMicroTile().asArrayRef();
    std::set<int64_t> rows = {2, 4, 6, 8, micro[0]};
    if (limits.vectorRegisters >= 32)
      rows.insert({12, 14});
    space.knobs.push_back(
        {KnobKind::MicroTileM, -1, {rows.begin(), rows.end()}});
    // With 32 registers, three vectors (8 x 48, oneDNN's AVX-512 tile: 11
    // loads for 24 FMAs) and four (6 x 64: 10 loads for 24), against 10
    // loads for 16 FMAs with 8 x 32.
    std::set<int64_t> cols = {lanes, 2 * lanes, micro[1]};
    if (limits.vectorRegisters >= 32)
      cols.insert({3 * lanes, 4 * lanes});
    space.knobs.push_back(
        {KnobKind::MicroTileN, -1, {cols.begin(), cols.end()}});
    if (space.numResults == 1) {
      space.knobs.push_back({KnobKind::PackMatmul, -1, {0, 1}});
      space.knobs.push_back({KnobKind::PackLhs, -1, {0, 1}});
      // GotoBLAS's blocking, for tiles of many rows: the rhs packed once per
      // k block for all of them, the lhs per block of rows, the result
      // accumulated in place. At 2048^3 on one thread a single 2048 x 2048
      // tile in m blocks of 512 measured 1.08-1.12x 256 x 256 tiles (see
      // bench/NOTES.md).
      std::vector<int64_t> blocks = getBlockValues(
          space.shape[rank - 2], {128, 256, 512}, space.base.getMBlock());
      if (blocks.size() > 1) {
        // One block of all the rows too: its rhs panels are each read by
        // one m block only, so kiln-cpu-prefetch-pack-sources packs them
        // one at a time into one panel's space, which stays in L1 (1.5-2%
        // faster at 512x384x1536 than two m blocks sharing a packed rhs
        // block; see bench/NOTES.md, session 22).
        if (!llvm::is_contained(blocks, space.shape[rank - 2]))
          blocks.push_back(space.shape[rank - 2]);
        space.knobs.push_back({KnobKind::MBlock, -1, std::move(blocks)});
      }
      // A rhs met cold waits on memory in its first pack: packed per panel
      // it waits for one panel only, but the strided panel reads cost more
      // than that on some shapes (bench/NOTES.md, session 17), so both.
      space.knobs.push_back({KnobKind::PackRhsPerPanel, -1, {0, 1}});
    }
    if (space.depth > 64)
      space.knobs.push_back(
          {KnobKind::KBlock, -1,
           getKBlockValues(space.depth, lanes, space.base.getKBlock())});
    break;
  }
  case KernelKind::Attention:
    // 2. Blocks of query rows; one (batch, head) per tile as the default.
    if (rank == 4)
      addTile(2, getBlockValues(space.shape[2], {8, 16, 32, 64, 128},
                                baseTiles[2]));
    break;
  case KernelKind::MixtureOfExperts:
    // 3. Blocks of tokens.
    if (rank >= 2)
      addTile(rank - 2,
              getBlockValues(space.shape[rank - 2], {4, 8, 16, 32, 64},
                             baseTiles[rank - 2]));
    break;
  case KernelKind::Elementwise:
  case KernelKind::Reduction:
  case KernelKind::Convolution:
    // 4. Every dimension, the innermost in vectors; a reduction keeps its
    //    last dimension (the one it reduces along) whole.
    for (int64_t d = 0; d < rank; ++d) {
      if (d == rank - 1 && space.kind == KernelKind::Reduction)
        continue;
      addTile(d, getTileValues(space.shape[d], d == rank - 1 ? lanes : 1,
                               baseTiles[d]));
    }
    break;
  }
  return space;
}

CpuConfigAttr applyCandidate(const SearchSpace &space,
                             const Candidate &candidate) {
  CpuConfigAttr base = space.base;
  SmallVector<int64_t> tiles(base.getTileSizes().asArrayRef());
  SmallVector<int64_t> micro;
  if (base.getMicroTile())
    micro.assign(base.getMicroTile().asArrayRef().begin(),
                 base.getMicroTile().asArrayRef().end());
  bool pack = base.getPackMatmul();
  int64_t kBlock = base.getKBlock();
  bool packLhs = base.getPackLhs();
  int64_t mBlock = base.getMBlock();
  bool packRhsPerPanel = base.getPackRhsPerPanel();
  for (auto [knob, choice] : llvm::zip_equal(space.knobs, candidate)) {
    int64_t value = knob.values[choice];
    switch (knob.kind) {
    case KnobKind::TileSize:
      tiles[knob.axis] = value;
      break;
    case KnobKind::MicroTileM:
      micro[0] = value;
      break;
    case KnobKind::MicroTileN:
      micro[1] = value;
      break;
    case KnobKind::PackMatmul:
      pack = value != 0;
      break;
    case KnobKind::KBlock:
      kBlock = value;
      break;
    case KnobKind::PackLhs:
      packLhs = value != 0;
      break;
    case KnobKind::MBlock:
      mBlock = value;
      break;
    case KnobKind::PackRhsPerPanel:
      packRhsPerPanel = value != 0;
      break;
    }
  }
  MLIRContext *context = base.getContext();
  return CpuConfigAttr::get(
      context, DenseI64ArrayAttr::get(context, tiles), base.getVectorWidth(),
      micro.empty() ? DenseI64ArrayAttr()
                    : DenseI64ArrayAttr::get(context, micro),
      pack, kBlock, packLhs, mBlock, packRhsPerPanel);
}

/// The extent a tile of `tile` covers along a dimension of `extent`.
static int64_t covered(int64_t tile, int64_t extent) {
  return tile == 0 ? extent : std::min(tile, extent);
}

std::optional<std::string> checkCandidate(const SearchSpace &space,
                                          func::FuncOp kernel,
                                          const Candidate &candidate) {
  CpuConfigAttr config = applyCandidate(space, candidate);
  {
    ScopedDiagnosticHandler silence(kernel.getContext(),
                                    [](Diagnostic &) { return success(); });
    // The attribute's own invariants too: applyCandidate builds it
    // unchecked.
    auto emit = [&] { return kernel.emitError(); };
    if (failed(CpuConfigAttr::verify(
            emit, config.getTileSizes(), config.getVectorWidth(),
            config.getMicroTile(), config.getPackMatmul(), config.getKBlock(),
            config.getPackLhs(), config.getMBlock(),
            config.getPackRhsPerPanel())) ||
        failed(cpu::verifyCpuConfig(kernel, config)))
      return std::string("rejected by the config verifier");
  }
  ArrayRef<int64_t> tiles = config.getTileSizes().asArrayRef();
  int64_t rank = static_cast<int64_t>(space.shape.size());
  int64_t lanes = config.getVectorWidth();
  constexpr int64_t kBytes = 4;
  if (space.kind == KernelKind::Matmul && rank >= 2 && config.getMicroTile()) {
    // 1. The register tile: m x n accumulators, a row of n from the rhs and
    //    one broadcast lhs element, all in vector registers.
    ArrayRef<int64_t> micro = config.getMicroTile().asArrayRef();
    if (micro[1] % lanes != 0)
      return std::string("register tile columns not a multiple of the "
                         "vector width");
    int64_t registers = micro[0] * micro[1] / lanes + micro[1] / lanes + 1;
    if (registers > space.limits.vectorRegisters)
      return "register tile needs " + std::to_string(registers) +
             " vector registers";
    // 2. Tiles in whole register tiles.
    int64_t m = space.shape[rank - 2], n = space.shape[rank - 1];
    if ((tiles[rank - 2] != 0 && tiles[rank - 2] < m &&
         tiles[rank - 2] % micro[0] != 0) ||
        (tiles[rank - 1] != 0 && tiles[rank - 1] < n &&
         tiles[rank - 1] % micro[1] != 0))
      return std::string("tile not a multiple of the register tile");
    // 3. A tile's lhs block, rhs panel and accumulators within L2.
    int64_t tm = covered(tiles[rank - 2], m), tn = covered(tiles[rank - 1], n);
    int64_t kb = config.getKBlock() > 0
                     ? std::min(config.getKBlock(), space.depth)
                     : space.depth;
    //    An m block past the tile's rows compiles to the kernel of one m
    //    block of all of them: the same kernel, measured twice.
    if (config.getMBlock() > tm)
      return std::string("m block larger than the tile's rows (the same "
                         "kernel as one of all its rows)");
    //    With m blocks, the packed lhs block within half of L2: the
    //    accumulators are the result in place, and the rhs panels stream
    //    through the other half.
    if (config.getMBlock() > 0) {
      int64_t bytes = config.getMBlock() * kb * kBytes;
      if (2 * bytes > space.limits.l2Bytes)
        return "lhs block " + std::to_string(bytes) +
               " bytes exceeds half of L2";
    } else if (int64_t bytes = (tm * kb + kb * tn + tm * tn) * kBytes;
               bytes > space.limits.l2Bytes) {
      return "tile working set " + std::to_string(bytes) + " bytes exceeds L2";
    }
    // 4. Packing reads the register tile's columns as its panel width, and
    //    a k block only pays with a deep enough contraction.
    if (config.getKBlock() >= space.depth && config.getKBlock() != 0)
      return std::string("k block not smaller than the depth");
    // 5. Only whole panels and k blocks in m blocks are packed per k block
    //    in a form kiln-cpu-prefetch-pack-sources moves into the panel
    //    loop; elsewhere the knob changes nothing, and the same kernel
    //    would be measured twice.
    if (config.getPackRhsPerPanel() &&
        (config.getMBlock() == 0 || tn % micro[1] != 0 || n % tn != 0 ||
         kb % lanes != 0 || space.depth % kb != 0))
      return std::string("rhs packed per panel needs whole panels and k "
                         "blocks in m blocks");
    return std::nullopt;
  }
  // 6. Other kernels: a tile of every input and result within L2.
  int64_t elements = 1;
  for (int64_t d = 0; d < rank; ++d)
    elements *= covered(tiles[d], space.shape[d]);
  int64_t bytes = elements * (space.numInputs + space.numResults) * kBytes;
  if (bytes > space.limits.l2Bytes && elements > lanes)
    return "tile working set " + std::to_string(bytes) + " bytes exceeds L2";
  return std::nullopt;
}

std::optional<Candidate> getBaseCandidate(const SearchSpace &space) {
  Candidate candidate;
  CpuConfigAttr base = space.base;
  for (const Knob &knob : space.knobs) {
    int64_t value = 0;
    switch (knob.kind) {
    case KnobKind::TileSize:
      value = base.getTileSizes()[knob.axis];
      break;
    case KnobKind::MicroTileM:
      value = base.getMicroTile()[0];
      break;
    case KnobKind::MicroTileN:
      value = base.getMicroTile()[1];
      break;
    case KnobKind::PackMatmul:
      value = base.getPackMatmul();
      break;
    case KnobKind::KBlock:
      value = base.getKBlock();
      break;
    case KnobKind::PackLhs:
      value = base.getPackLhs();
      break;
    case KnobKind::MBlock:
      value = base.getMBlock();
      break;
    case KnobKind::PackRhsPerPanel:
      value = base.getPackRhsPerPanel();
      break;
    }
    auto it = std::find(knob.values.begin(), knob.values.end(), value);
    if (it == knob.values.end())
      return std::nullopt;
    candidate.push_back(it - knob.values.begin());
  }
  return candidate;
}

/// The k block of the blocked seeds: the largest of `values` no larger than
/// 256 that divides `depth` (no short last block, and the rhs may be packed
/// per panel), else 256 when offered, else none (0).
static int64_t getSeedKBlock(const std::vector<int64_t> &values,
                             int64_t depth) {
  int64_t best = 0;
  for (int64_t value : values)
    if (value > 0 && value <= 256 && depth % value == 0)
      best = std::max(best, value);
  if (best == 0 && llvm::is_contained(values, 256))
    best = 256;
  return best;
}

/// The largest tile of `values` that still gives each of `threads` one.
static int64_t getTileForEachThread(const std::vector<int64_t> &values,
                                    int64_t extent, int threads) {
  int64_t tile = 0;
  for (int64_t value : values)
    if (value > 0 && llvm::divideCeilSigned(extent, value) >= threads)
      tile = std::max(tile, value);
  return tile;
}

/// `blocked` with one m block of all its tile's rows, each rhs panel packed
/// at its first use (into one panel's space: the next panel's micro kernels
/// no longer need it), and the largest k block up to `blocked`'s that
/// divides the depth and keeps that lhs block within half of L2; none when
/// no such candidate is legal, or only with under half of `blocked`'s k
/// block (more passes over the result than the blocks save).
static std::optional<Candidate>
getOneMBlockCandidate(const SearchSpace &space, func::FuncOp kernel,
                      Candidate blocked) {
  int64_t rank = static_cast<int64_t>(space.shape.size());
  std::optional<size_t> mBlock, kBlock, perPanel;
  int64_t rows = space.shape[rank - 2];
  for (auto [index, knob] : llvm::enumerate(space.knobs)) {
    int64_t value = knob.values[blocked[index]];
    if (knob.kind == KnobKind::TileSize && knob.axis == rank - 2 && value > 0)
      rows = std::min(rows, value);
    mBlock = knob.kind == KnobKind::MBlock ? index : mBlock;
    kBlock = knob.kind == KnobKind::KBlock ? index : kBlock;
    perPanel = knob.kind == KnobKind::PackRhsPerPanel ? index : perPanel;
  }
  if (!mBlock || !perPanel)
    return std::nullopt;
  const std::vector<int64_t> &mValues = space.knobs[*mBlock].values;
  auto whole = llvm::find(mValues, rows);
  if (whole == mValues.end())
    return std::nullopt;
  blocked[*mBlock] = whole - mValues.begin();
  blocked[*perPanel] = 1;
  if (!kBlock)
    return checkCandidate(space, kernel, blocked) ? std::nullopt
                                                  : std::optional(blocked);
  // The k blocks from the seed's down, each dividing the depth.
  const std::vector<int64_t> &kValues = space.knobs[*kBlock].values;
  int64_t largest = kValues[blocked[*kBlock]];
  for (int64_t index = static_cast<int64_t>(kValues.size()) - 1; index >= 0;
       --index) {
    int64_t value = kValues[index];
    if (value <= 0 || value > largest || 2 * value < largest ||
        space.depth % value != 0)
      continue;
    blocked[*kBlock] = index;
    if (!checkCandidate(space, kernel, blocked))
      return blocked;
  }
  return std::nullopt;
}

std::vector<Candidate> getBlockedCandidates(const SearchSpace &space,
                                            func::FuncOp kernel, int threads) {
  std::optional<Candidate> base = getBaseCandidate(space);
  int64_t rank = static_cast<int64_t>(space.shape.size());
  if (!base || space.kind != KernelKind::Matmul || rank < 2 ||
      llvm::none_of(space.knobs, [](const Knob &knob) {
        return knob.kind == KnobKind::MBlock;
      }))
    return {};
  // The tall tiles split the rows between the threads, the wide ones the
  // columns; on one thread both are the whole result.
  std::vector<int64_t> splitAxes = {rank - 2};
  if (threads > 1)
    splitAxes.push_back(rank - 1);
  std::vector<Candidate> seeds;
  for (int64_t splitAxis : splitAxes) {
    Candidate candidate = *base;
    auto set = [&](size_t index, int64_t value) {
      const std::vector<int64_t> &values = space.knobs[index].values;
      auto it = std::find(values.begin(), values.end(), value);
      if (it != values.end())
        candidate[index] = it - values.begin();
    };
    std::optional<size_t> perPanel;
    for (auto [index, knob] : llvm::enumerate(space.knobs)) {
      switch (knob.kind) {
      case KnobKind::TileSize:
        set(index, threads > 1 && knob.axis == splitAxis
                       ? getTileForEachThread(knob.values,
                                              space.shape[knob.axis], threads)
                       : 0);
        break;
      case KnobKind::PackMatmul:
      case KnobKind::PackLhs:
        set(index, 1);
        break;
      case KnobKind::KBlock:
        set(index, getSeedKBlock(knob.values, space.depth));
        break;
      case KnobKind::MBlock:
        set(index, 256);
        break;
      case KnobKind::PackRhsPerPanel:
        perPanel = index;
        break;
      case KnobKind::MicroTileM:
      case KnobKind::MicroTileN:
        break;
      }
    }
    // Each rhs panel packed at its first use where the blocks allow it.
    if (perPanel) {
      Candidate packedPerPanel = candidate;
      packedPerPanel[*perPanel] = 1;
      if (!checkCandidate(space, kernel, packedPerPanel))
        candidate = packedPerPanel;
    }
    if (!checkCandidate(space, kernel, candidate) &&
        !llvm::is_contained(seeds, candidate))
      seeds.push_back(candidate);
    if (std::optional<Candidate> single =
            getOneMBlockCandidate(space, kernel, candidate);
        single && !llvm::is_contained(seeds, *single))
      seeds.push_back(std::move(*single));
  }
  return seeds;
}

std::vector<Candidate>
enumerateLegalCandidates(llvm::ArrayRef<int64_t> numValues, int64_t limit,
                         llvm::function_ref<bool(const Candidate &)> isLegal) {
  std::vector<Candidate> legal;
  Candidate candidate(numValues.size(), 0);
  // An odometer over the knob indices, the last knob fastest.
  while (static_cast<int64_t>(legal.size()) < limit) {
    if (isLegal(candidate))
      legal.push_back(candidate);
    int64_t k = static_cast<int64_t>(candidate.size()) - 1;
    for (; k >= 0; --k) {
      if (++candidate[k] < numValues[k])
        break;
      candidate[k] = 0;
    }
    if (k < 0)
      break;
  }
  return legal;
}

std::vector<Candidate> enumerateCandidates(const SearchSpace &space,
                                           func::FuncOp kernel, int64_t limit) {
  std::vector<int64_t> numValues;
  for (const Knob &knob : space.knobs)
    numValues.push_back(static_cast<int64_t>(knob.values.size()));
  return enumerateLegalCandidates(
      numValues, limit, [&](const Candidate &candidate) {
        return !checkCandidate(space, kernel, candidate);
      });
}

} // namespace kiln::autotune
