//===- Target.cpp - The CPUs Kiln generates code for -----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "codegen/Common/Target.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#include <algorithm>
#include <vector>

using namespace llvm;

namespace kiln::codegen {

static int64_t widestVector(const CpuTarget &target, bool hasAvx) {
  if (target.hasAvx512)
    return 512;
  if (target.hasAvx2 || hasAvx)
    return 256;
  return 128;
}

std::string CpuTarget::getFingerprint() const {
  std::string isa = hasAvx512 ? "avx512" : hasAvx2 ? "avx2" : "sse";
  return Triple(triple).getArchName().str() + "/" + cpu + "/" + isa;
}

CpuTarget getHostCpuTarget() {
  CpuTarget target;
  target.name = "host";
  target.triple = Triple::normalize(sys::getProcessTriple());
  target.cpu = sys::getHostCPUName().str();
  StringMap<bool> features = sys::getHostCPUFeatures();
  auto has = [&](StringRef feature) {
    auto it = features.find(feature);
    return it != features.end() && it->second;
  };
  target.hasAvx2 = has("avx2");
  target.hasFma = has("fma");
  target.hasAvx512 =
      has("avx512f") && has("avx512bw") && has("avx512dq") && has("avx512vl");
  target.hasAvx512Bf16 = target.hasAvx512 && has("avx512bf16");
  target.hasF16c = has("f16c");
  target.vectorBits = widestVector(target, has("avx"));

  // Sorted, so that the same machine always gives the same string.
  std::vector<std::string> flags;
  for (const auto &entry : features)
    flags.push_back((entry.second ? "+" : "-") + entry.first().str());
  std::sort(flags.begin(), flags.end());
  for (const std::string &flag : flags) {
    if (!target.features.empty())
      target.features += ",";
    target.features += flag;
  }
  return target;
}

Expected<CpuTarget> getCpuTarget(StringRef name) {
  if (name == "host")
    return getHostCpuTarget();
  StringRef cpu = StringSwitch<StringRef>(name)
                      .Cases({"x86-64-v4", "avx512"}, "x86-64-v4")
                      .Cases({"x86-64-v3", "avx2"}, "x86-64-v3")
                      .Case("x86-64-v2", "x86-64-v2")
                      .Case("x86-64", "x86-64")
                      .Default("");
  if (cpu.empty())
    return createStringError(
        "unknown CPU target '" + name +
        "' (expected host, x86-64, x86-64-v2, x86-64-v3 or avx2, "
        "x86-64-v4 or avx512)");
  CpuTarget target;
  target.name = name.str();
  target.triple = Triple::normalize("x86_64-unknown-linux-gnu");
  target.cpu = cpu.str();
  bool v3 = cpu == "x86-64-v3" || cpu == "x86-64-v4";
  target.hasAvx2 = v3;
  target.hasFma = v3;
  target.hasF16c = v3;
  target.hasAvx512 = cpu == "x86-64-v4";
  target.vectorBits = widestVector(target, /*hasAvx=*/v3);
  return target;
}

} // namespace kiln::codegen
