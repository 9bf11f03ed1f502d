//===- ExecutorTest.cpp - Tests for loading and running models --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Builds artifacts whose code section is the KilnTestKernels shared object,
// loads them, runs them on 1 to 8 threads and compares with values computed
// here. The model's memory plan reuses arena bytes, so a wrong plan or a
// tile run twice or never shows as a wrong result.
//
//===----------------------------------------------------------------------===//

#include "runtime/Executor.h"

#include "runtime/Artifact.h"
#include "runtime/MemoryPlan.h"
#include "runtime/Random.h"
#include "test/unit/runtime/TestKernels.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#ifndef KILN_TEST_KERNELS_PATH
#error "KILN_TEST_KERNELS_PATH must name the test kernels' shared object"
#endif

using namespace kiln;

static constexpr int64_t kRows = KILN_TEST_ROWS;
static constexpr int64_t kCols = KILN_TEST_COLS;
static constexpr int64_t kOutCols = KILN_TEST_OUT_COLS;
static constexpr int64_t kMatrixBytes = kRows * kCols * 4;

namespace {
/// Gives each test its own artifact path under GoogleTest's temporary
/// directory.
class ExecutorTest : public ::testing::Test {
protected:
  std::string path(const std::string &suffix = "") const {
    const ::testing::TestInfo *info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    return ::testing::TempDir() + "kiln_executor_" + info->name() + suffix +
           ".kiln";
  }
};

/// The inputs of the chain model and the outputs it must produce.
struct ChainValues {
  HostTensor x, y, out, shifted;
};
} // namespace

//===----------------------------------------------------------------------===//
// The chain model
//===----------------------------------------------------------------------===//

static std::vector<uint8_t> readTestKernels() {
  std::ifstream file(KILN_TEST_KERNELS_PATH, std::ios::binary);
  EXPECT_TRUE(file.good()) << "cannot read " << KILN_TEST_KERNELS_PATH;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(file), {});
}

static HostTensor makeRandom(std::vector<int64_t> shape, uint64_t seed) {
  HostTensor tensor(ElementType::F32, std::move(shape));
  Random random(seed);
  for (int64_t i = 0; i < tensor.getNumElements(); ++i)
    tensor.setFloat(i, static_cast<float>(random.uniform(-1.0, 1.0)));
  return tensor;
}

static HostTensor makeWeight() { return makeRandom({kCols, kOutCols}, 99); }

static StepArg input(int64_t index) { return {StepArgKind::Input, index, ""}; }
static StepArg output(int64_t index) {
  return {StepArgKind::Output, index, ""};
}
static StepArg buffer(int64_t id) { return {StepArgKind::Buffer, id, ""}; }
static StepArg weight(const char *name) {
  return {StepArgKind::Weight, 0, name};
}

/// A model of the test kernels, with three intermediate buffers:
///   0  add(x, y)       -> b0       b0 = x + y
///   1  add(b0, x)      -> b1       b1 = 2x + y
///   2  accumulate(y)   -> b1       b1 = 2x + 2y, in place
///   3  add(b1, b1)     -> b2       b2 = 4x + 4y; b0 is dead, so b2 takes
///                                  its bytes
///   4  matmul(b2, w)   -> out
///   5  add(b2, x)      -> shifted  shifted = 5x + 4y
static Artifact makeChainModel() {
  Artifact artifact;
  Manifest &manifest = artifact.manifest;
  manifest.compilerVersion = "test";
  manifest.target = R"({"arch":"host"})";
  manifest.inputs = {{"x", ElementType::F32, {kRows, kCols}},
                     {"y", ElementType::F32, {kRows, kCols}}};
  manifest.outputs = {{"out", ElementType::F32, {kRows, kOutCols}},
                      {"shifted", ElementType::F32, {kRows, kCols}}};
  int64_t elementwise = 2 * kRows * kCols;
  manifest.steps = {
      {"add",
       "kiln_test_add",
       {input(0), input(1), buffer(0)},
       kRows,
       {"kiln.add"},
       kRows * kCols,
       elementwise * 6},
      {"add",
       "kiln_test_add",
       {buffer(0), input(0), buffer(1)},
       kRows,
       {"kiln.add"},
       kRows * kCols,
       elementwise * 6},
      {"accumulate",
       "kiln_test_accumulate",
       {input(1), buffer(1)},
       kRows,
       {"kiln.add"},
       kRows * kCols,
       elementwise * 6},
      {"double",
       "kiln_test_add",
       {buffer(1), buffer(1), buffer(2)},
       kRows,
       {"kiln.add"},
       kRows * kCols,
       elementwise * 6},
      {"matmul",
       "kiln_test_matmul",
       {buffer(2), weight("w"), output(0)},
       kRows,
       {"kiln.matmul"},
       2 * kRows * kCols * kOutCols,
       0},
      {"shift",
       "kiln_test_add",
       {buffer(2), input(0), output(1)},
       kRows,
       {"kiln.add"},
       kRows * kCols,
       elementwise * 6},
  };

  // The compiler's job: plan the buffers from their lifetimes.
  std::vector<BufferLifetime> lifetimes = {{0, kMatrixBytes, 0, 1},
                                           {1, kMatrixBytes, 1, 3},
                                           {2, kMatrixBytes, 3, 5}};
  MemoryPlan plan = planMemory(lifetimes);
  for (size_t i = 0; i < lifetimes.size(); ++i)
    manifest.buffers.push_back(
        {lifetimes[i].id, lifetimes[i].bytes, plan.offsets[i]});
  manifest.arenaBytes = plan.arenaBytes;
  manifest.unplannedBytes = plan.unplannedBytes;

  artifact.code = readTestKernels();
  artifact.weights["w"] = makeWeight();
  return artifact;
}

