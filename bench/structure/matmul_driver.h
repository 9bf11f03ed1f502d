// SPDX-License-Identifier: Apache-2.0
//
// What the matmul drivers of bench/structure share: a monotonic clock, the
// inputs every variant multiplies, and the check of a result against
// double-precision dot products.

#ifndef KILN_BENCH_STRUCTURE_MATMUL_DRIVER_H
#define KILN_BENCH_STRUCTURE_MATMUL_DRIVER_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/// The lhs (m x k), rhs (k x n) and result (m x n), row-major and 64-byte
/// aligned, the inputs filled with small values of both signs.
static void makeMatmulBuffers(long m, long k, long n, float **a, float **b,
                              float **c) {
  *a = aligned_alloc(64, m * k * sizeof(float));
  *b = aligned_alloc(64, k * n * sizeof(float));
  *c = aligned_alloc(64, m * n * sizeof(float));
  for (long i = 0; i < m * k; ++i)
    (*a)[i] = (float)((i * 7) % 13) / 13.f - 0.5f;
  for (long i = 0; i < k * n; ++i)
    (*b)[i] = (float)((i * 5) % 11) / 11.f - 0.5f;
}

/// Whether 16 elements of `c` match their dot products within 1e-4 of the
/// dot product of absolute values; prints the first that does not.
static int checkSamples(const float *a, const float *b, const float *c, long m,
                        long k, long n) {
  for (long sample = 0; sample < 16; ++sample) {
    long i = (sample * 131) % m, j = (sample * 71) % n;
    double dot = 0, magnitude = 0;
    for (long l = 0; l < k; ++l) {
      dot += (double)a[i * k + l] * b[l * n + j];
      magnitude += fabs((double)a[i * k + l] * b[l * n + j]);
    }
    if (fabs(dot - c[i * n + j]) > 1e-4 * magnitude) {
      fprintf(stderr, "wrong result at [%ld, %ld]: %g, expected %g\n", i, j,
              c[i * n + j], dot);
      return 0;
    }
  }
  return 1;
}

#endif // KILN_BENCH_STRUCTURE_MATMUL_DRIVER_H
