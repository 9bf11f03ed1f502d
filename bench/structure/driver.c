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

#include "matmul_driver.h"

void KERNEL(void **buffers, long begin, long end);

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s M K N TILES REPEATS CHECK\n", argv[0]);
    return 2;
  }
  long m = atol(argv[1]), k = atol(argv[2]), n = atol(argv[3]);
  long tiles = atol(argv[4]), repeats = atol(argv[5]);
  int check = atoi(argv[6]);
  float *a, *b, *c;
  makeMatmulBuffers(m, k, n, &a, &b, &c);
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