/// Inputs from `seed` and the outputs computed here, in the kernels' order
/// of float operations.
static ChainValues computeChain(uint64_t seed) {
  ChainValues values{makeRandom({kRows, kCols}, seed),
                     makeRandom({kRows, kCols}, seed + 1),
                     HostTensor(ElementType::F32, {kRows, kOutCols}),
                     HostTensor(ElementType::F32, {kRows, kCols})};
  const float *x = values.x.dataAs<float>(), *y = values.y.dataAs<float>();
  std::vector<float> b2(kRows * kCols);
  for (int64_t i = 0; i < kRows * kCols; ++i) {
    float b1 = (x[i] + y[i]) + x[i];
    b1 += y[i];
    b2[i] = b1 + b1;
    values.shifted.dataAs<float>()[i] = b2[i] + x[i];
  }
  HostTensor w = makeWeight();
  for (int64_t row = 0; row < kRows; ++row)
    for (int64_t col = 0; col < kOutCols; ++col) {
      double sum = 0;
      for (int64_t k = 0; k < kCols; ++k)
        sum += static_cast<double>(b2[row * kCols + k]) *
               w.dataAs<float>()[k * kOutCols + col];
      values.out.dataAs<float>()[row * kOutCols + col] =
          static_cast<float>(sum);
    }
  return values;
}

static void bindChainInputs(CompiledModel &model, const ChainValues &values) {
  std::string error;
  ASSERT_TRUE(model.bindInput(0, values.x, error)) << error;
  ASSERT_TRUE(model.bindInput(1, values.y, error)) << error;
}

/// Checks the model's outputs: `shifted` exactly (same float operations),
/// `out` to float rounding (the kernel sums in f32, this test in f64).
static void expectChainOutputs(const CompiledModel &model,
                               const ChainValues &values) {
  const HostTensor &out = model.output(0);
  const HostTensor &shifted = model.output(1);
  ASSERT_EQ(out.getShape(), values.out.getShape());
  ASSERT_EQ(shifted.getShape(), values.shifted.getShape());
  for (int64_t i = 0; i < shifted.getNumElements(); ++i)
    ASSERT_EQ(shifted.getFloat(i), values.shifted.getFloat(i))
        << "shifted[" << i << "]";
  for (int64_t i = 0; i < out.getNumElements(); ++i)
    ASSERT_NEAR(out.getFloat(i), values.out.getFloat(i), 1e-5)
        << "out[" << i << "]";
}

static std::optional<CompiledModel> writeAndLoad(const std::string &path,
                                                 const Artifact &artifact,
                                                 int numThreads) {
  std::string error;
  EXPECT_TRUE(writeArtifact(path, artifact, error)) << error;
  LoadOptions options;
  options.numThreads = numThreads;
  std::optional<CompiledModel> model =
      CompiledModel::load(path, options, error);
  EXPECT_TRUE(model.has_value()) << error;
  return model;
}

/// Loads `artifact` and checks that loading fails with a message naming
/// the file and containing each of `words`.
static void expectLoadError(const std::string &path, const Artifact &artifact,
                            std::initializer_list<std::string> words) {
  std::string error;
  ASSERT_TRUE(writeArtifact(path, artifact, error)) << error;
  EXPECT_FALSE(CompiledModel::load(path, LoadOptions(), error).has_value());
  EXPECT_NE(error.find("'" + path + "'"), std::string::npos) << error;
  for (const std::string &word : words)
    EXPECT_NE(error.find(word), std::string::npos)
        << "expected '" << word << "' in: " << error;
}

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

