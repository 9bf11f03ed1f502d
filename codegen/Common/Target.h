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

/// The machine kernels are measured on, as far as it decides which config
/// is fastest: the same code runs at different speeds on CPUs of one ISA
/// with different caches or core counts.
struct HostMachine {
  /// The CPU's marketing name ("model name" of /proc/cpuinfo), or "unknown".
  std::string modelName = "unknown";
  /// Logical CPUs available to this process.
  int64_t logicalCpus = 1;
  /// Data cache sizes in bytes per level (L1d, L2, L3); 0 where unknown.
  int64_t l1dBytes = 0, l2Bytes = 0, l3Bytes = 0;
};

/// This machine, from /proc/cpuinfo and /sys/devices/system/cpu.
HostMachine getHostMachine();

/// The key of tunings measured on `machine` for code generated for
/// `target`: the target's fingerprint, a hash of its feature string, the
/// CPU model, logical CPUs and cache sizes, e.g.
/// "x86_64/sapphirerapids/avx512 f=1a2b3c4d5e6f7a8b cpu=Intel(R) Xeon(R)
/// Processor cpus=2 l1d=48K l2=2048K l3=491520K". Stable: the same inputs
/// always give the same string.
std::string getTuningFingerprint(const CpuTarget &target,
                                 const HostMachine &machine);

} // namespace kiln::codegen

#endif // KILN_CODEGEN_COMMON_TARGET_H_
