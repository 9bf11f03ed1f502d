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
} // namespace mlir

namespace kiln {

/// Floating-point operations `op` performs, counting a multiply-add as two
/// and one per element for elementwise functions. Data movement is free.
int64_t countFlops(mlir::Operation *op);

} // namespace kiln

#endif // KILN_IR_COST_H_
