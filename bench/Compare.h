//===- Compare.h - A statistical verdict on two bench reports ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// `kiln bench compare BASE.json NEW.json`: for each benchmark in both
// reports, the ratio of the new median time to the base one with a
// bootstrap confidence interval, the Mann-Whitney U p-value of the two
// sample sets, and a verdict. A CI gate fails only on a benchmark that is
// slower beyond the threshold with significance, or whose instruction count
// (deterministic, when both reports have one) grew beyond the count
// threshold. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_BENCH_COMPARE_H_
#define KILN_BENCH_COMPARE_H_

#include "autotune/Statistics.h"
#include "bench/Report.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln::bench {

struct CompareOptions {
  /// A time change smaller than this fraction of the base is "same".
  double threshold = 0.05;
  /// The significance level of the Mann-Whitney U test.
  double alpha = 0.01;
  /// An instruction-count change beyond this fraction is a change.
  double countThreshold = 0.01;
  /// Confidence of the ratio's interval, and the bootstrap behind it.
  double confidence = 0.95;
  int resamples = 2000;
  uint64_t seed = 1;
};

enum class Verdict { Faster, Slower, Same, TooNoisy };

/// "faster", "slower", "same", "too noisy".
const char *getVerdictName(Verdict verdict);

/// One benchmark present in both reports.
struct BenchComparison {
  std::string name;
  double baseMedian = 0, newMedian = 0;
  /// newMedian / baseMedian, and its confidence interval.
  double ratio = 0;
  autotune::Interval interval;
  double pValue = 1;
  /// From the times alone.
  Verdict timeVerdict = Verdict::Same;
  /// New count over base count, when both reports counted instructions.
  std::optional<double> countRatio;
  std::optional<Verdict> countVerdict;

  /// Whether this benchmark fails the gate.
  bool isRegression() const {
    return timeVerdict == Verdict::Slower || countVerdict == Verdict::Slower;
  }
};

struct ReportComparison {
  std::vector<BenchComparison> benchmarks;
  /// Benchmarks in only one of the reports (not compared).
  std::vector<std::string> onlyInBase, onlyInNew;
  /// Notes on what differs between the runs (machine, compiler version).
  std::vector<std::string> notes;

  bool hasRegression() const;
};

/// The verdict on two sample sets of one benchmark's times (seconds per
/// call), in steps:
///  1. slower (faster) when the Mann-Whitney p-value is below alpha, the
///     ratio of medians is beyond 1 + threshold (1 - threshold) and the
///     whole confidence interval is above (below) 1;
///  2. otherwise same when the interval lies within 1 -+ threshold: a change
///     the size of the threshold would have been seen;
///  3. otherwise too noisy: the samples cannot tell.
BenchComparison compareSamples(const std::vector<double> &base,
                               const std::vector<double> &candidate,
                               const CompareOptions &options);

/// Compares every benchmark the two reports share, by name.
ReportComparison compareReports(const BenchReport &base,
                                const BenchReport &candidate,
                                const CompareOptions &options);

/// A markdown table of `comparison`, one row per benchmark, then the notes.
std::string renderMarkdown(const ReportComparison &comparison,
                           const CompareOptions &options);

/// The same as aligned plain text for a terminal.
std::string renderText(const ReportComparison &comparison,
                       const CompareOptions &options);

} // namespace kiln::bench

#endif // KILN_BENCH_COMPARE_H_
