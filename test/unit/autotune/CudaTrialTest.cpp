//===- CudaTrialTest.cpp - The tuner's GPU path without a GPU --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A CUDA candidate's trial for real up to the driver: the kernel generated,
// compiled by NVRTC (the tests skip where there is none), loaded as a
// one-kernel model, its outputs checked and its time measured, on the fake
// driver of FakeCudaDriver.h. The fake cannot execute the cubin, so its
// "kernel" is a host function each test chooses: the right sum, or a wrong
// one. Also the GPU side of the tuner: the database key carries the GPU's
// fingerprint, the candidates carry #kiln.cuda_config, and compiling finds
// the stored CUDA config under that fingerprint only.
//
//===----------------------------------------------------------------------===//

#include "autotune/KernelSignature.h"
#include "autotune/Trial.h"
#include "autotune/Tuner.h"
#include "autotune/Worker.h"
#include "codegen/CPU/Patterns.h"
#include "runtime/CUDA/CudaModel.h"

#include "../runtime/FakeCudaDriver.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace kiln;
using namespace kiln::autotune;
using kiln::test::asFloats;
using kiln::test::FakeGpu;

namespace {

/// c = a + b on 4x64 f32: 256 elements.
constexpr const char *kAdd = R"mlir(
  func.func @add(%a: tensor<4x64xf32>, %b: tensor<4x64xf32>) -> tensor<4x64xf32>
      attributes {kiln.kernel} {
    %0 = kiln.add %a, %b : (tensor<4x64xf32>, tensor<4x64xf32>) -> tensor<4x64xf32>
    return %0 : tensor<4x64xf32>
  }
)mlir";
constexpr int kElements = 256;

/// The fake's kernel @add: c = a + b, or c = a - b when `wrong`.
kiln::test::FakeKernel makeAdd(bool wrong, double seconds) {
  return {3,
          [wrong](const std::vector<cuda::CUdeviceptr> &p) {
            for (int i = 0; i < kElements; ++i)
              asFloats(p[2])[i] = wrong ? asFloats(p[0])[i] - asFloats(p[1])[i]
                                        : asFloats(p[0])[i] + asFloats(p[1])[i];
          },
          seconds};
}

/// An H100-like device, and one that differs in `what`.
cuda::CudaDeviceInfo makeDevice(const std::string &what = "") {
  cuda::CudaDeviceInfo device;
  device.name = what == "name" ? "NVIDIA H200" : "NVIDIA H100 80GB HBM3";
  device.major = 9;
  device.multiprocessors = what == "sms" ? 114 : 132;
  device.memoryBytes = (what == "memory" ? uint64_t(141) : uint64_t(80)) << 30;
  device.sharedBytesPerBlock = 227 * 1024;
  device.registersPerMultiprocessor = 65536;
  return device;
}

