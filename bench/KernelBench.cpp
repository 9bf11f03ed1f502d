//===- KernelBench.cpp - Kiln kernels next to OpenBLAS, oneDNN -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Compiles kernels with Kiln's default configs for the host and times them
// against this machine's measured roofline (runtime/MachinePeaks.h), with
// one thread and with all of them:
//
//  - f32 matmuls, side by side with OpenBLAS (cblas_sgemm) and oneDNN
//    (dnnl_sgemm), as GFLOP/s, as a fraction of the measured FMA peak and as
//    a ratio to the faster peer;
//  - memory-bound fused kernels (softmax, rms_norm, an elementwise chain), as
//    GB/s and as a fraction of the measured STREAM bandwidth.
//
// Every result is checked before it is timed: Kiln's matmuls against
// OpenBLAS, the peers against each other, the other kernels against the
// reference evaluator. A wrong result exits non-zero. `--smoke` runs tiny
// sizes in a second or two, so the test suite keeps this program working;
// `--matmul` times the matmuls only; `--cpu-time` times one thread by the
// CPU time it spends, which other jobs on a shared machine disturb less
// than the wall-clock time.
//
//   kiln-bench-kernels [--json] [--smoke] [--matmul] [--cpu-time]
//
//===----------------------------------------------------------------------===//

#include "autotune/Measure.h"
#include "codegen/CPU/LoadKernel.h"
#include "codegen/CPU/Patterns.h"
#include "codegen/Common/Target.h"
#include "reference/Evaluator.h"
#include "runtime/HostTensor.h"
#include "runtime/MachinePeaks.h"
#include "runtime/ThreadPool.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <cblas.h>
#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace mlir;
using namespace kiln;

namespace {

/// A matmul of the benchmark: C[M, N] = A[M, K] B[K, N], all row-major f32.
struct MatmulShape {
  int64_t m, k, n;
};

/// A memory-bound kernel of the benchmark.
struct StreamKernel {
  std::string name;
  /// The kernel in kiln IR.
  std::string source;
  /// Bytes it must move: every input read once, every result written once.
  int64_t bytes;
};

/// One timed implementation of one kernel at one thread count.
struct Row {
  std::string kernel, shape, implementation;
  int threads = 1;
  double seconds = 0;
  /// GFLOP/s for matmuls, GB/s for memory-bound kernels.
  double rate = 0;
  /// rate over the machine's measured peak (FMA or STREAM).
  double ofPeak = 0;
  /// Kiln's rate over the faster peer's, for matmuls.
  std::optional<double> ofBestPeer;
  bool stable = false;
};

/// Fails the program with `message`: a benchmark of a wrong result is
/// worthless.
[[noreturn]] void fail(const std::string &message) {
  llvm::errs() << "kiln-bench-kernels: " << message << "\n";
  std::exit(1);
}

/// The CPU time of the calling thread.
class ThreadCpuClock : public autotune::Clock {
public:
  double now() override {
    timespec time;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time);
    return static_cast<double>(time.tv_sec) + 1e-9 * time.tv_nsec;
  }
};

class Bench {
public:
  /// `cpuTime`: time by the calling thread's CPU time (one thread only).
  Bench(bool smoke, bool cpuTime) : smoke(smoke), cpuTime(cpuTime) {
    DialectRegistry registry;
    cpu::registerCpuCodegenDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
    handler = std::make_unique<ScopedDiagnosticHandler>(
        &context, [this](Diagnostic &diagnostic) {
          diagnostics += diagnostic.str() + "\n";
          return success();
        });
    SmallString<128> path;
    if (llvm::sys::fs::createUniqueDirectory("kiln-bench", path))
      fail("cannot create a temporary directory");
    directory = path.str().str();
    measureOptions.maxSeconds = smoke ? 0.05 : 0.5;
    measureOptions.minSamples = smoke ? 2 : 5;
  }
  ~Bench() { llvm::sys::fs::remove_directories(directory); }

  /// Times the kernels with each of `threadCounts` threads; only the
  /// matmuls when `matmulOnly`.
  void run(const std::vector<int> &threadCounts, bool matmulOnly);
  void print(llvm::raw_ostream &os) const;
  void printJson(llvm::raw_ostream &os) const;

private:
  cpu::LoadedKernel compile(StringRef source);
  autotune::Measurement time(const std::function<void()> &work);
  void benchMatmul(const MatmulShape &shape, ThreadPool &pool,
                   const MachinePeaks &peaks);
  void benchStream(const StreamKernel &kernel, ThreadPool &pool,
                   const MachinePeaks &peaks);

  bool smoke, cpuTime;
  MLIRContext context;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
  std::string diagnostics;
  std::string directory;
  int compiled = 0;
  autotune::MeasureOptions measureOptions;
  std::vector<MachinePeaks> machine;
  std::vector<Row> rows;
};

