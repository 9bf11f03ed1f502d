//===- TileAndFuseKernel.cpp - The tile loop of a kernel --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The kernel's tiles are the iterations of one scf.forall over the parallel
// loops of its root op, the op that computes its first result, tiled by the
// config. Every producer inside the kernel is fused into the loop, so one
// tile computes everything it needs; the runtime runs ranges of tiles on
// different threads.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#define DEBUG_TYPE "kiln-cpu-tile-and-fuse"

namespace kiln::cpu {
#define GEN_PASS_DEF_TILEANDFUSEKERNELPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

static void setTileCount(func::FuncOp kernel, int64_t count) {
  kernel->setAttr(
      kTileCountAttrName,
      IntegerAttr::get(IntegerType::get(kernel.getContext(), 64), count));
}

LogicalResult kiln::cpu::tileAndFuseKernel(RewriterBase &rewriter,
                                           func::FuncOp kernel,
                                           CpuConfigAttr config) {
  // 1. The results, in output order.
  SmallVector<bufferization::MaterializeInDestinationOp> outputs;
  kernel.walk([&](bufferization::MaterializeInDestinationOp op) {
    outputs.push_back(op);
  });
  if (kernel->hasAttr(kTileCountAttrName) || outputs.empty()) {
    if (!kernel->hasAttr(kTileCountAttrName))
      setTileCount(kernel, 1);
    return success();
  }

  // 2. The tile sizes of the first result's dimensions; a size of at least
  //    the dimension leaves it whole.
  Value result = outputs.front().getSource();
  auto resultType = cast<RankedTensorType>(result.getType());
  ArrayRef<int64_t> shape = resultType.getShape();
  ArrayRef<int64_t> configured = config.getTileSizes().asArrayRef();
  if (static_cast<int64_t>(configured.size()) != resultType.getRank())
    return kernel.emitError("expected one tile size per dimension of the "
                            "first result (rank ")
           << resultType.getRank() << ", got " << configured.size()
           << " tile sizes)";
  SmallVector<int64_t> tiles(configured);
  int64_t tileCount = 1;
  for (auto [tile, size] : llvm::zip_equal(tiles, shape)) {
    if (tile >= size)
      tile = 0;
    if (tile > 0)
      tileCount *= llvm::divideCeil(size, tile);
  }
  if (tileCount == 1) {
    setTileCount(kernel, 1);
    return success();
  }
  if (outputs.size() > 1)
    return kernel.emitError("expected a kernel with one result to be tiled "
                            "(got ")
           << outputs.size() << " results)";

  // 3. The root op's loops that index the result: a linalg op's by its
  //    output map, an unpack's (a packed matmul, see kiln-cpu-pack-matmul)
  //    are the result's dimensions.
  Operation *root = result.getDefiningOp();
  SmallVector<OpFoldResult> loopTiles;
  if (isa_and_nonnull<linalg::UnPackOp>(root)) {
    for (int64_t tile : tiles)
      loopTiles.push_back(rewriter.getIndexAttr(tile));
  } else {
    auto linalgRoot = dyn_cast_or_null<linalg::LinalgOp>(root);
    if (!linalgRoot || !linalgRoot.hasPureTensorSemantics()) {
      kernel.emitRemark("the root of the kernel is not a linalg op; it runs "
                        "as one tile");
      setTileCount(kernel, 1);
      return success();
    }
    AffineMap outputMap =
        linalgRoot.getIndexingMapMatchingResult(cast<OpResult>(result));
    if (!outputMap.isProjectedPermutation()) {
      kernel.emitRemark("the root of the kernel does not index its result by "
                        "loops; it runs as one tile");
      setTileCount(kernel, 1);
      return success();
    }
    loopTiles.assign(linalgRoot.getNumLoops(), rewriter.getIndexAttr(0));
    for (auto [dim, tile] : llvm::enumerate(tiles))
      loopTiles[outputMap.getDimPosition(dim)] = rewriter.getIndexAttr(tile);
  }

  // 4. Tile into an scf.forall and fuse every producer, greedily.
  scf::SCFTilingOptions tilingOptions;
  tilingOptions.setTileSizes(loopTiles);
  tilingOptions.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
  scf::SCFTileAndFuseOptions options;
  options.setTilingOptions(tilingOptions);
  rewriter.setInsertionPoint(root);
  FailureOr<scf::SCFTileAndFuseResult> tiled =
      scf::tileConsumerAndFuseProducersUsingSCF(
          rewriter, cast<TilingInterface>(root), options);
  if (failed(tiled))
    return root->emitError("failed to tile the root op of the kernel");
  for (auto [original, replacement] : tiled->replacements)
    rewriter.replaceAllUsesWith(original, replacement);
  setTileCount(kernel, tileCount);
  return success();
}

namespace {

struct TileAndFuseKernelPass
    : kiln::cpu::impl::TileAndFuseKernelPassBase<TileAndFuseKernelPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void TileAndFuseKernelPass::runOnOperation() {
  func::FuncOp function = getOperation();
  if (!isKernel(function))
    return;
  FailureOr<CpuConfigAttr> maybeConfig = getKernelConfig(function);
  if (failed(maybeConfig))
    return signalPassFailure();
  CpuConfigAttr config = *maybeConfig;
  IRRewriter rewriter(&getContext());
  if (failed(tileAndFuseKernel(rewriter, function, config)))
    return signalPassFailure();

  // Drop what fusion left dead and fold the tile arithmetic.
  RewritePatternSet patterns =
      linalg::getLinalgTilingCanonicalizationPatterns(&getContext());
  scf::ForallOp::getCanonicalizationPatterns(patterns, &getContext());
  tensor::populateFoldTensorEmptyPatterns(patterns);
  if (failed(applyPatternsGreedily(function, std::move(patterns))))
    signalPassFailure();
}
