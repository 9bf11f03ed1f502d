//===- Cost.h - Arithmetic cost of kiln ops --------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_COST_H_
#define KILN_IR_COST_H_

#include <cstdint>

namespace mlir {
class Operation;
class Type;
} // namespace mlir

namespace kiln {

/// Floating-point operations `op` performs, counting a multiply-add as two
/// and one per element for elementwise functions. Data movement is free.
int64_t countFlops(mlir::Operation *op);

/// Bytes a value of `type` occupies: the element count times the element
/// size for a statically shaped tensor of a kiln element type, 0 otherwise.
int64_t countBytes(mlir::Type type);

/// Bytes `op` moves when it runs alone: every operand read once and every
/// result written once.
int64_t countBytes(mlir::Operation *op);

} // namespace kiln

#endif // KILN_IR_COST_H_