cpu::LoadedKernel Bench::compile(StringRef source) {
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source, &context);
  if (!module)
    fail("cannot parse a benchmark kernel:\n" + diagnostics);
  std::string path = directory + "/kernel" + std::to_string(compiled++) + ".so";
  FailureOr<cpu::LoadedKernel> kernel =
      cpu::compileAndLoadKernel(*module, "host", path);
  if (failed(kernel))
    fail("cannot compile a benchmark kernel:\n" + diagnostics);
  return std::move(*kernel);
}

autotune::Measurement Bench::time(const std::function<void()> &work) {
  if (cpuTime) {
    ThreadCpuClock clock;
    return autotune::measure(work, measureOptions, clock);
  }
  autotune::SteadyClock clock;
  return autotune::measure(work, measureOptions, clock);
}

/// Runs all tiles of `kernel` on `buffers`, split across `pool`.
void runTiles(const cpu::LoadedKernel &kernel, void *const *buffers,
              ThreadPool &pool) {
  pool.parallelFor(kernel.getInfo().tileCount,
                   [&](int64_t begin, int64_t end) {
                     kernel(buffers, begin, end);
                   });
}

/// The largest difference between `a` and `b` relative to the largest
/// magnitude in `b`.
double relativeError(const std::vector<float> &a, const std::vector<float> &b) {
  double error = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    error = std::max<double>(error, std::fabs(a[i] - b[i]));
    scale = std::max<double>(scale, std::fabs(b[i]));
  }
  return scale > 0 ? error / scale : error;
}

std::string matmulSource(const MatmulShape &s) {
  return llvm::formatv(R"mlir(
    func.func @matmul(%a: tensor<{0}x{1}xf32>, %b: tensor<{1}x{2}xf32>) -> tensor<{0}x{2}xf32> attributes {{kiln.kernel} {{
      %0 = kiln.matmul %a, %b : (tensor<{0}x{1}xf32>, tensor<{1}x{2}xf32>) -> tensor<{0}x{2}xf32>
      return %0 : tensor<{0}x{2}xf32>
    }
  )mlir",
                       s.m, s.k, s.n)
      .str();
}

void Bench::benchMatmul(const MatmulShape &s, ThreadPool &pool,
                        const MachinePeaks &peaks) {
  int threads = pool.getNumThreads();
  std::string shape = llvm::formatv("{0}x{1}x{2}", s.m, s.k, s.n).str();
  std::vector<float> a(s.m * s.k), b(s.k * s.n);
  std::mt19937 generator(42);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (float &x : a)
    x = uniform(generator);
  for (float &x : b)
    x = uniform(generator);
  std::vector<float> kiln(s.m * s.n), blas(s.m * s.n), dnnl(s.m * s.n);

  cpu::LoadedKernel kernel = compile(matmulSource(s));
  void *buffers[] = {a.data(), b.data(), kiln.data()};
  auto runKiln = [&] { runTiles(kernel, buffers, pool); };
  openblas_set_num_threads(threads);
  auto runBlas = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.m, s.n, s.k, 1.0f,
                a.data(), s.k, b.data(), s.n, 0.0f, blas.data(), s.n);
  };
  omp_set_num_threads(threads);
  auto runDnnl = [&] {
    if (dnnl_sgemm('N', 'N', s.m, s.n, s.k, 1.0f, a.data(), s.k, b.data(), s.n,
                   0.0f, dnnl.data(), s.n) != dnnl_success)
      fail("dnnl_sgemm failed on " + shape);
  };

  // Correctness first: each sum of K products of numbers in [-1, 1] is exact
  // to about K * 2^-24 of its scale.
  runKiln();
  runBlas();
  runDnnl();
  double tolerance = 1e-6 * std::sqrt(static_cast<double>(s.k)) + 1e-5;
  if (double error = relativeError(kiln, blas); error > tolerance)
    fail(llvm::formatv("Kiln's matmul {0} differs from OpenBLAS by {1}", shape,
                       error));
  if (double error = relativeError(dnnl, blas); error > tolerance)
    fail(llvm::formatv("oneDNN's matmul {0} differs from OpenBLAS by {1}",
                       shape, error));

  double flops = 2.0 * s.m * s.n * s.k;
  auto add = [&](StringRef name, const std::function<void()> &work) {
    autotune::Measurement measured = time(work);
    Row row;
    row.kernel = "matmul";
    row.shape = shape;
    row.implementation = name.str();
    row.threads = threads;
    row.seconds = measured.summary.median;
    row.rate = flops / row.seconds * 1e-9;
    row.ofPeak = flops / row.seconds / peaks.flopsPerSecond;
    row.stable = measured.stable;
    rows.push_back(row);
    return rows.size() - 1;
  };
  size_t kilnRow = add("kiln", runKiln);
  size_t blasRow = add("openblas", runBlas);
  size_t dnnlRow = add("onednn", runDnnl);
  double bestPeer = std::max(rows[blasRow].rate, rows[dnnlRow].rate);
  rows[kilnRow].ofBestPeer = rows[kilnRow].rate / bestPeer;
}

