//===- ModelProfile.cpp - Per-kernel times against the roofline -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/ModelProfile.h"

#include "runtime/Executor.h"

#include <chrono>

namespace kiln::autotune {

std::optional<ModelProfile> profileModel(CompiledModel &model, int warmupRuns,
                                         int runs, const MachinePeaks &peaks,
                                         std::string &error) {
  for (int i = 0; i < warmupRuns; ++i)
    if (!model.run(error))
      return std::nullopt;

  // 1. Per step and per run, the seconds it took.
  const std::vector<Step> &steps = model.manifest().steps;
  std::vector<std::vector<double>> stepSeconds(steps.size());
  std::vector<double> runSeconds;
  for (int i = 0; i < runs; ++i) {
    auto start = std::chrono::steady_clock::now();
    if (!model.run(error))
      return std::nullopt;
    std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - start;
    runSeconds.push_back(elapsed.count());
    std::vector<StepTiming> timings = model.lastRunTimings();
    for (size_t step = 0; step < timings.size(); ++step)
      stepSeconds[step].push_back(timings[step].seconds);
  }

  // 2. Each step against the roofline, at its median.
  ModelProfile profile;
  profile.latency = summarize(runSeconds);
  for (size_t i = 0; i < steps.size(); ++i) {
    KernelProfile &kernel = profile.kernels.emplace_back();
    kernel.kernel = steps[i].kernel;
    kernel.fusedOps = steps[i].fusedOps;
    kernel.flops = steps[i].flops;
    kernel.bytes = steps[i].bytes;
    kernel.seconds = summarize(stepSeconds[i]);
    // Past the ridge point, FLOPs take longer at peak than bytes do.
    kernel.computeBound =
        kernel.bytes > 0 ? static_cast<double>(kernel.flops) / kernel.bytes >
                               peaks.getRidge()
                         : kernel.flops > 0;
    double median = kernel.seconds.median;
    if (median > 0) {
      kernel.rate =
          (kernel.computeBound ? kernel.flops : kernel.bytes) / median;
      kernel.rooflineFraction =
          peaks.getMinSeconds(kernel.flops, kernel.bytes) / median;
    }
  }
  return profile;
}

} // namespace kiln::autotune
