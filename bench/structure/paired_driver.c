// SPDX-License-Identifier: Apache-2.0
//
// Times matmul variants of bench/structure/paired.py against each other in
// one process: each repeat calls every variant once, in an order rotated by
// one per repeat, so that the drift of a shared machine falls on all of them
// alike, and each variant's time is compared with the first variant's of the
// same repeat. A Kiln variant VARIANT_i (a lowered kernel's C entry point,
// renamed) runs on the OpenMP threads, each calling it on an even share of
// its tile range, as Kiln's runtime splits a kernel's tiles. With ONEDNN
// defined, the last variant is oneDNN's sgemm on the same threads.
//
// Before each call the inputs and result named by COLD_MASK (1: lhs, 2: rhs,
// 4: result) are flushed from the caches. Every variant's result is checked
// once against a double-precision dot product (16 elements); the driver
// exits 1 when one is off by more than 1e-4 relative to the dot product of
// absolute values.
//
//   paired_driver M K N THREADS REPEATS COLD_MASK TILES_0 ... TILES_{n-1}
//     -> one line per variant: "<index> <median seconds> <median ratio to
//        the first> <first quartile ratio> <third quartile ratio>"

#include <emmintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

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

static int isCorrect(const float *a, const float *b, const float *c) {
  for (long sample = 0; sample < 16; ++sample) {
    long i = (sample * 131) % m, j = (sample * 71) % n;
    double dot = 0, magnitude = 0;
    for (long l = 0; l < k; ++l) {
      dot += (double)a[i * k + l] * b[l * n + j];
      magnitude += fabs((double)a[i * k + l] * b[l * n + j]);
    }
    if (fabs(dot - c[i * n + j]) > 1e-4 * magnitude)
      return 0;
  }
  return 1;
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
            "usage: %s M K N THREADS REPEATS COLD_MASK TILES... (%d)\n",
            argv[0], kNumVariants);
    return 2;
  }
  m = atol(argv[1]), k = atol(argv[2]), n = atol(argv[3]);
  int threads = atoi(argv[4]);
  long repeats = atol(argv[5]);
  int cold = atoi(argv[6]);
  for (int v = 0; v < kNumVariants; ++v)
    tiles[v] = atol(argv[7 + v]);
  // oneDNN's OpenMP build takes its threads from the same setting.
  omp_set_num_threads(threads);
  float *a = aligned_alloc(64, m * k * sizeof(float));
  float *b = aligned_alloc(64, k * n * sizeof(float));
  float *c = aligned_alloc(64, m * n * sizeof(float));
  for (long i = 0; i < m * k; ++i)
    a[i] = (float)((i * 7) % 13) / 13.f - 0.5f;
  for (long i = 0; i < k * n; ++i)
    b[i] = (float)((i * 5) % 11) / 11.f - 0.5f;
  void *buffers[3] = {a, b, c};

  // Each variant checked, and warmed up, before any is timed.
  for (int v = 0; v < kNumVariants; ++v) {
    callVariant(v, buffers);
    if (!isCorrect(a, b, c)) {
      fprintf(stderr, "variant %d computes a wrong result\n", v);
      return 1;
    }
    callVariant(v, buffers);
  }

  double *seconds = malloc(sizeof(double) * kNumVariants * repeats);
  for (long r = 0; r < repeats; ++r)
    for (int i = 0; i < kNumVariants; ++i) {
      int v = (int)((i + r) % kNumVariants);
      if (cold & 1)
        flush(a, m * k * sizeof(float));
      if (cold & 2)
        flush(b, k * n * sizeof(float));
      if (cold & 4)
        flush(c, m * n * sizeof(float));
      double start = now();
      callVariant(v, buffers);
      seconds[v * repeats + r] = now() - start;
    }

  double *times = malloc(sizeof(double) * repeats);
  double *ratios = malloc(sizeof(double) * repeats);
  for (int v = 0; v < kNumVariants; ++v) {
    for (long r = 0; r < repeats; ++r) {
      times[r] = seconds[v * repeats + r];
      ratios[r] = times[r] / seconds[r];
    }
    double median = quantile(times, repeats, 0.5);
    printf("%d %.9f %.4f %.4f %.4f\n", v, median,
           quantile(ratios, repeats, 0.5), quantile(ratios, repeats, 0.25),
           quantile(ratios, repeats, 0.75));
  }
  return 0;
}