class CudaTrialTest : public ::testing::Test {
protected:
  CudaTrialTest() {
    DialectRegistry registry;
    cpu::registerCpuCodegenDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  void SetUp() override {
    kiln::test::gpu = &fake;
    llvm::SmallString<128> created;
    ASSERT_FALSE(
        llvm::sys::fs::createUniqueDirectory("kiln-cuda-trial", created));
    folder = created.str().str();
    module = parseSourceString<ModuleOp>(kAdd, &context);
    ASSERT_TRUE(module);
  }

  void TearDown() override {
    kiln::test::gpu = nullptr;
    llvm::sys::fs::remove_directories(folder);
  }

  func::FuncOp getKernel() { return *module->getOps<func::FuncOp>().begin(); }

  /// The trial of @add for sm_90a with its data and module written, or
  /// nullopt where NVRTC or the CUDA headers are missing.
  std::optional<TrialOptions> prepareTrial() {
    if (!llvm::sys::fs::exists(KILN_CUDA_ROOT "/include/cuda_bf16.h"))
      return std::nullopt;
    codegen::NvrtcOptions nvrtc;
    nvrtc.includeDirs = {KILN_CUDA_ROOT "/include"};
    nvrtc.cacheDir = folder + "/nvrtc";
    llvm::Expected<codegen::NvrtcCompiler> compiler =
        codegen::NvrtcCompiler::load(nvrtc);
    if (!compiler) {
      llvm::consumeError(compiler.takeError());
      return std::nullopt;
    }
    TrialOptions options;
    options.kernelPaths = {folder + "/add.mlir"};
    options.dataPath = folder + "/data.safetensors";
    options.workDirectory = folder;
    options.target = "sm_90a";
    options.nvrtc = nvrtc;
    options.measure.maxSeconds = 0.05;
    EXPECT_TRUE(succeeded(writeTrialData(getKernel(), options.dataPath, 1)));
    std::error_code code;
    llvm::raw_fd_ostream os(options.kernelPaths.front(), code);
    EXPECT_FALSE(code);
    module->print(os);
    return options;
  }

  /// Runs the trial on the fake's device 0.
  TrialResult runOnFake(const TrialOptions &options) {
    std::string error;
    std::optional<cuda::CudaDevice> device =
        cuda::openCudaDevice(kiln::test::makeFakeApi(), 0, error);
    EXPECT_TRUE(device) << error;
    if (!device)
      return {};
    return parseTrialAnswer(runCudaTrial(options, *device));
  }

  /// A tuning database in the test's folder.
  std::unique_ptr<TuningDatabase> openDatabase() {
    std::string error;
    std::vector<std::string> warnings;
    std::unique_ptr<TuningDatabase> database =
        TuningDatabase::open(folder + "/t.db", warnings, error);
    EXPECT_TRUE(database) << error;
    return database;
  }

  /// Tuner options for sm_90a on the H100 of makeDevice.
  TunerOptions makeHopperOptions() {
    TunerOptions options = *getCudaTunerOptions("sm_90a", makeDevice());
    options.compilerVersion = "test";
    return options;
  }

  /// The calls of `name` the fake received.
  int64_t countCalls(const std::string &name) const {
    return std::count(fake.calls.begin(), fake.calls.end(), name);
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  std::string folder;
  FakeGpu fake;
};

/// A trial of @add prepared for sm_90a, with the fake's @add correct and
/// 20 us per call; skipped where NVRTC or the CUDA headers are missing.
class CudaTrialRunTest : public CudaTrialTest {
protected:
  void SetUp() override {
    CudaTrialTest::SetUp();
    if (HasFatalFailure())
      return;
    std::optional<TrialOptions> prepared = prepareTrial();
    if (!prepared)
      GTEST_SKIP() << "no NVRTC or CUDA headers";
    options = *prepared;
    fake.kernels["add"] = makeAdd(/*wrong=*/false, /*seconds=*/2e-5);
  }

  TrialOptions options;
};

TEST_F(CudaTrialRunTest, CorrectCandidateIsTimedByDeviceEvents) {
  TrialResult result = runOnFake(options);
  ASSERT_TRUE(result.ok()) << getTrialStatusName(result.status) << ": "
                           << result.reason;
  // Every sample is the fake device's time per call, exactly: the host's
  // clock plays no part.
  EXPECT_NEAR(result.seconds.median, 2e-5, 1e-9);
  EXPECT_NEAR(result.seconds.min, 2e-5, 1e-9);
  EXPECT_GE(result.seconds.count, 5);
  EXPECT_TRUE(result.stable);
  // The candidate's NVRTC cubin was loaded; the inputs went in and the
  // outputs came back once, and the timing replayed the graph only.
  EXPECT_EQ(fake.modules.size(), 1u);
  EXPECT_EQ(countCalls("htod"), 2);
  EXPECT_EQ(countCalls("dtoh"), 1);
  EXPECT_GT(countCalls("graph-launch"), 10);
  EXPECT_EQ(fake.liveEvents, 0);
  EXPECT_EQ(fake.liveAllocations, 0);
}

TEST_F(CudaTrialRunTest, WrongCandidateIsNeverTimed) {
  fake.kernels["add"] = makeAdd(/*wrong=*/true, /*seconds=*/2e-5);
  TrialResult result = runOnFake(options);
  EXPECT_EQ(result.status, TrialStatus::WrongResult) << result.reason;
  EXPECT_NE(result.reason.find("result 0: "), std::string::npos)
      << result.reason;
  EXPECT_EQ(countCalls("graph-launch"), 1);
  EXPECT_TRUE(fake.eventTimes.empty());
}

TEST_F(CudaTrialRunTest, InjectedWrongResultFailsTheCheck) {
  options.fault = InjectedFault::WrongResult;
  EXPECT_EQ(runOnFake(options).status, TrialStatus::WrongResult);
}

TEST_F(CudaTrialRunTest, DeviceOutOfMemoryIsOutOfMemory) {
  fake.allocResult = cuda::kCudaErrorOutOfMemory;
  TrialResult result = runOnFake(options);
  EXPECT_EQ(result.status, TrialStatus::OutOfMemory) << result.reason;
  EXPECT_NE(result.reason.find("cuMemAlloc"), std::string::npos)
      << result.reason;
  EXPECT_NE(result.reason.find("CUDA_ERROR_OUT_OF_MEMORY"), std::string::npos)
      << result.reason;
}

TEST_F(CudaTrialRunTest, UnlaunchableCandidateIsACompileError) {
  fake.failingKernel = "add";
  TrialResult result = runOnFake(options);
  // The launch fails while the graph is captured at load: the candidate
  // cannot run on this device.
  EXPECT_EQ(result.status, TrialStatus::CompileError) << result.reason;
  EXPECT_NE(result.reason.find("CUDA_ERROR_LAUNCH_FAILED"), std::string::npos)
      << result.reason;
}

TEST_F(CudaTrialTest, NoDeviceFailsTheTrialPlainly) {
  TrialOptions options;
  options.target = "sm_80";
  options.cudaDriver = folder + "/libcuda-missing.so.1";
  TrialResult result = parseTrialAnswer(runTrial(options).front());
  EXPECT_EQ(result.status, TrialStatus::Failed);
  EXPECT_EQ(result.reason.rfind("no CUDA device: cannot load ", 0), 0u)
      << result.reason;
}

//===----------------------------------------------------------------------===//
// The tuner's GPU side
//===----------------------------------------------------------------------===//

TEST_F(CudaTrialTest, KeyCarriesTheGpuFingerprint) {
  std::optional<TunerOptions> options =
      getCudaTunerOptions("sm_90a", makeDevice());
  ASSERT_TRUE(options);
  EXPECT_FALSE(getCudaTunerOptions("sm_75", makeDevice()));
  options->compilerVersion = "test";
  TuningKey key = getTuningKey(getKernel(), *options);
  EXPECT_EQ(key.signature, getKernelSignature(getKernel()));
  EXPECT_EQ(key.target, getCudaFingerprint("sm_90a", makeDevice()));
  EXPECT_NE(key.target.find("NVIDIA H100 80GB HBM3"), std::string::npos);
  EXPECT_EQ(key.threads, kCudaTuningThreads);
  EXPECT_EQ(getTargetName(*options), "sm_90a");
  // Another GPU, or the same one for another architecture, is another key.
  for (const char *what : {"name", "sms", "memory"}) {
    std::optional<TunerOptions> other =
        getCudaTunerOptions("sm_90a", makeDevice(what));
    other->compilerVersion = "test";
    EXPECT_NE(getTuningKey(getKernel(), *other).target, key.target) << what;
  }
  std::optional<TunerOptions> ampere =
      getCudaTunerOptions("sm_80", makeDevice());
  ampere->compilerVersion = "test";
  EXPECT_NE(getTuningKey(getKernel(), *ampere).target, key.target);
}

TEST_F(CudaTrialTest, CandidatesAreCudaConfigsOfTheCudaSpace) {
  std::optional<TunerOptions> options =
      getCudaTunerOptions("sm_80", makeDevice());
  FailureOr<std::unique_ptr<KernelTrials>> trials =
      KernelTrials::create(getKernel(), *options);
  ASSERT_TRUE(succeeded(trials));
  // The elementwise space: elements per block by warps, the default among
  // the legal candidates.
  CudaSearchSpace space = buildCudaSearchSpace(getKernel(), *options->cuda);
  EXPECT_EQ((*trials)->getSpaceSize(), space.getSize());
  EXPECT_EQ((*trials)->getLegal(), enumerateCudaCandidates(space, 1 << 20));
  ASSERT_TRUE((*trials)->getBase());
  EXPECT_EQ((*trials)
                ->getConfigText(*(*trials)->getBase())
                .rfind("#kiln.cuda_config<", 0),
            0u);
  EXPECT_EQ((*trials)->predict((*trials)->getLegal().front()),
            (*trials)->predict((*trials)->getLegal().back()));
}

TEST_F(CudaTrialTest, CompilingFindsTheCudaConfigOfThisGpuOnly) {
  std::unique_ptr<TuningDatabase> database = openDatabase();
  ASSERT_TRUE(database);
  TunerOptions options = makeHopperOptions();
  std::string error;
  TuningRecord record;
  record.key = getTuningKey(getKernel(), options);
  record.kernel = "add";
  record.config = "#kiln.cuda_config<block_m = 1, block_n = 512, block_k = "
                  "1, warps = 4, stages = 1>";
  record.medianSeconds = 1e-5;
  ASSERT_TRUE(database->put(record, error)) << error;

  CudaConfigAttr found =
      findTunedCudaConfig(getKernel(), options.fingerprint, "test", *database);
  ASSERT_TRUE(found);
  EXPECT_EQ(found.getBlockN(), 512);
  EXPECT_EQ(found.getWarps(), 4);
  EXPECT_FALSE(findTunedCudaConfig(
      getKernel(), getCudaFingerprint("sm_90a", makeDevice("name")), "test",
      *database));
  EXPECT_FALSE(findTunedCudaConfig(
      getKernel(), getCudaArchFingerprint("sm_90a"), "test", *database));
  // A CPU config stored under the GPU's key is ignored, with a warning.
  record.config = "#kiln.cpu_config<tile_sizes = [4, 64]>";
  record.medianSeconds = 1e-6;
  ASSERT_TRUE(database->put(record, error)) << error;
  std::string warning;
  ScopedDiagnosticHandler capture(&context, [&](Diagnostic &diagnostic) {
    warning = diagnostic.str();
    return success();
  });
  EXPECT_FALSE(
      findTunedCudaConfig(getKernel(), options.fingerprint, "test", *database));
  EXPECT_NE(warning.find("not a CUDA config"), std::string::npos) << warning;
}

TEST_F(CudaTrialTest, TunerRunsTheWorkerForTheGpuAndStoresNothingItCannot) {
  std::unique_ptr<TuningDatabase> database = openDatabase();
  ASSERT_TRUE(database);
  TunerOptions options = makeHopperOptions();
  std::string error;
  options.workerPath = KILN_TUNE_WORKER_PATH;
  options.search.maxTrials = 2;
  options.nvrtc.includeDirs = {KILN_CUDA_ROOT "/include"};
  // The worker opens a driver that is not there: every candidate fails in
  // the worker, the default first, and the tuning says why.
  options.workerArguments = {"--cuda-driver", folder + "/libcuda-missing.so.1"};
  FailureOr<KernelTuning> tuning = tuneKernel(getKernel(), options, *database);
  ASSERT_TRUE(succeeded(tuning));
  EXPECT_EQ(tuning->trials, 2);
  ASSERT_EQ(tuning->failures.size(), 2u);
  EXPECT_EQ(tuning->failures[0].config.rfind("#kiln.cuda_config<", 0), 0u);
  EXPECT_EQ(tuning->failures[0].result.reason.rfind("no CUDA device: ", 0), 0u)
      << tuning->failures[0].result.reason;
  EXPECT_NE(tuning->error.find("no candidate config"), std::string::npos);
  EXPECT_TRUE(database->list().empty());
}

} // namespace
