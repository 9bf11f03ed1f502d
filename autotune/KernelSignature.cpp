//===- KernelSignature.cpp - A kernel's tuning identity --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/KernelSignature.h"

#include "ir/KilnDialect.h"
#include "passes/Fusion/KernelGroups.h"

#include "mlir/IR/OperationSupport.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/SHA256.h"

using namespace mlir;

namespace kiln::autotune {

std::string getCanonicalKernelText(func::FuncOp kernel) {
  // 1. A copy with a fixed name and without the attributes that do not
  //    change the code.
  OwningOpRef<func::FuncOp> copy = kernel.clone();
  copy->setSymName("kernel");
  copy->setSymVisibilityAttr(nullptr);
  (*copy)->removeAttr(CpuConfigAttr::kAttrName);
  (*copy)->removeAttr(graph::kFusionKindAttrName);
  // 2. Printed generically-stable: locations are not printed by default, and
  //    values are numbered in order, so the text depends on the code only.
  std::string text;
  llvm::raw_string_ostream os(text);
  copy->print(os, OpPrintingFlags().useLocalScope());
  return text;
}

std::string getKernelSignature(func::FuncOp kernel) {
  std::array<uint8_t, 32> digest = llvm::SHA256::hash(
      llvm::arrayRefFromStringRef(getCanonicalKernelText(kernel)));
  return llvm::toHex(ArrayRef<uint8_t>(digest).take_front(16),
                     /*LowerCase=*/true);
}

} // namespace kiln::autotune
