//===- TestKernels.h - Kernels with the compiled-kernel ABI -------*- C -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The shapes of the test kernels in TestKernels.c, which the executor tests
// load from an artifact's code section as a compiled model's kernels. Every
// kernel works on f32 row-major matrices and takes one row per tile.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_UNIT_RUNTIME_TESTKERNELS_H_
#define KILN_TEST_UNIT_RUNTIME_TESTKERNELS_H_

/// Rows of every matrix: the tile count. Prime, so no thread count divides
/// it evenly.
#define KILN_TEST_ROWS 37
/// Columns of the elementwise operands and of the matmul's left operand.
#define KILN_TEST_COLS 16
/// Columns of the matmul's right operand and result.
#define KILN_TEST_OUT_COLS 5

#endif // KILN_TEST_UNIT_RUNTIME_TESTKERNELS_H_
