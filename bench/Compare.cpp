//===- Compare.cpp - A statistical verdict on two bench reports -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "bench/Compare.h"

#include <algorithm>
#include <cstdio>

namespace kiln::bench {

const char *getVerdictName(Verdict verdict) {
  switch (verdict) {
  case Verdict::Faster:
    return "faster";
  case Verdict::Slower:
    return "slower";
  case Verdict::Same:
    return "same";
  case Verdict::TooNoisy:
    return "too noisy";
  }
  return "?";
}

bool ReportComparison::hasRegression() const {
  return std::any_of(benchmarks.begin(), benchmarks.end(),
                     [](const BenchComparison &b) { return b.isRegression(); });
}

BenchComparison compareSamples(const std::vector<double> &base,
                               const std::vector<double> &candidate,
                               const CompareOptions &options) {
  BenchComparison result;
  result.baseMedian = autotune::summarize(base).median;
  result.newMedian = autotune::summarize(candidate).median;
  if (result.baseMedian <= 0 || candidate.empty()) {
    result.timeVerdict = Verdict::TooNoisy;
    return result;
  }
  result.ratio = result.newMedian / result.baseMedian;
  result.interval = autotune::bootstrapMedianRatio(
      base, candidate, options.confidence, options.resamples, options.seed);
  result.pValue = autotune::mannWhitneyPValue(base, candidate);
  bool significant = result.pValue < options.alpha;
  double up = 1 + options.threshold, down = 1 - options.threshold;
  // 1. A significant change beyond the threshold.
  if (significant && result.ratio > up && result.interval.low > 1)
    result.timeVerdict = Verdict::Slower;
  else if (significant && result.ratio < down && result.interval.high < 1)
    result.timeVerdict = Verdict::Faster;
  // 2. No change the threshold's size could hide in the interval.
  else if (result.interval.low >= down && result.interval.high <= up)
    result.timeVerdict = Verdict::Same;
  // 3. The samples cannot tell.
  else
    result.timeVerdict = Verdict::TooNoisy;
  return result;
}

ReportComparison compareReports(const BenchReport &base,
                                const BenchReport &candidate,
                                const CompareOptions &options) {
  ReportComparison comparison;
  if (base.machine.fingerprint != candidate.machine.fingerprint)
    comparison.notes.push_back("the machines differ: '" +
                               base.machine.fingerprint + "' and '" +
                               candidate.machine.fingerprint + "'");
  if (base.machine.threads != candidate.machine.threads)
    comparison.notes.push_back(
        "the thread counts differ: " + std::to_string(base.machine.threads) +
        " and " + std::to_string(candidate.machine.threads));
  if (base.compilerVersion != candidate.compilerVersion)
    comparison.notes.push_back("compiler versions " + base.compilerVersion +
                               " and " + candidate.compilerVersion);
  for (const BenchResult &before : base.benchmarks) {
    const BenchResult *after = candidate.find(before.name);
    if (!after) {
      comparison.onlyInBase.push_back(before.name);
      continue;
    }
    BenchComparison row =
        compareSamples(before.samples, after->samples, options);
    row.name = before.name;
    // Counts are exact: any change beyond the count threshold is real.
    if (before.instructions && after->instructions && *before.instructions > 0) {
      double ratio = static_cast<double>(*after->instructions) /
                     static_cast<double>(*before.instructions);
      row.countRatio = ratio;
      row.countVerdict = ratio > 1 + options.countThreshold ? Verdict::Slower
                         : ratio < 1 - options.countThreshold
                             ? Verdict::Faster
                             : Verdict::Same;
    }
    comparison.benchmarks.push_back(std::move(row));
  }
  for (const BenchResult &after : candidate.benchmarks)
    if (!base.find(after.name))
      comparison.onlyInNew.push_back(after.name);
  return comparison;
}

//===----------------------------------------------------------------------===//
// Rendering
//===----------------------------------------------------------------------===//

/// printf into a std::string.
template <typename... Args>
static std::string format(const char *pattern, Args... args) {
  char text[128];
  std::snprintf(text, sizeof(text), pattern, args...);
  return text;
}

static const char *kHeader[] = {"benchmark", "base",    "new",
                                "ratio",     "95% CI",  "p",
                                "verdict",   "instr.", "instr. verdict"};
constexpr size_t kColumns = sizeof(kHeader) / sizeof(kHeader[0]);

/// The cells of one row of the table.
static std::vector<std::string> getCells(const BenchComparison &row) {
  std::string verdict = getVerdictName(row.timeVerdict);
  if (row.timeVerdict == Verdict::Slower)
    verdict = "**slower**";
  std::string countVerdict = "-";
  if (row.countVerdict)
    countVerdict = row.countVerdict == Verdict::Slower
                       ? "**slower**"
                       : getVerdictName(*row.countVerdict);
  return {row.name,
          formatSeconds(row.baseMedian),
          formatSeconds(row.newMedian),
          format("%.3f", row.ratio),
          format("[%.3f, %.3f]", row.interval.low, row.interval.high),
          format("%.2g", row.pValue),
          verdict,
          row.countRatio ? format("%.4f", *row.countRatio) : "-",
          countVerdict};
}

/// The lines after the table: the gate, the benchmarks not compared, notes.
static std::string getFooter(const ReportComparison &comparison,
                             const CompareOptions &options,
                             const char *bullet) {
  std::string text;
  size_t regressions = std::count_if(
      comparison.benchmarks.begin(), comparison.benchmarks.end(),
      [](const BenchComparison &b) { return b.isRegression(); });
  text += format("\n%zu of %zu benchmarks slower (threshold %.1f%%, alpha "
                 "%g, instruction threshold %.1f%%): %s\n",
                 regressions, comparison.benchmarks.size(),
                 options.threshold * 100, options.alpha,
                 options.countThreshold * 100,
                 regressions ? "FAIL" : "PASS");
  for (const std::string &name : comparison.onlyInBase)
    text += std::string(bullet) + "only in the base: " + name + "\n";
  for (const std::string &name : comparison.onlyInNew)
    text += std::string(bullet) + "only in the new: " + name + "\n";
  for (const std::string &note : comparison.notes)
    text += std::string(bullet) + "note: " + note + "\n";
  return text;
}

std::string renderMarkdown(const ReportComparison &comparison,
                           const CompareOptions &options) {
  std::string text = "|";
  for (const char *title : kHeader)
    text += std::string(" ") + title + " |";
  text += "\n|";
  for (size_t i = 0; i < kColumns; ++i)
    text += i == 0 ? "---|" : "--:|";
  text += "\n";
  for (const BenchComparison &row : comparison.benchmarks) {
    text += "|";
    for (const std::string &cell : getCells(row))
      text += " " + cell + " |";
    text += "\n";
  }
  return text + getFooter(comparison, options, "- ");
}

std::string renderText(const ReportComparison &comparison,
                       const CompareOptions &options) {
  std::vector<std::vector<std::string>> rows;
  rows.emplace_back(std::begin(kHeader), std::end(kHeader));
  for (const BenchComparison &row : comparison.benchmarks) {
    rows.push_back(getCells(row));
    for (std::string &cell : rows.back())
      if (cell.size() > 4 && cell.compare(0, 2, "**") == 0)
        cell = cell.substr(2, cell.size() - 4);
  }
  std::vector<size_t> widths(kColumns, 0);
  for (const std::vector<std::string> &row : rows)
    for (size_t i = 0; i < kColumns; ++i)
      widths[i] = std::max(widths[i], row[i].size());
  std::string text;
  for (const std::vector<std::string> &row : rows) {
    for (size_t i = 0; i < kColumns; ++i) {
      std::string padding(widths[i] - row[i].size(), ' ');
      text += i == 0 ? row[i] + padding : "  " + padding + row[i];
    }
    text += "\n";
  }
  return text + getFooter(comparison, options, "");
}

} // namespace kiln::bench
