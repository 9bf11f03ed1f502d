// SPDX-License-Identifier: Apache-2.0
//
// The ceiling of an f32 matmul on this CPU: the register-tile micro kernel
// of Kiln's matmul (rows x 16*vectors accumulators, one rhs row of vectors
// and one broadcast lhs element per k step) with both operands resident in
// L1, against independent FMA chains with register operands only (the FMA
// peak of `kiln bench`), in the same run. A whole matmul also packs, moves
// its blocks through the caches and reads and writes its result, so it can
// only stay below this kernel's rate.
//
//   cc -O3 -march=native bench/ceiling/register_tile.c -o /tmp/register_tile
//   /tmp/register_tile
//
// AVX-512 only (the machine these figures are for); prints why and exits 1
// elsewhere.

#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { kDepth = 256, kRepeats = 7 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/// rows x (16 * VECTORS) accumulators over kDepth steps of a packed lhs
/// panel [kDepth][rows] and a packed rhs panel [kDepth][16 * VECTORS].
#define DEFINE_TILE(ROWS, VECTORS)                                             \
  __attribute__((noinline)) static void tile_##ROWS##x##VECTORS(               \
      const float *lhs, const float *rhs, float *out) {                        \
    __m512 acc[ROWS][VECTORS];                                                 \
    for (int i = 0; i < ROWS; ++i)                                             \
      for (int j = 0; j < VECTORS; ++j)                                        \
        acc[i][j] = _mm512_loadu_ps(out + (i * VECTORS + j) * 16);             \
    for (int k = 0; k < kDepth; ++k) {                                         \
      __m512 row[VECTORS];                                                     \
      for (int j = 0; j < VECTORS; ++j)                                        \
        row[j] = _mm512_loadu_ps(rhs + (k * VECTORS + j) * 16);                \
      for (int i = 0; i < ROWS; ++i) {                                         \
        __m512 a = _mm512_set1_ps(lhs[k * ROWS + i]);                          \
        for (int j = 0; j < VECTORS; ++j)                                      \
          acc[i][j] = _mm512_fmadd_ps(a, row[j], acc[i][j]);                   \
      }                                                                        \
    }                                                                          \
    for (int i = 0; i < ROWS; ++i)                                             \
      for (int j = 0; j < VECTORS; ++j)                                        \
        _mm512_storeu_ps(out + (i * VECTORS + j) * 16, acc[i][j]);             \
  }

DEFINE_TILE(8, 2)
DEFINE_TILE(6, 4)
DEFINE_TILE(14, 2)

typedef void (*TileFn)(const float *, const float *, float *);

/// The best GFLOP/s of `tile` over kRepeats runs of about 0.2 s each.
static double measureTile(TileFn tile, int rows, int vectors) {
  float *lhs = aligned_alloc(64, sizeof(float) * kDepth * 16);
  float *rhs = aligned_alloc(64, sizeof(float) * kDepth * 64);
  float *out = aligned_alloc(64, sizeof(float) * 16 * 64);
  for (int i = 0; i < kDepth * 16; ++i)
    lhs[i] = 1e-3f;
  for (int i = 0; i < kDepth * 64; ++i)
    rhs[i] = 1e-3f;
  for (int i = 0; i < 16 * 64; ++i)
    out[i] = 0;
  double flops = 2.0 * rows * 16 * vectors * kDepth;
  int64_t calls = (int64_t)(4e10 / flops);
  double best = 1e30;
  for (int r = 0; r < kRepeats; ++r) {
    double start = now();
    for (int64_t c = 0; c < calls; ++c)
      tile(lhs, rhs, out);
    double seconds = now() - start;
    if (seconds < best)
      best = seconds;
  }
  if (out[0] < 0)
    printf("unreachable\n");
  free(lhs);
  free(rhs);
  free(out);
  return flops * (double)calls / best * 1e-9;
}

/// The best GFLOP/s of 16 independent FMA chains on registers.
__attribute__((noinline)) static double measureFmaPeak(void) {
  enum { kChains = 16 };
  const int64_t iterations = 100000000;
  double best = 1e30;
  float sink = 0;
  for (int r = 0; r < kRepeats; ++r) {
    __m512 acc[kChains];
    for (int j = 0; j < kChains; ++j)
      acc[j] = _mm512_set1_ps((float)j);
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-3f);
    double start = now();
    for (int64_t i = 0; i < iterations; ++i)
      for (int j = 0; j < kChains; ++j)
        acc[j] = _mm512_fmadd_ps(acc[j], x, y);
    double seconds = now() - start;
    for (int j = 0; j < kChains; ++j)
      sink += _mm512_reduce_add_ps(acc[j]);
    if (seconds < best)
      best = seconds;
  }
  if (sink == 42)
    printf("unreachable\n");
  return 2.0 * 16 * kChains * (double)iterations / best * 1e-9;
}

int main(void) {
  if (!__builtin_cpu_supports("avx512f")) {
    fprintf(stderr, "register_tile: this CPU has no AVX-512\n");
    return 1;
  }
  double peak = measureFmaPeak();
  printf("FMA peak (register operands): %.1f GFLOP/s\n", peak);
  struct {
    TileFn fn;
    int rows, vectors;
  } tiles[] = {{tile_8x2, 8, 2}, {tile_6x4, 6, 4}, {tile_14x2, 14, 2}};
  for (unsigned t = 0; t < sizeof(tiles) / sizeof(tiles[0]); ++t) {
    double rate = measureTile(tiles[t].fn, tiles[t].rows, tiles[t].vectors);
    printf("register tile %2d x %d, operands in L1: %.1f GFLOP/s, %.0f%% of "
           "the FMA peak\n",
           tiles[t].rows, 16 * tiles[t].vectors, rate, 100 * rate / peak);
  }
  return 0;
}
