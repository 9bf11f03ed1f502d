//===- Worker.h - Measuring a candidate in a separate process --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A candidate config may miscompile into a kernel that crashes, loops
// forever, exhausts memory or computes garbage. The tuner therefore never
// runs one in its own process: `kiln-tune-worker` compiles, checks and times
// one candidate (autotune/Trial.h) and prints one JSON line, and this file
// starts it, bounds its time and memory, and turns whatever happened into a
// TrialResult. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_WORKER_H_
#define KILN_AUTOTUNE_WORKER_H_

#include "autotune/Statistics.h"

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace kiln::autotune {

/// How a candidate's trial ended.
enum class TrialStatus {
  /// Correct, and timed.
  Ok,
  /// The candidate did not compile (an illegal config the space let through).
  CompileError,
  /// Its output differs from the reference evaluator's.
  WrongResult,
  /// The worker died of a signal.
  Crashed,
  /// The worker ran past its time limit and was killed.
  TimedOut,
  /// The worker ran out of memory under its limit.
  OutOfMemory,
  /// Anything else: the worker could not start, or answered nonsense.
  Failed,
};

/// A short lower-case name: "ok", "compile-error", "wrong-result", ...
const char *getTrialStatusName(TrialStatus status);

/// What one candidate's trial gave.
struct TrialResult {
  TrialStatus status = TrialStatus::Failed;
  /// Why it failed, for reports; empty when ok.
  std::string reason;
  /// Seconds per call of the candidate, when ok.
  Summary seconds;
  /// Whether the spread settled below the measurement's threshold.
  bool stable = false;
  /// Whether the candidate was timed twice because its spread was wide;
  /// `discardedSeconds` then summarizes the wider, dropped sample set.
  bool remeasured = false;
  Summary discardedSeconds;

  bool ok() const { return status == TrialStatus::Ok; }
};

/// How to run the worker.
struct WorkerOptions {
  /// The worker executable and its arguments (argv[0] is the executable).
  std::vector<std::string> command;
  /// The worker is killed after this long (compile, check and timing
  /// together).
  double timeoutSeconds = 60;
  /// Its address space limit (RLIMIT_AS) in bytes; 0 for none.
  int64_t memoryLimitBytes = 0;
};

/// Runs the worker and classifies its end: its JSON answer when it exits
/// normally, otherwise the signal, the timeout or the memory limit. Never
/// throws, never kills this process.
TrialResult runWorker(const WorkerOptions &options);

/// Runs a worker that answers for `answers` candidates, a JSON line each,
/// and returns their results in order; when it did not exit by itself
/// (a signal, the timeout, the memory limit), each candidate's result is
/// that failure.
std::vector<TrialResult> runWorker(const WorkerOptions &options,
                                   size_t answers);

/// A timing summary as the worker's answer carries it (count, median,
/// quartiles, extremes, mean, spread), and back; absent fields read as 0.
nlohmann::json summaryToJson(const Summary &summary);
Summary summaryFromJson(const nlohmann::json &object);

/// `result` as the worker's answer line gives it, which parseTrialAnswer
/// reads back: for records of trials kept elsewhere (the tuning study).
std::string formatTrialAnswer(const TrialResult &result);

/// Parses the worker's JSON answer line (see autotune/Trial.h); a status of
/// Failed with the reason when it is not one.
TrialResult parseTrialAnswer(const std::string &line);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_WORKER_H_
