//===- Suite.h - The benchmark suites of `kiln bench` -----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Two suites, timed with the shared loop of autotune/Measure.h against this
// machine's measured roofline (runtime/MachinePeaks.h):
//
//  - kernels: single kernels in kiln IR, compiled with their default configs
//    (matmul shapes, softmax, rms_norm, layer_norm, attention, an
//    elementwise chain, conv2d); each matmul also through every matmul peer
//    given (OpenBLAS, oneDNN), as rows of their own;
//  - models: every zoo model with its default knobs, compiled with the
//    default configs, end to end.
//
// Every result is checked before it is timed (a benchmark of a wrong result
// is worthless): Kiln's matmuls against the first peer, or the reference
// evaluator without one; the peers against Kiln; everything else against
// the reference evaluator.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_BENCH_SUITE_H_
#define KILN_BENCH_SUITE_H_

#include "autotune/Measure.h"
#include "bench/Report.h"
#include "compiler/Compiler.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln::bench {

/// A matmul implementation Kiln is measured against. Kiln's libraries never
/// link one: they come from KILNBenchPeers (bench/Peers.h).
class MatmulPeer {
public:
  virtual ~MatmulPeer();
  /// "openblas", "onednn".
  virtual std::string getName() const = 0;
  /// The threads later calls use.
  virtual void setNumThreads(int threads) = 0;
  /// C[M, N] = A[M, K] B[K, N], all row-major f32. Returns false when the
  /// library reports a failure.
  virtual bool multiply(int64_t m, int64_t k, int64_t n, const float *a,
                        const float *b, float *c) = 0;
};

/// How instruction counts are taken.
enum class CountMode {
  Off,
  /// Perf when the machine gives a counter, else callgrind when valgrind is
  /// installed, else "unavailable".
  Auto,
  /// The CPU's counter (bench/Counters.h); "unavailable" when it has none.
  Perf,
  /// callgrind, one child process per benchmark (see countedCallCommand).
  Callgrind,
};

struct BenchOptions {
  /// "kernels", "models" or "all".
  std::string suite = "kernels";
  /// A CPU target name (codegen/Common/Target.h).
  std::string target = "host";
  /// Threads per kernel; 0: one per hardware thread.
  int threads = 0;
  /// Only benchmarks whose name this regular expression matches (searched,
  /// not anchored); empty: all.
  std::string filter;
  /// Tiny sizes for the test suite.
  bool smoke = false;
  /// The timing loop's settings; maxSeconds is the budget per benchmark.
  autotune::MeasureOptions measure;
  CountMode counts = CountMode::Off;
  /// For CountMode::Callgrind: the command (program first) that runs the
  /// one benchmark called with the given name once, in the counted region,
  /// with `countedCallOnly`; it is run under valgrind.
  std::function<std::vector<std::string>(const std::string &name)>
      countedCallCommand;
  /// Run each selected benchmark once inside bench/Counters.h's counted
  /// region, on one thread, and time nothing: the child of a callgrind count.
  bool countedCallOnly = false;
  /// For tests of the regression gate only: every timed call takes this
  /// fraction longer (it waits that fraction of its own time after it).
  double injectedSlowdown = 0;
  std::vector<MatmulPeer *> peers;
  /// Tuned configs for the kernels and the models' kernels (the tuning
  /// database's, for the tuning benchmark); empty: the defaults.
  compiler::KernelConfigLookup configLookup;
  /// Told before each benchmark is prepared: its index, the number
  /// selected and its name.
  std::function<void(size_t index, size_t total, const std::string &name)>
      progress;
};

/// Runs the suites `options` select. On an unknown suite or target, a
/// filter that is not a regular expression, a kernel that fails to compile,
/// a wrong result or a failed count, returns std::nullopt and sets `error`
/// to one message naming the benchmark.
std::optional<BenchReport> runBenchmarks(const BenchOptions &options,
                                         std::string &error);

/// The names of the suites: "kernels", "models", "all".
const std::vector<std::string> &getSuiteNames();

} // namespace kiln::bench

#endif // KILN_BENCH_SUITE_H_
