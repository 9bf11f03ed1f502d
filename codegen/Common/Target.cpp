//===- Target.cpp - The CPUs Kiln generates code for -----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "codegen/Common/Target.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/xxhash.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#include <algorithm>
#include <thread>
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

/// The text of the small file at `path` without surrounding space; empty
/// when it cannot be read.
static std::string readSmallFile(const Twine &path) {
  // Files under /proc and /sys report size 0: read them as streams.
  auto buffer = MemoryBuffer::getFileAsStream(path);
  return buffer ? (*buffer)->getBuffer().trim().str() : "";
}

/// A cache size as /sys writes it ("48K", "2048K", "32M") in bytes.
static int64_t parseCacheSize(StringRef text) {
  int64_t scale = 1;
  if (text.consume_back("K"))
    scale = 1024;
  else if (text.consume_back("M"))
    scale = 1024 * 1024;
  int64_t value = 0;
  return text.getAsInteger(10, value) ? 0 : value * scale;
}

HostMachine getHostMachine() {
  HostMachine machine;
  machine.logicalCpus = std::max(1u, std::thread::hardware_concurrency());
  SmallVector<StringRef> lines;
  std::string cpuinfo = readSmallFile("/proc/cpuinfo");
  StringRef(cpuinfo).split(lines, '\n');
  for (StringRef line : lines) {
    auto [name, value] = line.split(':');
    if (name.trim() == "model name") {
      machine.modelName = value.trim().str();
      break;
    }
  }
  for (int index = 0; index < 8; ++index) {
    std::string folder =
        formatv("/sys/devices/system/cpu/cpu0/cache/index{0}", index).str();
    std::string type = readSmallFile(folder + "/type");
    if (type.empty())
      break;
    if (type == "Instruction")
      continue;
    int64_t bytes = parseCacheSize(readSmallFile(folder + "/size"));
    std::string level = readSmallFile(folder + "/level");
    if (level == "1")
      machine.l1dBytes = bytes;
    else if (level == "2")
      machine.l2Bytes = bytes;
    else if (level == "3")
      machine.l3Bytes = bytes;
  }
  return machine;
}

std::string getTuningFingerprint(const CpuTarget &target,
                                 const HostMachine &machine) {
  // The feature list is long (over a hundred flags): a hash keeps the key
  // readable while any feature change still changes it.
  uint64_t features = xxh3_64bits(target.features);
  return formatv("{0} f={1:x-16} cpu={2} cpus={3} l1d={4}K l2={5}K l3={6}K",
                 target.getFingerprint(), features, machine.modelName,
                 machine.logicalCpus, machine.l1dBytes / 1024,
                 machine.l2Bytes / 1024, machine.l3Bytes / 1024)
      .str();
}

} // namespace kiln::codegen
