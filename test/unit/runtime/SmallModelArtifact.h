//===- SmallModelArtifact.h - The runtime tests' small model ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// One small model shared by the artifact tests and the CUDA runtime tests,
// so both read and run the same manifest: x -> add w -> add x -> relu -> y.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_UNIT_RUNTIME_SMALLMODELARTIFACT_H
#define KILN_TEST_UNIT_RUNTIME_SMALLMODELARTIFACT_H

#include "runtime/Artifact.h"

#include <string>

namespace kiln::test {

/// The small model's manifest and weight, through two buffers that are live
/// together at step 1, for the target JSON `target` with `threads` threads
/// per step. The kernel code is the caller's to add.
inline Artifact makeSmallModelArtifact(const std::string &target,
                                       int threads) {
  Artifact artifact;
  Manifest &manifest = artifact.manifest;
  manifest.compilerVersion = "0.1.0-test";
  manifest.target = target;
  manifest.inputs = {{"x", ElementType::F32, {2, 3}}};
  manifest.outputs = {{"y", ElementType::F32, {2, 3}}};
  manifest.buffers = {{0, 24, 0}, {1, 24, 64}};
  manifest.steps = {
      {"add",
       "kiln_add",
       {{StepArgKind::Input, 0, ""},
        {StepArgKind::Weight, 0, "w"},
        {StepArgKind::Buffer, 0, ""}},
       threads,
       {"kiln.add"},
       6,
       72},
      {"add",
       "kiln_add",
       {{StepArgKind::Buffer, 0, ""},
        {StepArgKind::Input, 0, ""},
        {StepArgKind::Buffer, 1, ""}},
       threads,
       {"kiln.add"},
       6,
       72},
      {"relu",
       "kiln_relu",
       {{StepArgKind::Buffer, 1, ""}, {StepArgKind::Output, 0, ""}},
       threads,
       {"kiln.max", "kiln.constant"},
       6,
       48},
  };
  manifest.arenaBytes = 88;
  manifest.unplannedBytes = 48;
  HostTensor weight(ElementType::F32, {2, 3});
  for (int64_t i = 0; i < 6; ++i)
    weight.setFloat(i, 0.5f * static_cast<float>(i) - 1.0f);
  artifact.weights["w"] = weight;
  return artifact;
}

} // namespace kiln::test

#endif // KILN_TEST_UNIT_RUNTIME_SMALLMODELARTIFACT_H
