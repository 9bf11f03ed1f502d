//===- LowerVectors.cpp - Vector, math and bf16 ops for LLVM ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Stages, each one greedy pattern application on the bufferized kernel:
//
//  1. masks: vector.mask around a transfer becomes the transfer's mask
//     operand;
//  2. leading unit dimensions dropped;
//  3. high-level vector ops: vector.contract to outer products to FMAs,
//     multi-reductions to 1-D reductions, transposes, broadcasts and shape
//     casts to 1-D ops, transfers with permutations to plain ones;
//  4. n-D transfers unrolled into 1-D loads and stores, n-D masks into 1-D
//     masks;
//  5. math: polynomial approximations that vectorize (exp, log, tanh, erf,
//     ...); bf16 extensions and truncations become integer bit operations.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"

#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#define DEBUG_TYPE "kiln-cpu-lower-vectors"

namespace kiln::cpu {
#define GEN_PASS_DEF_LOWERVECTORSPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

namespace {

struct LowerVectorsPass
    : kiln::cpu::impl::LowerVectorsPassBase<LowerVectorsPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void LowerVectorsPass::runOnOperation() {
  func::FuncOp function = getOperation();
  MLIRContext *context = &getContext();
  auto apply = [&](function_ref<void(RewritePatternSet &)> populate) {
    RewritePatternSet patterns(context);
    populate(patterns);
    // Not converging within the iteration limit leaves correct IR; what is
    // left unlowered fails the conversion to LLVM with an error.
    (void)applyPatternsGreedily(function, std::move(patterns));
  };

  // 1. Masks.
  apply([](RewritePatternSet &patterns) {
    vector::populateVectorMaskLoweringPatternsForSideEffectingOps(patterns);
    vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
  });

  // 2. Unit dimensions dropped, on their own: the broadcast lowering below
  //    reintroduces leading unit dimensions that these patterns would remove
  //    again, forever.
  apply([](RewritePatternSet &patterns) {
    vector::populateCastAwayVectorLeadingOneDimPatterns(patterns);
    vector::populateVectorTransferDropUnitDimsPatterns(patterns);
    vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
  });

  // 3. High-level vector ops.
  apply([](RewritePatternSet &patterns) {
    vector::populateVectorContractLoweringPatterns(
        patterns, vector::VectorContractLowering::OuterProduct);
    vector::populateVectorOuterProductLoweringPatterns(patterns);
    vector::populateVectorMultiReductionLoweringPatterns(
        patterns, vector::VectorMultiReductionLowering::InnerReduction);
    vector::populateVectorTransposeLoweringPatterns(
        patterns, vector::VectorTransposeLowering::EltWise);
    vector::populateVectorBroadcastLoweringPatterns(patterns);
    vector::populateVectorShapeCastLoweringPatterns(patterns);
    vector::populateVectorGatherLoweringPatterns(patterns);
    vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
  });

  // 4. n-D transfers unrolled into 1-D ones, then 1-D transfers to loads and
  //    stores and n-D masks to 1-D masks.
  VectorTransferToSCFOptions transferOptions;
  transferOptions.enableFullUnroll();
  apply([&](RewritePatternSet &patterns) {
    populateVectorToSCFConversionPatterns(patterns, transferOptions);
  });
  apply([](RewritePatternSet &patterns) {
    vector::populateVectorTransferLoweringPatterns(patterns,
                                                   /*maxTransferRank=*/1);
    vector::populateVectorMaskOpLoweringPatterns(patterns);
    vector::populateVectorShapeCastLoweringPatterns(patterns);
    vector::populateVectorBroadcastLoweringPatterns(patterns);
  });

  // 5. Math and bf16.
  apply([](RewritePatternSet &patterns) {
    populateMathPolynomialApproximationPatterns(patterns);
    arith::populateExpandBFloat16Patterns(patterns);
  });
}
