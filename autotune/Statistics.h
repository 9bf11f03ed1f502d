//===- Statistics.h - Robust statistics of timing samples ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Timings on a shared machine are skewed by outliers from other work, so
// Kiln summarizes them by order statistics (median, quartiles) and compares
// two sets of samples without assuming a distribution (Mann-Whitney U, and a
// bootstrap confidence interval of the ratio of medians).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_STATISTICS_H_
#define KILN_AUTOTUNE_STATISTICS_H_

#include <cstdint>
#include <vector>

namespace kiln::autotune {

/// Order statistics of a sample set.
struct Summary {
  int64_t count = 0;
  double min = 0, max = 0, mean = 0;
  double median = 0, q1 = 0, q3 = 0;
  /// Interquartile range relative to the median: a scale-free spread.
  double relativeSpread = 0;
};

/// The `q`-quantile (0 <= q <= 1) of `sorted` by linear interpolation
/// between order statistics; `sorted` must be non-empty and ascending.
double quantile(const std::vector<double> &sorted, double q);

/// The summary of `samples` (any order; may be empty).
Summary summarize(std::vector<double> samples);

/// The two-sided p-value of the Mann-Whitney U test that `a` and `b` come
/// from the same distribution (normal approximation with tie correction;
/// 1 when either set has fewer than 2 samples).
double mannWhitneyPValue(const std::vector<double> &a,
                         const std::vector<double> &b);

/// A confidence interval.
struct Interval {
  double low = 0, high = 0;
};

/// A percentile-bootstrap confidence interval, at `confidence` (e.g. 0.95),
/// of median(b) / median(a), from `resamples` resamples drawn with a
/// generator seeded by `seed` (deterministic).
Interval bootstrapMedianRatio(const std::vector<double> &a,
                              const std::vector<double> &b, double confidence,
                              int resamples, uint64_t seed);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_STATISTICS_H_
