//===- TestKernels.c - Kernels with the compiled-kernel ABI -------*- C -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Hand-written stand-ins for compiled kernels: each exports the KilnKernelFn
// signature and computes rows [tileBegin, tileEnd) of its result. The
// accumulating kernel is deliberately not idempotent, so a tile that ran
// twice shows in the result.
//
//===----------------------------------------------------------------------===//

#include "test/unit/runtime/TestKernels.h"
#include "runtime/KernelAbi.h"

/// out = a + b; buffers: a, b, out (ROWS x COLS).
KILN_KERNEL_EXPORT void kiln_test_add(void *const *buffers, int64_t tileBegin,
                                      int64_t tileEnd) {
  const float *a = (const float *)buffers[0];
  const float *b = (const float *)buffers[1];
  float *out = (float *)buffers[2];
  for (int64_t i = tileBegin * KILN_TEST_COLS; i < tileEnd * KILN_TEST_COLS;
       ++i)
    out[i] = a[i] + b[i];
}

/// acc += a; buffers: a, acc (ROWS x COLS).
KILN_KERNEL_EXPORT void
kiln_test_accumulate(void *const *buffers, int64_t tileBegin, int64_t tileEnd) {
  const float *a = (const float *)buffers[0];
  float *acc = (float *)buffers[1];
  for (int64_t i = tileBegin * KILN_TEST_COLS; i < tileEnd * KILN_TEST_COLS;
       ++i)
    acc[i] += a[i];
}

/// out = a * w; buffers: a (ROWS x COLS), w (COLS x OUT_COLS),
/// out (ROWS x OUT_COLS).
KILN_KERNEL_EXPORT void kiln_test_matmul(void *const *buffers,
                                         int64_t tileBegin, int64_t tileEnd) {
  const float *a = (const float *)buffers[0];
  const float *w = (const float *)buffers[1];
  float *out = (float *)buffers[2];
  for (int64_t row = tileBegin; row < tileEnd; ++row) {
    for (int64_t col = 0; col < KILN_TEST_OUT_COLS; ++col) {
      float sum = 0.0f;
      for (int64_t k = 0; k < KILN_TEST_COLS; ++k)
        sum += a[row * KILN_TEST_COLS + k] * w[k * KILN_TEST_OUT_COLS + col];
      out[row * KILN_TEST_OUT_COLS + col] = sum;
    }
  }
}
