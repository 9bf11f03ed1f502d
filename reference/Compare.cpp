//===- Compare.cpp - Compiled outputs against the reference ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "reference/Compare.h"

#include <algorithm>
#include <cmath>

namespace kiln::reference {

Tolerance getTolerance(ElementType type, ToleranceScope scope) {
  bool model = scope == ToleranceScope::Model;
  switch (type) {
  case ElementType::F32:
    return {1e-4, 1e-5};
  case ElementType::BF16:
    return {2e-2, model ? 5e-2 : 1e-2};
  case ElementType::F16:
    return {2e-3, model ? 1e-2 : 1e-3};
  case ElementType::I32:
  case ElementType::I64:
    return {0, 0};
  }
  return {};
}

Tolerance getCancellationTolerance(const HostTensor &expected,
                                   ToleranceScope scope) {
  Tolerance tolerance = getTolerance(expected.getElementType(), scope);
  int64_t count = expected.getNumElements();
  if (!isFloatType(expected.getElementType()) || count == 0)
    return tolerance;
  double sumSquares = 0;
  for (int64_t i = 0; i < count; ++i) {
    double value = expected.getFloat(i);
    sumSquares += value * value;
  }
  tolerance.atol =
      std::max(tolerance.atol, tolerance.rtol * std::sqrt(sumSquares / count));
  return tolerance;
}

/// Whether `got` is within `tolerance` of `want`; NaN matches only NaN and
/// an infinity only itself.
static bool isClose(double got, double want, Tolerance tolerance) {
  if (std::isnan(want) || std::isnan(got))
    return std::isnan(want) && std::isnan(got);
  if (std::isinf(want) || std::isinf(got))
    return got == want;
  return std::fabs(got - want) <=
         tolerance.atol + tolerance.rtol * std::fabs(want);
}

Comparison compareTensors(const HostTensor &actual, const HostTensor &expected,
                          Tolerance tolerance) {
  Comparison result;
  if (actual.getElementType() != expected.getElementType() ||
      actual.getShape() != expected.getShape()) {
    result.typeMismatch =
        "expected " +
        formatTensorType(expected.getElementType(), expected.getShape()) +
        ", got " + formatTensorType(actual.getElementType(), actual.getShape());
    return result;
  }
  bool isFloat = isFloatType(expected.getElementType());
  for (int64_t i = 0, e = expected.getNumElements(); i < e; ++i) {
    // Integers compare exactly, as integers: an i64 may not fit a double.
    bool close;
    double error;
    double want;
    if (isFloat) {
      want = expected.getFloat(i);
      double got = actual.getFloat(i);
      close = isClose(got, want, tolerance);
      error = std::fabs(got - want);
    } else {
      int64_t wantInt = expected.getInt(i), gotInt = actual.getInt(i);
      want = static_cast<double>(wantInt);
      close = gotInt == wantInt;
      error = std::fabs(static_cast<double>(gotInt) - want);
    }
    if (!std::isnan(error)) {
      result.maxAbsError = std::fmax(result.maxAbsError, error);
      if (want != 0)
        result.maxRelError =
            std::fmax(result.maxRelError, error / std::fabs(want));
    }
    if (!close && result.mismatches++ == 0)
      result.firstMismatch = i;
  }
  return result;
}

Comparison compareWithReference(const HostTensor &actual,
                                const HostTensor &expected,
                                ToleranceScope scope) {
  return compareTensors(actual, expected,
                        getTolerance(expected.getElementType(), scope));
}

} // namespace kiln::reference
