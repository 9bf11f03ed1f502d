//===- ElementTypes.h - Host element types of MLIR types -------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The one mapping between the element types the kiln dialect allows and the
// runtime's host element types.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_ELEMENTTYPES_H_
#define KILN_IR_ELEMENTTYPES_H_

#include "runtime/HostTensor.h"

#include "mlir/IR/Types.h"
#include "mlir/Support/LLVM.h"

namespace kiln {

/// The host element type of an MLIR element type, or failure for a type the
/// dialect does not allow.
mlir::FailureOr<ElementType> toElementType(mlir::Type type);

/// The MLIR element type of a host element type.
mlir::Type toMlirType(mlir::MLIRContext *context, ElementType type);

} // namespace kiln

#endif // KILN_IR_ELEMENTTYPES_H_