void Bench::benchStream(const StreamKernel &k, ThreadPool &pool,
                        const MachinePeaks &peaks) {
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(k.source, &context);
  if (!module)
    fail("cannot parse the " + k.name + " kernel:\n" + diagnostics);
  auto function = *module->getOps<func::FuncOp>().begin();
  FailureOr<std::vector<HostTensor>> inputs =
      reference::makeSeededInputs(function, /*seed=*/3);
  if (failed(inputs))
    fail("cannot make inputs for the " + k.name + " kernel:\n" + diagnostics);
  FailureOr<std::vector<HostTensor>> expected =
      reference::evaluate(function, *inputs, /*weights=*/{});
  if (failed(expected))
    fail("cannot evaluate the " + k.name + " kernel:\n" + diagnostics);

  cpu::LoadedKernel kernel = compile(k.source);
  std::vector<HostTensor> outputs;
  std::vector<void *> buffers;
  for (HostTensor &input : *inputs)
    buffers.push_back(input.data());
  for (const HostTensor &result : *expected) {
    outputs.emplace_back(result.getElementType(), result.getShape());
    buffers.push_back(outputs.back().data());
  }
  runTiles(kernel, buffers.data(), pool);
  for (size_t r = 0; r < outputs.size(); ++r)
    for (int64_t i = 0; i < outputs[r].getNumElements(); ++i) {
      double want = (*expected)[r].getFloat(i), got = outputs[r].getFloat(i);
      if (!(std::fabs(got - want) <= 1e-5 + 1e-4 * std::fabs(want)))
        fail(llvm::formatv("the {0} kernel's element {1} is {2}, expected {3}",
                           k.name, i, got, want));
    }

  autotune::Measurement measured =
      time([&] { runTiles(kernel, buffers.data(), pool); });
  Row row;
  row.kernel = k.name;
  llvm::raw_string_ostream shape(row.shape);
  llvm::interleave((*inputs)[0].getShape(), shape, "x");
  row.implementation = "kiln";
  row.threads = pool.getNumThreads();
  row.seconds = measured.summary.median;
  row.rate = k.bytes / row.seconds * 1e-9;
  row.ofPeak = k.bytes / row.seconds / peaks.bytesPerSecond;
  row.stable = measured.stable;
  rows.push_back(row);
}

