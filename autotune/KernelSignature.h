//===- KernelSignature.h - A kernel's tuning identity ----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Two kernels that compile to the same code share their tunings, whatever
// the model, the kernel's name or its current config. The signature is a
// hash of the kernel function's IR as printed without what does not change
// the code: its symbol name and visibility, its config attribute, the fusion
// kind annotation and locations.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_KERNELSIGNATURE_H_
#define KILN_AUTOTUNE_KERNELSIGNATURE_H_

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <string>

namespace kiln::autotune {

/// The kernel's IR as hashed: printed from a copy without its name,
/// visibility, config, fusion kind and locations.
std::string getCanonicalKernelText(mlir::func::FuncOp kernel);

/// The signature of `kernel`: 32 hex digits of the SHA-256 of
/// getCanonicalKernelText. Stable across processes and machines.
std::string getKernelSignature(mlir::func::FuncOp kernel);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_KERNELSIGNATURE_H_
