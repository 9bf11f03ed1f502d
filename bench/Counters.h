//===- Counters.h - Deterministic instruction counts ------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Wall time moves with the machine's load; the number of instructions a
// kernel retires does not. Two ways to count them:
//
//  - the CPU's counter through perf_event_open, user space only, on the
//    calling thread (no root needed while kernel.perf_event_paranoid <= 2;
//    a VM without a virtual PMU has none);
//  - valgrind's callgrind, which counts by simulation anywhere, slowly: the
//    bench runs itself under callgrind once per benchmark, and only the
//    work inside runCountedRegion is instrumented and counted.
//
// No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_BENCH_COUNTERS_H_
#define KILN_BENCH_COUNTERS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace kiln::bench {

/// A user-space instructions-retired counter of the calling thread.
class InstructionCounter {
public:
  /// Opens the counter; std::nullopt with `whyNot` set ("perf_event_open:
  /// No such file or directory") when the machine does not give one.
  static std::optional<InstructionCounter> open(std::string &whyNot);

  InstructionCounter(InstructionCounter &&other) noexcept;
  InstructionCounter &operator=(InstructionCounter &&other) noexcept;
  InstructionCounter(const InstructionCounter &) = delete;
  InstructionCounter &operator=(const InstructionCounter &) = delete;
  ~InstructionCounter();

  /// Instructions `work` retires on the calling thread.
  int64_t count(const std::function<void()> &work);

private:
  explicit InstructionCounter(int fd) : fd(fd) {}
  int fd = -1;
};

/// Calls `work` with callgrind's instrumentation and collection switched on
/// (client requests; nothing happens outside valgrind).
void runCountedRegion(const std::function<void()> &work);

/// The valgrind arguments that count only inside runCountedRegion, writing
/// the profile to `outputFile`; the program and its arguments follow them.
std::vector<std::string> getCallgrindArguments(const std::string &outputFile);

/// The total instruction count in a callgrind output file, or std::nullopt
/// with `error` set when it cannot be read.
std::optional<int64_t> readCallgrindTotal(const std::string &outputFile,
                                          std::string &error);

} // namespace kiln::bench

#endif // KILN_BENCH_COUNTERS_H_
