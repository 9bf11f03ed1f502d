//===- KilnDialect.h - The kiln dialect ------------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_KILNDIALECT_H_
#define KILN_IR_KILNDIALECT_H_

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "ir/KilnDialect.h.inc"
#include "ir/KilnEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "ir/KilnAttrs.h.inc"

namespace kiln {

/// Infers the numpy-broadcast result of an elementwise binary op.
llvm::LogicalResult
inferBroadcastResult(std::optional<mlir::Location> location,
                     llvm::StringRef opName, mlir::Type lhs, mlir::Type rhs,
                     llvm::SmallVectorImpl<mlir::Type> &results);

/// Infers the result of a reduction over `axes`.
llvm::LogicalResult
inferReductionResult(std::optional<mlir::Location> location,
                     llvm::StringRef opName, mlir::Type input,
                     llvm::ArrayRef<int64_t> axes, bool keepDims,
                     llvm::SmallVectorImpl<mlir::Type> &results);

/// Infers the result of a 2-D pooling op over `kernel` windows.
llvm::LogicalResult
inferPool2DResult(std::optional<mlir::Location> location,
                  llvm::StringRef opName, mlir::Type input,
                  llvm::ArrayRef<int64_t> kernel,
                  llvm::ArrayRef<int64_t> strides,
                  llvm::ArrayRef<int64_t> padding,
                  llvm::SmallVectorImpl<mlir::Type> &results);

/// The numpy broadcast of two shapes, or failure when they do not broadcast.
llvm::FailureOr<llvm::SmallVector<int64_t>>
broadcastShapes(llvm::ArrayRef<int64_t> lhs, llvm::ArrayRef<int64_t> rhs);

} // namespace kiln

#define GET_OP_CLASSES
#include "ir/KilnOps.h.inc"

#endif // KILN_IR_KILNDIALECT_H_
