//===- Target.h - The CPUs Kiln generates code for -------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A CpuTarget names an x86-64 CPU by what code generation needs: the LLVM
// triple, CPU name and feature string, and the vector features the kernel
// configs depend on. The host is detected from the running machine, never
// assumed; a named target overrides it (for cross compilation, for tests that
// pin a target, or to compare AVX2 code with AVX-512 code on one machine).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_COMMON_TARGET_H_
#define KILN_CODEGEN_COMMON_TARGET_H_

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace kiln::codegen {

/// An x86-64 CPU that the CPU backend generates code for.
struct CpuTarget {
  /// The name the target was asked for: "host", "x86-64-v3", ...
  std::string name;
  /// The LLVM target triple, e.g. "x86_64-unknown-linux-gnu".
  std::string triple;
  /// The LLVM CPU name, e.g. "sapphirerapids" or "x86-64-v3".
  std::string cpu;
  /// The LLVM feature string ("+avx2,+fma,-avx512f,..."); empty when the CPU
  /// name implies the features.
  std::string features;
  bool hasAvx2 = false;
  bool hasFma = false;
  /// AVX-512 F, BW, DQ and VL together, as x86-64-v4 defines them.
  bool hasAvx512 = false;
  bool hasAvx512Bf16 = false;
  bool hasF16c = false;
  /// The widest vector register, in bits: 512, 256 or 128.
  int64_t vectorBits = 128;

  /// f32 lanes of the widest vector register.
  int64_t getF32Lanes() const { return vectorBits / 32; }
  /// A short stable description for tuning-database keys and reports, e.g.
  /// "x86_64/sapphirerapids/avx512".
  std::string getFingerprint() const;
};

/// The CPU this process runs on, from llvm::sys::getHostCPUName and
/// getHostCPUFeatures.
CpuTarget getHostCpuTarget();

/// The target called `name`: "host", or an x86-64 micro-architecture level
/// "x86-64" (SSE2), "x86-64-v2", "x86-64-v3" (alias "avx2": AVX2 + FMA) or
/// "x86-64-v4" (alias "avx512"). Fails with a message listing the known
/// names.
llvm::Expected<CpuTarget> getCpuTarget(llvm::StringRef name);

} // namespace kiln::codegen

#endif // KILN_CODEGEN_COMMON_TARGET_H_
