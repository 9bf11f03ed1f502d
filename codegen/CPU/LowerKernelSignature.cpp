//===- LowerKernelSignature.cpp - Kernel arguments as buffers ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Gives a kernel the signature of the runtime's kernel ABI while its body is
// still on tensors: one memref per input, then one per result. Each result is
// computed into its output buffer: the op that produces it takes the buffer
// (as a writable tensor) as its destination, so one-shot bufferization
// writes it in place, and the tile loop writes disjoint tiles of it.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"

#define DEBUG_TYPE "kiln-cpu-lower-kernel-signature"

namespace kiln::cpu {
#define GEN_PASS_DEF_LOWERKERNELSIGNATUREPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

/// The destination operand that `result` is ultimately computed into when
/// it is a tensor.empty: the destination of the op producing `result`, or of
/// the op producing that destination (a fill that a generic accumulates
/// into), as long as each link has no other use.
static OpOperand *findEmptyDestination(Value result) {
  auto opResult = dyn_cast<OpResult>(result);
  while (opResult) {
    auto dps = dyn_cast<DestinationStyleOpInterface>(opResult.getOwner());
    if (!dps || !dps.hasPureTensorSemantics())
      return nullptr;
    OpOperand *init = dps.getTiedOpOperand(opResult);
    if (init->get().getDefiningOp<tensor::EmptyOp>())
      return init;
    if (!init->get().hasOneUse())
      return nullptr;
    opResult = dyn_cast<OpResult>(init->get());
  }
  return nullptr;
}

LogicalResult kiln::cpu::lowerKernelSignature(RewriterBase &rewriter,
                                              func::FuncOp kernel) {
  FunctionType type = kernel.getFunctionType();
  if (type.getNumResults() == 0 &&
      llvm::all_of(type.getInputs(), llvm::IsaPred<MemRefType>))
    return success();
  if (!kernel.getBody().hasOneBlock())
    return kernel.emitError("expected a kernel body of one block");

  // 1. The buffer types: inputs, then results.
  SmallVector<Type> bufferTypes;
  SmallVector<Type> tensorTypes(type.getInputs());
  llvm::append_range(tensorTypes, type.getResults());
  for (Type tensorType : tensorTypes) {
    auto ranked = dyn_cast<RankedTensorType>(tensorType);
    if (!ranked || !ranked.hasStaticShape())
      return kernel.emitError("expected statically shaped tensor arguments "
                              "and results (got ")
             << tensorType << ")";
    bufferTypes.push_back(
        MemRefType::get(ranked.getShape(), ranked.getElementType()));
  }

  // 2. New block arguments; each input enters as a restrict tensor.
  Block &entry = kernel.front();
  Location loc = kernel.getLoc();
  unsigned numInputs = type.getNumInputs();
  SmallVector<Value> buffers;
  for (Type bufferType : bufferTypes)
    buffers.push_back(entry.addArgument(bufferType, loc));
  rewriter.setInsertionPointToStart(&entry);
  for (unsigned i = 0; i < numInputs; ++i) {
    Value tensor = bufferization::ToTensorOp::create(
        rewriter, loc, type.getInput(i), buffers[i], /*restrict=*/true,
        /*writable=*/false);
    rewriter.replaceAllUsesWith(entry.getArgument(i), tensor);
  }

  // 3. Each result is computed into its writable output buffer and
  //    materialized there; an op that produces it in a tensor.empty gets the
  //    buffer as destination instead.
  auto returnOp = cast<func::ReturnOp>(entry.getTerminator());
  SmallVector<Value> outputs;
  for (unsigned i = 0; i < type.getNumResults(); ++i)
    outputs.push_back(bufferization::ToTensorOp::create(
        rewriter, loc, type.getResult(i), buffers[numInputs + i],
        /*restrict=*/true, /*writable=*/true));
  SmallVector<Value> results(returnOp.getOperands());
  for (auto [i, result] : llvm::enumerate(results))
    if (OpOperand *destination = findEmptyDestination(result))
      rewriter.modifyOpInPlace(destination->getOwner(),
                               [&] { destination->set(outputs[i]); });
  rewriter.setInsertionPoint(returnOp);
  for (auto [i, result] : llvm::enumerate(results)) {
    bufferization::MaterializeInDestinationOp::create(
        rewriter, returnOp.getLoc(), TypeRange(), result,
        buffers[numInputs + i], /*restrict=*/true, /*writable=*/true);
  }
  rewriter.replaceOpWithNewOp<func::ReturnOp>(returnOp);

  // 4. Drop the tensor arguments and retype the function.
  entry.eraseArguments(0, numInputs);
  kernel.setFunctionType(rewriter.getFunctionType(bufferTypes, {}));
  kernel.removeArgAttrsAttr();
  kernel.removeResAttrsAttr();
  return success();
}

namespace {

struct LowerKernelSignaturePass
    : kiln::cpu::impl::LowerKernelSignaturePassBase<LowerKernelSignaturePass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void LowerKernelSignaturePass::runOnOperation() {
  func::FuncOp function = getOperation();
  if (!isKernel(function))
    return;
  IRRewriter rewriter(&getContext());
  if (failed(lowerKernelSignature(rewriter, function)))
    signalPassFailure();
}
