// SPDX-License-Identifier: Apache-2.0
//
// Times matmul variants of bench/structure/paired.py against each other in
// one process. A run is a variant called with some of its operands cold:
// before the call, those named by the run's mask (1: lhs, 2: rhs, 4:
// result) are flushed from the caches, and with 8 a 64 MiB scratch buffer
// is written, as a kernel run before it would, so that nothing else (the
// variant's own temporaries, oneDNN's pack buffers) is left in any cache.
// Each repeat makes every run once (each variant under each mask), in an
// order rotated by one per repeat, so that the drift of a shared machine
// falls on all of them alike, and each run's time is compared with the
// first run's of the same repeat. A Kiln variant VARIANT_i (a lowered
// kernel's C entry point, renamed) runs on the OpenMP threads, each
// calling it on an even share of its tile range, as Kiln's runtime splits
// a kernel's tiles. With ONEDNN defined, the last variant is oneDNN's
// sgemm on the same threads.
//
// Every variant's result is checked once against a double-precision dot
// product (16 elements); the driver exits 1 when one is off by more than
// 1e-4 relative to the dot product of absolute values.
//
//   paired_driver M K N THREADS REPEATS MASKS TILES_0 ... TILES_{n-1}
//     MASKS: the cold masks, comma-separated ("0,2")
//     -> one line per run, variants outer: "<variant> <mask> <median
//        seconds> <median ratio to the first run> <first quartile ratio>
//        <third quartile ratio>"

#include <emmintrin.h>
#include <omp.h>
#include <string.h>

#include "matmul_driver.h"

#ifdef ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

#define DECLARE(i) void VARIANT_##i(void **buffers, long begin, long end);
KILN_VARIANTS(DECLARE)
#define ENTRY(i) VARIANT_##i,
typedef void (*Kernel)(void **, long, long);
static const Kernel kKernels[] = {KILN_VARIANTS(ENTRY)};
enum { kNumKiln = sizeof(kKernels) / sizeof(kKernels[0]) };
#ifdef ONEDNN
enum { kNumVariants = kNumKiln + 1 };
#else
enum { kNumVariants = kNumKiln };
#endif

static long m, k, n;
static long tiles[kNumVariants];

static void flush(const void *data, long bytes) {
  for (const char *line = data; line < (const char *)data + bytes; line += 64)
    _mm_clflush(line);
  _mm_mfence();
}

static void callVariant(int variant, void **buffers) {
#ifdef ONEDNN
  if (variant == kNumKiln) {
    dnnl_sgemm('N', 'N', m, n, k, 1.f, buffers[0], k, buffers[1], n, 0.f,
               buffers[2], n);
    return;
  }
#endif
  Kernel kernel = kKernels[variant];
  long count = tiles[variant];
#pragma omp parallel
  {
    long thread = omp_get_thread_num(), threads = omp_get_num_threads();
    long begin = count * thread / threads, end = count * (thread + 1) / threads;
    if (begin < end)
      kernel(buffers, begin, end);
  }
}

static int compareDoubles(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

/// The q-quantile of `values` (sorted in place).
static double quantile(double *values, long count, double q) {
  qsort(values, count, sizeof(double), compareDoubles);
  return values[(long)(q * (count - 1) + 0.5)];
}

int main(int argc, char **argv) {
  if (argc != 7 + kNumVariants) {
    fprintf(stderr,
            "usage: %s M K N THREADS REPEATS MASKS TILES... (%d)\n",
            argv[0], kNumVariants);
    return 2;
  }
  m = atol(argv[1]), k = atol(argv[2]), n = atol(argv[3]);
  int threads = atoi(argv[4]);
  long repeats = atol(argv[5]);
  int masks[8], numMasks = 0;
  for (char *mask = strtok(argv[6], ","); mask && numMasks < 8;
       mask = strtok(NULL, ","))
    masks[numMasks++] = atoi(mask);
  if (numMasks == 0) {
    fprintf(stderr, "no cold masks in '%s'\n", argv[6]);
    return 2;
  }
  for (int v = 0; v < kNumVariants; ++v)
    tiles[v] = atol(argv[7 + v]);
  // oneDNN's OpenMP build takes its threads from the same setting.
  omp_set_num_threads(threads);
  float *a, *b, *c;
  makeMatmulBuffers(m, k, n, &a, &b, &c);
  void *buffers[3] = {a, b, c};

  // Each variant checked, and warmed up, before any is timed.
  for (int v = 0; v < kNumVariants; ++v) {
    callVariant(v, buffers);
    if (!checkSamples(a, b, c, m, k, n)) {
      fprintf(stderr, "variant %d computes a wrong result\n", v);
      return 1;
    }
    callVariant(v, buffers);
  }

  // Run i is variant i / numMasks under mask i % numMasks.
  int numRuns = kNumVariants * numMasks;
  double *seconds = malloc(sizeof(double) * numRuns * repeats);
  enum { kScratchBytes = 64 << 20 };
  char *scratch = malloc(kScratchBytes);
  for (long r = 0; r < repeats; ++r)
    for (int i = 0; i < numRuns; ++i) {
      int run = (int)((i + r) % numRuns), cold = masks[run % numMasks];
      if (cold & 1)
        flush(a, m * k * sizeof(float));
      if (cold & 2)
        flush(b, k * n * sizeof(float));
      if (cold & 4)
        flush(c, m * n * sizeof(float));
      if (cold & 8)
        memset(scratch, (int)r, kScratchBytes);
      double start = now();
      callVariant(run / numMasks, buffers);
      seconds[run * repeats + r] = now() - start;
    }

  double *times = malloc(sizeof(double) * repeats);
  double *ratios = malloc(sizeof(double) * repeats);
  for (int run = 0; run < numRuns; ++run) {
    for (long r = 0; r < repeats; ++r) {
      times[r] = seconds[run * repeats + r];
      ratios[r] = times[r] / seconds[r];
    }
    double median = quantile(times, repeats, 0.5);
    printf("%d %d %.9f %.4f %.4f %.4f\n", run / numMasks,
           masks[run % numMasks], median, quantile(ratios, repeats, 0.5),
           quantile(ratios, repeats, 0.25), quantile(ratios, repeats, 0.75));
  }
  return 0;
}
