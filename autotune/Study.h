//===- Study.h - How many trials the search needs --------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The study behind the trials-to-within-3% benchmark. Every legal candidate
// of a kernel is measured once in the worker, as tuning measures it; of a
// space too large to measure whole, a sub-space that spans it: the cost
// model's best-ranked quarter of the study's size, and for the rest a
// stratified sample of the other legal candidates, chosen so that every
// value of every knob and every pair of values of two knobs come up about
// equally often (a greedy balanced design; ties broken by a fixed
// pseudo-random order, not the enumeration order), always with the
// search's seeds (the default, and GotoBLAS's blocking where the space has
// it). They are measured in enumeration order, and the budgeted search
// (autotune/Search.h) is then replayed on those recorded measurements in
// that order, as tuning gives it the legal candidates, at every budget from
// 1 up, which gives the smallest budget whose best is within a tolerance of
// the best measured. Replaying compares the search and the exhaustive best
// under the same noise, and costs no further trial. A study given the
// results of an earlier one measures the same sub-space again (the legal
// candidates it recorded, and the seeds), not a new selection, so that
// the search and the cost model can change and be replayed on those
// measurements without measuring anything. Nothing is stored in the tuning
// database.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_STUDY_H_
#define KILN_AUTOTUNE_STUDY_H_

#include "autotune/Tuner.h"

#include <map>

namespace kiln::autotune {

struct StudyOptions {
  /// Candidates measured at most; a larger legal set is thinned to this
  /// many (plus the default).
  int64_t maxCandidates = 64;
  /// The fraction of a sub-space taken from the cost model's best ranked.
  double modelTopFraction = 0.25;
  /// "Within": the search's best is at most (1 + tolerance) times the best
  /// measured.
  double tolerance = 0.03;
  /// Results recorded by an earlier study of the kernel, by config text.
  /// When given, the study measures the legal candidates found here (and
  /// the default, measured unless found) instead of selecting a sub-space:
  /// the search and the cost model are replayed on the same measurements
  /// after they change.
  std::map<std::string, TrialResult> recorded;
};

/// One measured candidate of a study, for the report and for replaying the
/// search elsewhere.
struct StudiedCandidate {
  Candidate candidate;
  std::string config;
  /// The cost model's seconds and the measured result.
  double predictedSeconds = 0;
  TrialResult result;
};

/// What the study of one kernel found.
struct KernelStudy {
  std::string kernel;
  int64_t spaceSize = 0, legalCandidates = 0;
  /// The candidates measured: every legal one, or the sub-space.
  int64_t measured = 0;
  /// Whether that was a sub-space of the legal candidates, and of it the
  /// candidates the cost model ranked best and the stratified sample (the
  /// default counts in the latter when neither picked it; of a replay on
  /// StudyOptions::recorded, the sizes the same options gave the recording).
  bool subspace = false;
  int64_t modelTop = 0, stratified = 0;
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
  /// The candidates that search measured, in order, as indices into
  /// `candidates`.
  std::vector<size_t> searchOrder;
  int64_t searchBudget = 0;
  /// Wall time of the measurements.
  double wallSeconds = 0;
  /// Of the candidates, those taken from StudyOptions::recorded.
  int64_t reused = 0;
  /// Every measured candidate, in the order measured.
  std::vector<StudiedCandidate> candidates;
};

/// Studies `kernel` under `options` (the target, the worker, the threads
/// and the tuner's budget) as `study` says. Emits an error at the kernel
/// and returns failure when it has no trial data or no candidate, the
/// default included, works.
mlir::FailureOr<KernelStudy> studyKernel(mlir::func::FuncOp kernel,
                                         const TunerOptions &options,
                                         const StudyOptions &study);

/// The candidates a study of `legal` (candidates over knobs of `numValues`
/// values each) measures: all of them when there are at most
/// `maxCandidates`; else the `modelTop` ranked best by `predict` and a
/// stratified sample of the rest up to `maxCandidates` (see above); the
/// `seeds` (the default and what the search measures first) are always
/// among them (last when neither picked them).
std::vector<Candidate>
selectStudyCandidates(const std::vector<Candidate> &legal,
                      const std::vector<Candidate> &seeds,
                      const std::function<double(const Candidate &)> &predict,
                      int64_t maxCandidates, int64_t modelTop);

/// The candidates of `legal` that `isRecorded` accepts and the `seeds`, in
/// enumeration order (seeds that are not legal last): the sub-space of a
/// study replayed on an earlier one's results.
std::vector<Candidate> selectRecordedCandidates(
    const std::vector<Candidate> &legal, const std::vector<Candidate> &seeds,
    const std::function<bool(const Candidate &)> &isRecorded);

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
