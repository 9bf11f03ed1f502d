//===- Study.h - How many trials the search needs --------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The study behind the trials-to-within-3% benchmark. Every legal candidate
// of a kernel (or, for a space too large to measure whole, an evenly spaced
// sub-space of the legal candidates in enumeration order, always with the
// default) is measured once in the worker, as tuning measures it. The
// budgeted search (autotune/Search.h) is then replayed on those recorded
// measurements at every budget from 1 up, which gives the smallest budget
// whose best is within a tolerance of the best measured. Replaying compares
// the search and the exhaustive best under the same noise, and costs no
// further trial. Nothing is stored in the tuning database.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_STUDY_H_
#define KILN_AUTOTUNE_STUDY_H_

#include "autotune/Tuner.h"

namespace kiln::autotune {

struct StudyOptions {
  /// Candidates measured at most; a larger legal set is thinned to this
  /// many (plus the default).
  int64_t maxCandidates = 64;
  /// "Within": the search's best is at most (1 + tolerance) times the best
  /// measured.
  double tolerance = 0.03;
};

/// What the study of one kernel found.
struct KernelStudy {
  std::string kernel;
  int64_t spaceSize = 0, legalCandidates = 0;
  /// The candidates measured: every legal one, or the sub-space.
  int64_t measured = 0;
  /// Whether that was a sub-space of the legal candidates.
  bool subspace = false;
  /// Of those, the ones that failed (compile, crash, wrong result, ...).
  int64_t failed = 0;
  /// The default config's and the best measured config's median seconds.
  double defaultSeconds = 0, bestSeconds = 0;
  std::string bestConfig;
  /// The smallest trial budget (the default's trial included) with which
  /// the search's best is within the tolerance of `bestSeconds`.
  int64_t trialsToWithin = 0;
  /// The search's best at the tuner's budget (TunerOptions::search), on the
  /// same measurements.
  double searchSeconds = 0;
  int64_t searchBudget = 0;
  /// Wall time of the measurements.
  double wallSeconds = 0;
};

/// Studies `kernel` under `options` (the target, the worker, the threads
/// and the tuner's budget) as `study` says. Emits an error at the kernel
/// and returns failure when it has no trial data or no candidate, the
/// default included, works.
mlir::FailureOr<KernelStudy> studyKernel(mlir::func::FuncOp kernel,
                                         const TunerOptions &options,
                                         const StudyOptions &study);

/// The candidates a study of `legal` measures: all of them when there are
/// at most `maxCandidates`, else `maxCandidates` evenly spaced ones in
/// enumeration order; `base`, when given, is always among them.
std::vector<Candidate> selectStudyCandidates(const std::vector<Candidate> &legal,
                                             const std::optional<Candidate> &base,
                                             int64_t maxCandidates);

/// The smallest budget from 1 to `recorded.size()` with which `search`
/// (the `first` candidates first, ranked by `predict`) replayed on the
/// `recorded` results finds a candidate within `tolerance` of the fastest
/// recorded one; 0 when no recorded candidate is ok.
int64_t findTrialsToWithin(
    const std::vector<std::pair<Candidate, TrialResult>> &recorded,
    const std::vector<Candidate> &first,
    const std::function<double(const Candidate &)> &predict,
    double tolerance);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_STUDY_H_
