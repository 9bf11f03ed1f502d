// SPDX-License-Identifier: Apache-2.0
//
// Times one lowered matmul kernel of bench/structure/matmul_structure.py on
// one thread: the kernel's C entry point (KERNEL, set at compile time) runs
// over all its tiles, best of `repeats`. Unless told not to (the ablations,
// which compute wrong results on purpose), it checks 16 result elements
// against a double-precision dot product and exits 1 when one is off by
// more than 1e-4 relative to the dot product of absolute values.
//
//   driver M K N TILES REPEATS CHECK  ->  "<best seconds>"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void KERNEL(void **buffers, long begin, long end);

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

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

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s M K N TILES REPEATS CHECK\n", argv[0]);
    return 2;
  }
  long m = atol(argv[1]), k = atol(argv[2]), n = atol(argv[3]);
  long tiles = atol(argv[4]), repeats = atol(argv[5]);
  int check = atoi(argv[6]);
  float *a = aligned_alloc(64, m * k * sizeof(float));
  float *b = aligned_alloc(64, k * n * sizeof(float));
  float *c = aligned_alloc(64, m * n * sizeof(float));
  for (long i = 0; i < m * k; ++i)
    a[i] = (float)((i * 7) % 13) / 13.f - 0.5f;
  for (long i = 0; i < k * n; ++i)
    b[i] = (float)((i * 5) % 11) / 11.f - 0.5f;
  void *buffers[3] = {a, b, c};
  double best = 1e30;
  for (long r = 0; r < repeats; ++r) {
    double start = now();
    KERNEL(buffers, 0, tiles);
    double seconds = now() - start;
    if (seconds < best)
      best = seconds;
  }
  if (check && !checkSamples(a, b, c, m, k, n))
    return 1;
  printf("%.6f\n", best);
  return 0;
}
