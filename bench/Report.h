//===- Report.h - The results of one `kiln bench` run -----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// What `kiln bench --json` writes and `kiln bench compare` reads: the
// machine, the compiler version and, per benchmark, every timing sample with
// its summary and rates. The schema is documented in bench/SCHEMA.md; its
// version is kReportSchemaVersion, and a file of another version is refused
// rather than half-read. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_BENCH_REPORT_H_
#define KILN_BENCH_REPORT_H_

#include "autotune/Statistics.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln::bench {

/// The schema version this build reads and writes.
inline constexpr int64_t kReportSchemaVersion = 1;

/// The machine a report was measured on.
struct MachineInfo {
  /// The compile target's fingerprint (codegen CpuTarget::getFingerprint).
  std::string fingerprint;
  /// The CPU's model name, as the OS reports it.
  std::string cpu;
  /// Threads the benchmarks ran on.
  int threads = 1;
  /// The measured roofline for those threads (runtime/MachinePeaks.h).
  double peakFlopsPerSecond = 0;
  double streamBytesPerSecond = 0;
};

/// One benchmark: one implementation of one kernel or model at one size.
struct BenchResult {
  /// Unique within a report: "<kernel>/<shape>/<implementation>".
  std::string name;
  /// "kernels" or "models".
  std::string suite;
  /// The kernel or model ("matmul", "softmax", "mlp"), and its size.
  std::string kernel;
  std::string shape;
  /// "kiln", or the peer measured beside it ("openblas", "onednn").
  std::string implementation = "kiln";
  /// Work of one call.
  int64_t flops = 0;
  int64_t bytes = 0;
  /// Seconds per call, one entry per sample, in the order taken.
  std::vector<double> samples;
  int64_t callsPerSample = 1;
  /// Whether the spread settled within the budget.
  bool stable = false;
  /// Instructions retired by one call (user space), when counted.
  std::optional<int64_t> instructions;

  /// A model's compiled shape: its kernel calls, the calls per transformer
  /// block (none without blocks), and its memory plan's arena against the
  /// sum of its buffers. Unset for kernels.
  struct ModelFacts {
    int64_t kernelCalls = 0;
    std::optional<double> kernelsPerBlock;
    int64_t arenaBytes = 0;
    int64_t unplannedBytes = 0;
  };
  std::optional<ModelFacts> model;

  /// Order statistics of `samples`.
  autotune::Summary getSummary() const { return autotune::summarize(samples); }
};

/// A whole run.
struct BenchReport {
  std::string compilerVersion;
  /// UTC, ISO 8601.
  std::string date;
  MachineInfo machine;
  /// The suite run ("kernels", "models", "all").
  std::string suite;
  /// How instruction counts were taken: "perf", "callgrind", "off", or
  /// "unavailable: <why>".
  std::string counts = "off";
  std::vector<BenchResult> benchmarks;

  /// The benchmark called `name`, or null.
  const BenchResult *find(const std::string &name) const;
};

/// Derived figures of one benchmark against the machine's roofline, at the
/// median of its samples.
struct Rates {
  double gflops = 0;
  double gbytesPerSecond = 0;
  /// The roofline's least time for the work over the median time.
  double rooflineFraction = 0;
};
Rates getRates(const BenchResult &result, const MachineInfo &machine);

/// `report` as JSON text (schema version kReportSchemaVersion), indented.
std::string writeReportJson(const BenchReport &report);

/// Parses `text` (read from `source`, named in errors). On malformed JSON, a
/// schema version other than kReportSchemaVersion, or a missing or mistyped
/// field, returns std::nullopt and sets `error` to one message naming
/// `source` and the field.
std::optional<BenchReport> parseReportJson(const std::string &text,
                                           const std::string &source,
                                           std::string &error);

/// Reads and parses the file `path`; errors as parseReportJson, or a
/// message that the file cannot be read.
std::optional<BenchReport> readReportFile(const std::string &path,
                                          std::string &error);

/// A plain-text table of `report` for a terminal: the machine, then one row
/// per benchmark (median, spread, rates, roofline fraction, instructions).
std::string renderReportText(const BenchReport &report);

/// `seconds` with a unit that keeps three or four digits: "12.3 us",
/// "1.234 ms", "2.000 s".
std::string formatSeconds(double seconds);

/// The current UTC time in ISO 8601 ("2025-01-31T12:00:00Z").
std::string getCurrentDate();

} // namespace kiln::bench

#endif // KILN_BENCH_REPORT_H_
