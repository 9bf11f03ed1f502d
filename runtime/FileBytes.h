//===- FileBytes.h - Whole files in memory ----------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The file readers of the runtime (safetensors, artifacts) read a file whole
// and then parse the bytes, which they check against the real size. No MLIR
// dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_FILEBYTES_H_
#define KILN_RUNTIME_FILEBYTES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

/// Reads the whole file at `path` into `bytes`. On failure returns false and
/// sets `message` to what went wrong, e.g. "cannot open file (No such file
/// or directory)"; the caller adds the path.
bool readFileBytes(const std::string &path, std::vector<uint8_t> &bytes,
                   std::string &message);

/// " (<the system's description>)" for a non-zero errno value, "" for 0.
std::string describeErrno(int error);

} // namespace kiln

#endif // KILN_RUNTIME_FILEBYTES_H_
