//===- EmitRow.cpp - CUDA for softmax and norm kernels ---------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// One block per row of the kernel's softmax, rms_norm or layer_norm: the
// block's threads stride the row, reduce its statistics within warps by
// shuffles and across warps through shared memory, then write every result
// element that comes from this row (its producers fused into the loads, its
// consumers, slices included, into the stores).
//
//===----------------------------------------------------------------------===//

#include "codegen/CUDA/CudaSource.h"
#include "codegen/CUDA/Generators.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace kiln;
using namespace kiln::codegen;

Operation *kiln::codegen::getRowOp(func::FuncOp kernel) {
  Operation *row = nullptr;
  kernel.walk([&](Operation *op) {
    if (isa<SoftmaxOp, RmsNormOp, LayerNormOp>(op))
      row = op;
  });
  return row;
}

FailureOr<std::string> kiln::codegen::emitRow(func::FuncOp kernel,
                                              CudaConfigAttr config) {
  Operation *op = getRowOp(kernel);
  ArrayRef<int64_t> shape = getTensorType(op->getResult(0)).getShape();
  int64_t width = shape.back(), warps = config.getWarps();
  int64_t threads = getThreads(config);
  std::string source;
  llvm::raw_string_ostream os(source);
  os << getSignature(kernel, threads);
  os << llvm::formatv("  // Row blockIdx.x of {0} rows of {1}, strided by {2} "
                      "threads.\n",
                      ShapedType::getNumElements(shape) / width, width,
                      threads);
  os << llvm::formatv("  __shared__ float partials[{0}];\n", warps);
  PointwiseEmitter emitter(os, "  ");
  Coords outer =
      emitDelinearize(emitter, "(int64_t)blockIdx.x", shape.drop_back(), "c");
  auto loop = [&](const std::string &j) {
    return llvm::formatv("for (int64_t {0} = threadIdx.x; {0} < {1}; {0} += "
                         "{2}) {{",
                         j, width, threads)
        .str();
  };
  RowStatistics statistics = emitRowStatistics(
      emitter, op, outer, loop, [&](const std::string &partial, bool isMax) {
        return llvm::formatv("kiln_block_reduce<{0}, {1}>({2}, partials)",
                             warps, isMax ? "true" : "false", partial)
            .str();
      });
  emitter.setSource(op->getResult(0), getNormalizedSource(op, statistics));
  std::string j = emitter.fresh("j");
  emitter.open(loop(j));
  Coords coords(outer);
  coords.push_back(j);
  if (failed(emitResultStores(emitter, kernel, op->getResult(0), coords)))
    return failure();
  emitter.close();
  os << "}\n";
  return source;
}

CudaLaunch kiln::codegen::getRowLaunch(func::FuncOp kernel,
                                       CudaConfigAttr config) {
  ArrayRef<int64_t> shape =
      getTensorType(getRowOp(kernel)->getResult(0)).getShape();
  CudaLaunch launch;
  launch.blockX = getThreads(config);
  launch.gridX = ShapedType::getNumElements(shape) / shape.back();
  return launch;
}

/// About 8 elements per thread in each pass, 1 to 8 warps.
CudaConfigAttr kiln::codegen::getDefaultRowConfig(func::FuncOp kernel) {
  int64_t width =
      getTensorType(getRowOp(kernel)->getResult(0)).getShape().back();
  int64_t warps = std::clamp<int64_t>(
      llvm::PowerOf2Ceil(llvm::divideCeil(width, 256)), 1, 8);
  return CudaConfigAttr::get(kernel.getContext(), 1, llvm::PowerOf2Ceil(width),
                             1, warps, 1);
}