/// The memory-bound kernels over `rows` rows of `cols` f32.
std::vector<StreamKernel> getStreamKernels(int64_t rows, int64_t cols) {
  int64_t bytes = rows * cols * 4;
  std::string t = llvm::formatv("tensor<{0}x{1}xf32>", rows, cols).str();
  std::string w = llvm::formatv("tensor<{0}xf32>", cols).str();
  return {
      {"softmax",
       llvm::formatv(R"mlir(
    func.func @softmax(%x: {0}) -> {0} attributes {{kiln.kernel} {{
      %0 = kiln.softmax %x {{axis = 1 : i64} : {0}
      return %0 : {0}
    })mlir",
                     t)
           .str(),
       2 * bytes},
      {"rms_norm",
       llvm::formatv(R"mlir(
    func.func @rms(%x: {0}, %g: {1}) -> {0} attributes {{kiln.kernel} {{
      %0 = kiln.rms_norm %x, %g {{epsilon = 1.0e-06 : f32} : ({0}, {1}) -> {0}
      return %0 : {0}
    })mlir",
                     t, w)
           .str(),
       2 * bytes + cols * 4},
      {"x*sigmoid(x)+y",
       llvm::formatv(R"mlir(
    func.func @chain(%x: {0}, %y: {0}) -> {0} attributes {{kiln.kernel} {{
      %0 = kiln.sigmoid %x : {0}
      %1 = kiln.mul %x, %0 : ({0}, {0}) -> {0}
      %2 = kiln.add %1, %y : ({0}, {0}) -> {0}
      return %2 : {0}
    })mlir",
                     t)
           .str(),
       3 * bytes},
  };
}

void Bench::run(const std::vector<int> &threadCounts, bool matmulOnly) {
  std::vector<MatmulShape> matmuls =
      smoke ? std::vector<MatmulShape>{{7, 13, 33}, {64, 48, 96}}
            : std::vector<MatmulShape>{{1024, 1024, 1024},
                                       {2048, 2048, 2048},
                                       {128, 768, 3072},
                                       {512, 384, 1536}};
  // Well past the last-level cache of most machines: 128 MiB per tensor.
  std::vector<StreamKernel> streams;
  if (!matmulOnly)
    streams = smoke ? getStreamKernels(8, 100) : getStreamKernels(32768, 1024);
  for (int threads : threadCounts) {
    ThreadPool pool(threads);
    MachinePeaks peaks;
    peaks.numThreads = threads;
    peaks.flopsPerSecond = measureFmaPeak(pool, smoke ? 1 : 5);
    peaks.bytesPerSecond =
        measureStreamBandwidth(pool, smoke ? 1 << 16 : 0, smoke ? 1 : 3)
            .getBest();
    machine.push_back(peaks);
    for (const MatmulShape &shape : matmuls)
      benchMatmul(shape, pool, peaks);
    for (const StreamKernel &kernel : streams)
      benchStream(kernel, pool, peaks);
  }
}

void Bench::print(llvm::raw_ostream &os) const {
  codegen::CpuTarget host = codegen::getHostCpuTarget();
  os << "target: " << host.getFingerprint() << "\n";
  for (const MachinePeaks &peaks : machine)
    os << llvm::formatv("peaks, {0} thread(s): FMA {1:F1} GFLOP/s, STREAM "
                        "{2:F1} GB/s\n",
                        peaks.numThreads, peaks.flopsPerSecond * 1e-9,
                        peaks.bytesPerSecond * 1e-9);
  os << "\nmatmul (f32, MxKxN)\n";
  os << llvm::formatv("{0,-16} {1,7} {2,12} {3,12} {4,12} {5,10} {6,10}\n",
                      "shape", "threads", "kiln GF/s", "openblas", "onednn",
                      "kiln/peer", "kiln/peak");
  for (size_t i = 0; i + 2 < rows.size(); ++i) {
    if (rows[i].kernel != "matmul" || rows[i].implementation != "kiln")
      continue;
    const Row &kiln = rows[i], &blas = rows[i + 1], &dnnl = rows[i + 2];
    os << llvm::formatv(
        "{0,-16} {1,7} {2,12:F1} {3,12:F1} {4,12:F1} {5,10:F2} {6,10:F2}{7}\n",
        kiln.shape, kiln.threads, kiln.rate, blas.rate, dnnl.rate,
        *kiln.ofBestPeer, kiln.ofPeak,
        kiln.stable && blas.stable && dnnl.stable ? "" : "  (noisy)");
  }
  os << "\nmemory-bound kernels (f32)\n";
  os << llvm::formatv("{0,-16} {1,-12} {2,7} {3,12} {4,12}\n", "kernel",
                      "shape", "threads", "kiln GB/s", "of STREAM");
  for (const Row &row : rows)
    if (row.kernel != "matmul")
      os << llvm::formatv("{0,-16} {1,-12} {2,7} {3,12:F1} {4,12:F2}{5}\n",
                          row.kernel, row.shape, row.threads, row.rate,
                          row.ofPeak, row.stable ? "" : "  (noisy)");
}

void Bench::printJson(llvm::raw_ostream &os) const {
  nlohmann::json root;
  root["target"] = codegen::getHostCpuTarget().getFingerprint();
  for (const MachinePeaks &peaks : machine)
    root["peaks"].push_back({{"threads", peaks.numThreads},
                             {"flops_per_second", peaks.flopsPerSecond},
                             {"bytes_per_second", peaks.bytesPerSecond}});
  for (const Row &row : rows) {
    nlohmann::json entry = {{"kernel", row.kernel},
                            {"shape", row.shape},
                            {"implementation", row.implementation},
                            {"threads", row.threads},
                            {"seconds", row.seconds},
                            {row.kernel == "matmul" ? "gflops" : "gbytes",
                             row.rate},
                            {"of_peak", row.ofPeak},
                            {"stable", row.stable}};
    if (row.ofBestPeer)
      entry["of_best_peer"] = *row.ofBestPeer;
    root["results"].push_back(entry);
  }
  os << root.dump(2) << "\n";
}

} // namespace

int main(int argc, char **argv) {
  bool json = false, smoke = false, matmulOnly = false, cpuTime = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0)
      json = true;
    else if (std::strcmp(argv[i], "--smoke") == 0)
      smoke = true;
    else if (std::strcmp(argv[i], "--matmul") == 0)
      matmulOnly = true;
    else if (std::strcmp(argv[i], "--cpu-time") == 0)
      cpuTime = true;
    else
      fail(std::string("unknown argument '") + argv[i] +
           "' (usage: kiln-bench-kernels [--json] [--smoke] "
           "[--matmul] [--cpu-time])");
  }
  int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<int> threadCounts = {1};
  // The CPU time of the calling thread misses the other threads' work.
  if (all > 1 && !cpuTime)
    threadCounts.push_back(all);
  Bench bench(smoke, cpuTime);
  bench.run(threadCounts, matmulOnly);
  if (json)
    bench.printJson(llvm::outs());
  else
    bench.print(llvm::outs());
  return 0;
}
