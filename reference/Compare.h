//===- Compare.h - Compiled outputs against the reference ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The one tolerance policy of Kiln: how close a compiled model's output must
// be to the reference evaluator's, per element type. An element passes when
//
//   |actual - expected| <= atol + rtol * |expected|
//
// with, for one kernel, f32 rtol 1e-4 / atol 1e-5, bf16 rtol 2e-2 / atol
// 1e-2 and f16 rtol 2e-3 / atol 1e-3. A whole model in bf16 or f16 gets a
// looser atol (bf16 5e-2, f16 1e-2): the reference rounds after every op and
// a compiled model after every kernel, so the roundings differ at every
// kernel boundary and values that cancel to near zero keep a few ulps of
// the larger terms they came from. Integers must be equal, and NaN matches
// only NaN. No MLIR dependency: `kiln run`, the tests and the autotuner's
// correctness check all call this.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_REFERENCE_COMPARE_H_
#define KILN_REFERENCE_COMPARE_H_

#include "runtime/HostTensor.h"

#include <cstdint>
#include <string>

namespace kiln::reference {

/// Relative and absolute tolerance of an element comparison.
struct Tolerance {
  double rtol = 0;
  double atol = 0;
};

/// What a compiled output went through since its inputs.
enum class ToleranceScope {
  /// One kernel.
  Kernel,
  /// A whole model: a chain of kernels.
  Model,
};

/// The tolerance for outputs of element type `type` (zero for integers).
Tolerance getTolerance(ElementType type,
                       ToleranceScope scope = ToleranceScope::Kernel);

/// getTolerance(expected's type, scope) with atol raised to rtol times the
/// root mean square of `expected`, for results that sum many terms: one that
/// cancels to near zero keeps rounding errors of the size of the terms it
/// summed (a 512-deep f32 dot product of normal inputs misses an atol of
/// 1e-5 by rounding alone), while a wrong computation misses by far more.
/// The autotuner's correctness check of candidate configs uses it.
Tolerance
getCancellationTolerance(const HostTensor &expected,
                         ToleranceScope scope = ToleranceScope::Kernel);

/// The outcome of comparing an output with its reference.
struct Comparison {
  /// Largest |actual - expected| over the elements.
  double maxAbsError = 0;
  /// Largest |actual - expected| / |expected| over elements with expected
  /// != 0.
  double maxRelError = 0;
  /// Elements outside the tolerance.
  int64_t mismatches = 0;
  /// The first of them (flat row-major index), or -1.
  int64_t firstMismatch = -1;
  /// Set when the tensors' types or shapes differ; nothing else is compared.
  std::string typeMismatch;

  bool passed() const { return mismatches == 0 && typeMismatch.empty(); }
};

/// Compares `actual` with `expected` element by element under `tolerance`.
Comparison compareTensors(const HostTensor &actual, const HostTensor &expected,
                          Tolerance tolerance);

/// compareTensors with getTolerance of `expected`'s element type.
Comparison
compareWithReference(const HostTensor &actual, const HostTensor &expected,
                     ToleranceScope scope = ToleranceScope::Kernel);

} // namespace kiln::reference

#endif // KILN_REFERENCE_COMPARE_H_
