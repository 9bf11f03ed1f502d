//===- Statistics.cpp - Robust statistics of timing samples ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Statistics.h"

#include "runtime/Random.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numeric>

namespace kiln::autotune {

double quantile(const std::vector<double> &sorted, double q) {
  assert(!sorted.empty() && "quantile of no samples");
  double position = q * static_cast<double>(sorted.size() - 1);
  size_t below = static_cast<size_t>(std::floor(position));
  size_t above = std::min(below + 1, sorted.size() - 1);
  double fraction = position - static_cast<double>(below);
  return sorted[below] + fraction * (sorted[above] - sorted[below]);
}

Summary summarize(std::vector<double> samples) {
  Summary summary;
  summary.count = static_cast<int64_t>(samples.size());
  if (samples.empty())
    return summary;
  std::sort(samples.begin(), samples.end());
  summary.min = samples.front();
  summary.max = samples.back();
  summary.mean = std::accumulate(samples.begin(), samples.end(), 0.0) /
                 static_cast<double>(samples.size());
  summary.median = quantile(samples, 0.5);
  summary.q1 = quantile(samples, 0.25);
  summary.q3 = quantile(samples, 0.75);
  summary.relativeSpread =
      summary.median > 0 ? (summary.q3 - summary.q1) / summary.median : 0;
  return summary;
}

double mannWhitneyPValue(const std::vector<double> &a,
                         const std::vector<double> &b) {
  if (a.size() < 2 || b.size() < 2)
    return 1.0;
  // 1. Rank the pooled samples, giving tied values their average rank.
  struct Tagged {
    double value;
    bool fromA;
  };
  std::vector<Tagged> pooled;
  for (double v : a)
    pooled.push_back({v, true});
  for (double v : b)
    pooled.push_back({v, false});
  std::sort(pooled.begin(), pooled.end(),
            [](const Tagged &l, const Tagged &r) { return l.value < r.value; });
  double rankSumA = 0, tieTerm = 0;
  for (size_t i = 0; i < pooled.size();) {
    size_t j = i;
    while (j < pooled.size() && pooled[j].value == pooled[i].value)
      ++j;
    double averageRank = (static_cast<double>(i + j) + 1.0) / 2.0;
    double ties = static_cast<double>(j - i);
    tieTerm += ties * ties * ties - ties;
    for (size_t k = i; k < j; ++k)
      if (pooled[k].fromA)
        rankSumA += averageRank;
    i = j;
  }
  // 2. U of `a` and its normal approximation with the tie correction.
  double n1 = static_cast<double>(a.size()), n2 = static_cast<double>(b.size());
  double u = rankSumA - n1 * (n1 + 1) / 2;
  double mean = n1 * n2 / 2;
  double n = n1 + n2;
  double variance = n1 * n2 / 12 * ((n + 1) - tieTerm / (n * (n - 1)));
  if (variance <= 0)
    return 1.0;
  // 3. Two-sided p-value with a continuity correction.
  double z = (std::fabs(u - mean) - 0.5) / std::sqrt(variance);
  return std::min(1.0, std::erfc(std::max(z, 0.0) / std::sqrt(2.0)));
}

/// The median of `count` values drawn with replacement from `samples`.
static double resampledMedian(const std::vector<double> &samples,
                              Random &random, std::vector<double> &scratch) {
  scratch.resize(samples.size());
  for (double &v : scratch)
    v = samples[random.uniformInt(0, static_cast<int64_t>(samples.size()))];
  std::sort(scratch.begin(), scratch.end());
  return quantile(scratch, 0.5);
}

Interval bootstrapMedianRatio(const std::vector<double> &a,
                              const std::vector<double> &b, double confidence,
                              int resamples, uint64_t seed) {
  if (a.empty() || b.empty() || resamples < 1)
    return {};
  Random random(seed);
  std::vector<double> ratios, scratch;
  ratios.reserve(resamples);
  for (int i = 0; i < resamples; ++i) {
    double medianA = resampledMedian(a, random, scratch);
    double medianB = resampledMedian(b, random, scratch);
    if (medianA > 0)
      ratios.push_back(medianB / medianA);
  }
  if (ratios.empty())
    return {};
  std::sort(ratios.begin(), ratios.end());
  double tail = (1 - confidence) / 2;
  return {quantile(ratios, tail), quantile(ratios, 1 - tail)};
}

} // namespace kiln::autotune
