//===- EmitKernelEntry.cpp - The C entry point of each kernel ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Defines, for each lowered kernel @k(ptr x N, i64 begin, i64 end), the
// exported function of runtime/KernelAbi.h:
//
//   void k(void *const *buffers, int64_t tileBegin, int64_t tileEnd);
//
// which loads the N buffer pointers and calls the kernel, renamed to the
// internal @"k.body" (LLVM inlines it).
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"

#define DEBUG_TYPE "kiln-cpu-emit-kernel-entry"

namespace kiln::cpu {
#define GEN_PASS_DEF_EMITKERNELENTRYPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

/// Defines the entry of `body` and renames `body`.
static LogicalResult emitEntry(OpBuilder &builder, LLVM::LLVMFuncOp body) {
  MLIRContext *context = builder.getContext();
  Location loc = body.getLoc();
  auto i64 = IntegerType::get(context, 64);
  auto ptr = LLVM::LLVMPointerType::get(context);

  // 1. The body takes N pointers and the tile range.
  LLVM::LLVMFunctionType bodyType = body.getFunctionType();
  ArrayRef<Type> params = bodyType.getParams();
  unsigned numBuffers = params.size() >= 2 ? params.size() - 2 : 0;
  if (params.size() < 2 ||
      params.drop_front(numBuffers) != ArrayRef<Type>{i64, i64} ||
      !llvm::all_of(params.take_front(numBuffers),
                    [&](Type type) { return type == ptr; }) ||
      !isa<LLVM::LLVMVoidType>(bodyType.getReturnType()))
    return body.emitError("expected a lowered kernel taking buffer pointers "
                          "and an i64 tile range (got ")
           << bodyType << ")";

  // 2. Rename the body; the entry takes its name and attributes.
  std::string name = body.getSymName().str();
  body.setSymName(name + ".body");
  body.setLinkage(LLVM::Linkage::Internal);
  builder.setInsertionPointAfter(body);
  auto entryType = LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(context),
                                               {ptr, i64, i64});
  auto entry = LLVM::LLVMFuncOp::create(builder, loc, name, entryType);
  auto tileCount = body->getAttrOfType<IntegerAttr>(kTileCountAttrName);
  entry->setAttr(kTileCountAttrName,
                 tileCount ? tileCount : builder.getI64IntegerAttr(1));
  entry->setAttr(kNumBuffersAttrName, builder.getI64IntegerAttr(numBuffers));
  entry->setAttr(kKernelAttrName, builder.getUnitAttr());
  body->removeAttr(kKernelAttrName);

  // 3. buffers[i] for each i, then the call.
  Block *block = entry.addEntryBlock(builder);
  builder.setInsertionPointToStart(block);
  Value buffers = block->getArgument(0);
  SmallVector<Value> args;
  for (unsigned i = 0; i < numBuffers; ++i) {
    Value address =
        LLVM::GEPOp::create(builder, loc, ptr, ptr, buffers,
                            ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(i)},
                            LLVM::GEPNoWrapFlags::inbounds);
    args.push_back(LLVM::LoadOp::create(builder, loc, ptr, address));
  }
  args.push_back(block->getArgument(1));
  args.push_back(block->getArgument(2));
  LLVM::CallOp::create(builder, loc, body, args);
  LLVM::ReturnOp::create(builder, loc, ValueRange());
  return success();
}

namespace {

struct EmitKernelEntryPass
    : kiln::cpu::impl::EmitKernelEntryPassBase<EmitKernelEntryPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void EmitKernelEntryPass::runOnOperation() {
  SmallVector<LLVM::LLVMFuncOp> kernels;
  for (auto function : getOperation().getOps<LLVM::LLVMFuncOp>())
    if (function->hasAttr(kKernelAttrName) &&
        !function->hasAttr(kNumBuffersAttrName) && !function.isExternal())
      kernels.push_back(function);
  OpBuilder builder(&getContext());
  for (LLVM::LLVMFuncOp kernel : kernels)
    if (failed(emitEntry(builder, kernel)))
      return signalPassFailure();
}