TEST_F(ExecutorTest, RunsOnAnyNumberOfThreads) {
  ChainValues values = computeChain(/*seed=*/1);
  for (int threads : {1, 2, 3, 8}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    std::optional<CompiledModel> model =
        writeAndLoad(path(), makeChainModel(), threads);
    ASSERT_TRUE(model.has_value());
    EXPECT_EQ(model->numThreads(), threads);
    ASSERT_EQ(model->inputs().size(), 2u);
    EXPECT_EQ(model->inputs()[1].name, "y");
    ASSERT_EQ(model->outputs().size(), 2u);
    EXPECT_EQ(model->outputs()[0].shape,
              (std::vector<int64_t>{kRows, kOutCols}));
    bindChainInputs(*model, values);
    std::string error;
    ASSERT_TRUE(model->run(error)) << error;
    expectChainOutputs(*model, values);
  }
}

TEST_F(ExecutorTest, ThePlanReusesArenaMemory) {
  std::optional<CompiledModel> model =
      writeAndLoad(path(), makeChainModel(), 2);
  ASSERT_TRUE(model.has_value());
  const Manifest &manifest = model->manifest();
  EXPECT_EQ(manifest.unplannedBytes, 3 * kMatrixBytes);
  EXPECT_EQ(manifest.arenaBytes, 2 * kMatrixBytes);
  // b2 is written over b0 while b1, live at the same time, stays apart; the
  // results are still right.
  EXPECT_EQ(manifest.buffers[2].offset, manifest.buffers[0].offset);
  EXPECT_NE(manifest.buffers[1].offset, manifest.buffers[0].offset);
  ChainValues values = computeChain(/*seed=*/2);
  bindChainInputs(*model, values);
  std::string error;
  ASSERT_TRUE(model->run(error)) << error;
  expectChainOutputs(*model, values);
}

TEST_F(ExecutorTest, RunsRepeatedlyAndWithNewInputs) {
  std::optional<CompiledModel> model =
      writeAndLoad(path(), makeChainModel(), 2);
  ASSERT_TRUE(model.has_value());
  for (int64_t i = 0; i < model->output(0).getNumElements(); ++i)
    ASSERT_EQ(model->output(0).getFloat(i), 0.0f); // Zeros before a run.

  ChainValues first = computeChain(/*seed=*/3);
  bindChainInputs(*model, first);
  std::string error;
  for (int run = 0; run < 3; ++run) {
    // The in-place step must start from freshly computed bytes each run.
    ASSERT_TRUE(model->run(error)) << error;
    expectChainOutputs(*model, first);
  }
  ChainValues second = computeChain(/*seed=*/4);
  bindChainInputs(*model, second);
  ASSERT_TRUE(model->run(error)) << error;
  expectChainOutputs(*model, second);
}

TEST_F(ExecutorTest, TimesEveryStep) {
  std::optional<CompiledModel> model =
      writeAndLoad(path(), makeChainModel(), 2);
  ASSERT_TRUE(model.has_value());
  EXPECT_TRUE(model->lastRunTimings().empty());
  bindChainInputs(*model, computeChain(/*seed=*/5));
  std::string error;
  ASSERT_TRUE(model->run(error)) << error;
  std::vector<StepTiming> timings = model->lastRunTimings();
  ASSERT_EQ(timings.size(), model->manifest().steps.size());
  for (size_t i = 0; i < timings.size(); ++i) {
    EXPECT_EQ(timings[i].kernel, model->manifest().steps[i].kernel);
    EXPECT_GE(timings[i].seconds, 0.0);
    EXPECT_LT(timings[i].seconds, 10.0);
  }
  ASSERT_TRUE(model->run(error)) << error;
  EXPECT_EQ(model->lastRunTimings().size(), timings.size());
}

TEST_F(ExecutorTest, ModelsAreIndependentAndMovable) {
  std::optional<CompiledModel> a =
      writeAndLoad(path("_a"), makeChainModel(), 2);
  std::optional<CompiledModel> b =
      writeAndLoad(path("_b"), makeChainModel(), 1);
  ASSERT_TRUE(a.has_value() && b.has_value());
  ChainValues valuesA = computeChain(/*seed=*/6);
  ChainValues valuesB = computeChain(/*seed=*/7);
  bindChainInputs(*a, valuesA);
  bindChainInputs(*b, valuesB);
  std::string error;
  ASSERT_TRUE(a->run(error)) << error;
  ASSERT_TRUE(b->run(error)) << error;
  expectChainOutputs(*a, valuesA);
  expectChainOutputs(*b, valuesB);

  // A moved model keeps its bindings and still runs.
  CompiledModel moved = std::move(*a);
  a.reset();
  ASSERT_TRUE(moved.run(error)) << error;
  expectChainOutputs(moved, valuesA);
  expectChainOutputs(*b, valuesB);
}

