//===- KernelAbi.h - The C ABI of compiled CPU kernels ------------*- C -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Every CPU kernel the compiler emits is an exported C function of type
// KilnKernelFn in the artifact's "code" shared object; the manifest names it
// by symbol and lists its arguments. The header is C (C99 and C++) so that
// kernels written or generated in C, like the test kernels, include it too.
//
// Alignment: intermediate buffers, which live in the arena, are 64-byte
// aligned; inputs, outputs and weights are at least 16-byte aligned. The
// pointer for a zero-byte buffer may be null.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_KERNELABI_H_
#define KILN_RUNTIME_KERNELABI_H_

#include <stdint.h>

/// The version of this calling convention, bumped on any change to it.
#define KILN_KERNEL_ABI_VERSION 1

/// Exports a kernel definition from its shared object whatever the default
/// symbol visibility of the build.
#define KILN_KERNEL_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

/// buffers: one pointer per kernel argument in manifest order (inputs, then
/// outputs); the kernel computes tiles [tileBegin, tileEnd) of its tile space.
/// Kernels are reentrant: disjoint tile ranges may run concurrently.
typedef void (*KilnKernelFn)(void *const *buffers, int64_t tileBegin,
                             int64_t tileEnd);

#ifdef __cplusplus
} // extern "C"
#endif

#endif // KILN_RUNTIME_KERNELABI_H_
