//===- TuneWorker.cpp - The autotuner's measurement process ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Compiles, checks and times candidate kernels (autotune/Trial.h) and
// prints a JSON answer line for each; started by the tuner
// (autotune/Worker.h), never by hand.
//
//   kiln-tune-worker --kernel K.mlir [--kernel K2.mlir]... --data D.safetensors
//       --work-dir DIR [--target NAME] [--threads N] [--max-seconds S]
//       [--min-samples N] [--remeasure-spread F]
//       [--inject-fault crash|hang|wrong-result|out-of-memory]
//       [--nvrtc-library PATH]... [--cuda-include DIR]... [--nvrtc-cache DIR]
//       [--cuda-driver PATH]
//
// Several --kernel (CPU targets only) are candidates of one kernel, timed
// side by side. A GPU --target (sm_80, sm_90a) compiles with the NVRTC
// libraries tried in the order given (default: NVRTC's names on the library
// path), the CUDA headers of --cuda-include and the cubin cache
// --nvrtc-cache (none by default), and runs on device 0 of the driver
// --cuda-driver (default libcuda.so.1).
// --inject-fault exists for the tests of the tuner's fault handling.
//
//===----------------------------------------------------------------------===//

#include "autotune/Trial.h"

#include "llvm/ADT/StringSwitch.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace kiln::autotune;

/// Prints a failed answer and exits: the tuner reads the answer, not the
/// exit status.
[[noreturn]] static void answerFailure(const char *status,
                                       const std::string &reason) {
  std::printf(
      "%s\n",
      nlohmann::json{{"status", status}, {"reason", reason}}.dump().c_str());
  std::exit(0);
}

int main(int argc, char **argv) {
  TrialOptions options;
  std::vector<std::string> nvrtcLibraries;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc)
      answerFailure("failed", "missing value of " + flag);
    std::string value = argv[++i];
    if (flag == "--kernel")
      options.kernelPaths.push_back(value);
    else if (flag == "--data")
      options.dataPath = value;
    else if (flag == "--work-dir")
      options.workDirectory = value;
    else if (flag == "--target")
      options.target = value;
    else if (flag == "--threads")
      options.threads = std::atoi(value.c_str());
    else if (flag == "--max-seconds")
      options.measure.maxSeconds = std::atof(value.c_str());
    else if (flag == "--min-samples")
      options.measure.minSamples = std::atoi(value.c_str());
    else if (flag == "--remeasure-spread")
      options.measure.remeasureSpread = std::atof(value.c_str());
    else if (flag == "--inject-fault")
      options.fault = llvm::StringSwitch<InjectedFault>(value)
                          .Case("crash", InjectedFault::Crash)
                          .Case("hang", InjectedFault::Hang)
                          .Case("wrong-result", InjectedFault::WrongResult)
                          .Case("out-of-memory", InjectedFault::OutOfMemory)
                          .Default(InjectedFault::None);
    else if (flag == "--nvrtc-library")
      nvrtcLibraries.push_back(value);
    else if (flag == "--cuda-include")
      options.nvrtc.includeDirs.push_back(value);
    else if (flag == "--nvrtc-cache")
      options.nvrtc.cacheDir = value;
    else if (flag == "--cuda-driver")
      options.cudaDriver = value;
    else
      answerFailure("failed", "unknown argument " + flag);
  }
  if (!nvrtcLibraries.empty())
    options.nvrtc.libraries = std::move(nvrtcLibraries);
  if (options.kernelPaths.empty() || options.dataPath.empty() ||
      options.workDirectory.empty() || options.threads < 1)
    answerFailure("failed", "expected --kernel, --data, --work-dir and a "
                            "positive --threads");
  // Running out of memory ends in std::bad_alloc, uncaught: the tuner tells
  // it from the runtime's message on the error output.
  for (const std::string &answer : runTrial(options))
    std::printf("%s\n", answer.c_str());
  return 0;
}