//===----------------------------------------------------------------------===//
// Binding errors
//===----------------------------------------------------------------------===//

TEST_F(ExecutorTest, BindInputChecksTypeAndShapeExactly) {
  std::optional<CompiledModel> model =
      writeAndLoad(path(), makeChainModel(), 1);
  ASSERT_TRUE(model.has_value());
  std::string error;
  EXPECT_FALSE(
      model->bindInput(1, HostTensor(ElementType::F32, {kRows, 15}), error));
  EXPECT_NE(error.find("input 'y'"), std::string::npos) << error;
  EXPECT_NE(error.find("expects 37x16xf32, got 37x15xf32"), std::string::npos)
      << error;

  EXPECT_FALSE(model->bindInput(
      1, HostTensor(ElementType::BF16, {kRows, kCols}), error));
  EXPECT_NE(error.find("expects 37x16xf32, got 37x16xbf16"), std::string::npos)
      << error;

  EXPECT_FALSE(model->bindInput(
      0, HostTensor(ElementType::F32, {1, kRows, kCols}), error));
  EXPECT_NE(error.find("input 'x'"), std::string::npos) << error;
  EXPECT_NE(error.find("got 1x37x16xf32"), std::string::npos) << error;

  EXPECT_FALSE(
      model->bindInput(2, HostTensor(ElementType::F32, {kRows, kCols}), error));
  EXPECT_NE(error.find("no input 2 (it has 2)"), std::string::npos) << error;
}

TEST_F(ExecutorTest, RunNeedsEveryInputBound) {
  std::optional<CompiledModel> model =
      writeAndLoad(path(), makeChainModel(), 1);
  ASSERT_TRUE(model.has_value());
  ChainValues values = computeChain(/*seed=*/8);
  std::string error;
  ASSERT_TRUE(model->bindInput(0, values.x, error)) << error;
  // A rejected bind leaves the input unbound.
  EXPECT_FALSE(
      model->bindInput(1, HostTensor(ElementType::F32, {kRows, 1}), error));
  EXPECT_FALSE(model->run(error));
  EXPECT_NE(error.find("input 'y' is not bound"), std::string::npos) << error;
  EXPECT_NE(error.find(path()), std::string::npos) << error;
  EXPECT_TRUE(model->lastRunTimings().empty());
}

//===----------------------------------------------------------------------===//
// Load errors
//===----------------------------------------------------------------------===//

TEST_F(ExecutorTest, MissingSymbolFailsToLoad) {
  Artifact artifact = makeChainModel();
  artifact.manifest.steps[4].symbol = "kiln_test_transpose";
  expectLoadError(path(), artifact,
                  {"step 4 ('matmul')", "no symbol 'kiln_test_transpose'"});
}

TEST_F(ExecutorTest, CodeThatIsNotASharedObjectFailsToLoad) {
  Artifact artifact = makeChainModel();
  const char garbage[] = "#!/bin/sh\necho not a shared object\n";
  artifact.code.assign(garbage, garbage + sizeof(garbage) - 1);
  expectLoadError(path(), artifact, {"cannot load the kernel code"});
}

TEST_F(ExecutorTest, CorruptArtifactFailsToLoad) {
  std::string error;
  ASSERT_TRUE(writeArtifact(path(), makeChainModel(), error)) << error;
  std::filesystem::resize_file(path(), 100);
  EXPECT_FALSE(CompiledModel::load(path(), LoadOptions(), error).has_value());
  EXPECT_NE(error.find("failed to read artifact '" + path() + "'"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
}

TEST_F(ExecutorTest, NegativeThreadCountFailsToLoad) {
  std::string error;
  ASSERT_TRUE(writeArtifact(path(), makeChainModel(), error)) << error;
  LoadOptions options;
  options.numThreads = -1;
  EXPECT_FALSE(CompiledModel::load(path(), options, error).has_value());
  EXPECT_NE(error.find("thread count -1 is negative"), std::string::npos)
      << error;
}

TEST_F(ExecutorTest, UnloadedCodeIsNeverReused) {
  // The test kernels are linked with -z nodelete, so they stay loaded after
  // the first model goes. The second model's code is not a shared object;
  // getting the first model's kernels instead would be silently wrong.
  {
    std::optional<CompiledModel> first =
        writeAndLoad(path("_first"), makeChainModel(), 1);
    ASSERT_TRUE(first.has_value());
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    Artifact artifact = makeChainModel();
    const char garbage[] = "not a shared object";
    artifact.code.assign(garbage, garbage + sizeof(garbage) - 1);
    expectLoadError(path(), artifact, {"cannot load the kernel code"});
  }
}
