//===- Trial.cpp - One candidate compiled, checked and timed ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Trial.h"

#include "autotune/Worker.h"
#include "codegen/CPU/LoadKernel.h"
#include "codegen/CPU/Patterns.h"
#include "reference/Compare.h"
#include "reference/Evaluator.h"
#include "runtime/Safetensors.h"
#include "runtime/ThreadPool.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <csignal>

using namespace mlir;

namespace kiln::autotune {

LogicalResult writeTrialData(func::FuncOp kernel, const std::string &path,
                             uint64_t seed) {
  FailureOr<std::vector<HostTensor>> inputs =
      reference::makeSeededInputs(kernel, seed);
  if (failed(inputs))
    return failure();
  FailureOr<std::vector<HostTensor>> expected =
      reference::evaluate(kernel, *inputs, /*weights=*/{});
  if (failed(expected))
    return failure();
  TensorMap tensors;
  for (auto [i, input] : llvm::enumerate(*inputs))
    tensors["in" + std::to_string(i)] = std::move(input);
  for (auto [i, result] : llvm::enumerate(*expected))
    tensors["out" + std::to_string(i)] = std::move(result);
  std::string error;
  if (!writeSafetensors(path, tensors, error))
    return kernel.emitError("cannot write the trial data: ") << error;
  return success();
}

/// The answer of a trial that did not get to timing.
static std::string failAnswer(TrialStatus status, const std::string &reason) {
  return nlohmann::json{{"status", getTrialStatusName(status)},
                        {"reason", reason}}
      .dump();
}

/// Does what `fault` asks for; WrongResult perturbs `result` instead.
static void injectFault(InjectedFault fault, HostTensor &result) {
  switch (fault) {
  case InjectedFault::None:
    return;
  case InjectedFault::Crash:
    std::raise(SIGSEGV);
    return;
  case InjectedFault::Hang:
    for (volatile bool forever = true; forever;)
      ;
    return;
  case InjectedFault::WrongResult:
    result.setFloat(0, result.getFloat(0) + 1.0f);
    return;
  case InjectedFault::OutOfMemory: {
    // Touch every page, as a kernel writing out of bounds of a huge
    // allocation would, until the limit stops it.
    std::vector<std::unique_ptr<char[]>> hoard;
    for (;;) {
      hoard.emplace_back(new char[64 << 20]);
      std::fill_n(hoard.back().get(), 64 << 20, 1);
    }
  }
  }
}

std::string runTrial(const TrialOptions &options) {
  // 1. The kernel and its data.
  MLIRContext context;
  DialectRegistry registry;
  cpu::registerCpuCodegenDialects(registry);
  context.appendDialectRegistry(registry);
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
    if (!diagnostics.empty())
      diagnostics += "; ";
    diagnostics += diagnostic.str();
    return success();
  });
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(options.kernelPath, &context);
  if (!module)
    return failAnswer(TrialStatus::Failed, "cannot parse '" +
                                               options.kernelPath +
                                               "': " + diagnostics);
  std::string error;
  std::optional<TensorMap> data = readSafetensors(options.dataPath, error);
  if (!data)
    return failAnswer(TrialStatus::Failed, error);

  // 2. Compile and load.
  FailureOr<cpu::LoadedKernel> kernel = cpu::compileAndLoadKernel(
      *module, options.target, options.workDirectory + "/candidate.so");
  if (failed(kernel))
    return failAnswer(TrialStatus::CompileError, diagnostics);
  std::vector<void *> buffers;
  for (int i = 0; data->count("in" + std::to_string(i)); ++i)
    buffers.push_back(data->at("in" + std::to_string(i)).data());
  std::vector<HostTensor> results;
  for (int i = 0; data->count("out" + std::to_string(i)); ++i) {
    const HostTensor &expected = data->at("out" + std::to_string(i));
    results.emplace_back(expected.getElementType(), expected.getShape());
  }
  for (HostTensor &result : results)
    buffers.push_back(result.data());
  if (static_cast<int64_t>(buffers.size()) != kernel->getInfo().numBuffers)
    return failAnswer(TrialStatus::Failed,
                      "the trial data has " + std::to_string(buffers.size()) +
                          " tensors, the kernel takes " +
                          std::to_string(kernel->getInfo().numBuffers));

  // 3. Correct first.
  ThreadPool pool(options.threads);
  auto run = [&] {
    pool.parallelFor(kernel->getInfo().tileCount,
                     [&](int64_t begin, int64_t end) {
                       (*kernel)(buffers.data(), begin, end);
                     });
  };
  run();
  if (!results.empty())
    injectFault(options.fault, results[0]);
  for (auto [i, result] : llvm::enumerate(results)) {
    const HostTensor &expected = data->at("out" + std::to_string(i));
    reference::Comparison comparison = reference::compareTensors(
        result, expected, reference::getCancellationTolerance(expected));
    if (!comparison.passed())
      return failAnswer(
          TrialStatus::WrongResult,
          "result " + std::to_string(i) + ": " +
              (comparison.typeMismatch.empty()
                   ? std::to_string(comparison.mismatches) +
                         " elements differ, first at " +
                         std::to_string(comparison.firstMismatch) +
                         ", max abs error " +
                         std::to_string(comparison.maxAbsError)
                   : comparison.typeMismatch));
  }

  // 4. Then timed.
  SteadyClock clock;
  Measurement measured = measure(run, options.measure, clock);
  nlohmann::json answer = summaryToJson(measured.summary);
  answer["status"] = "ok";
  answer["stable"] = measured.stable;
  answer["remeasured"] = measured.remeasured;
  if (measured.remeasured)
    answer["discarded"] = summaryToJson(measured.discarded);
  return answer.dump();
}

} // namespace kiln::autotune
