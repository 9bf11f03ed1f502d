//===- FileBytes.cpp - Whole files in memory --------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "runtime/FileBytes.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace kiln {

std::string describeErrno(int error) {
  if (error == 0)
    return "";
  return std::string(" (") + std::strerror(error) + ")";
}

bool readFileBytes(const std::string &path, std::vector<uint8_t> &bytes,
                   std::string &message) {
  errno = 0;
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    message = "cannot open file" + describeErrno(errno);
    return false;
  }
  file.seekg(0, std::ios::end);
  std::streamoff end = file.tellg();
  file.seekg(0, std::ios::beg);
  if (!file || end < 0) {
    message = "cannot determine the file size";
    return false;
  }
  bytes.resize(static_cast<size_t>(end));
  if (!file.read(reinterpret_cast<char *>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()))) {
    message = "cannot read the file" + describeErrno(errno);
    return false;
  }
  return true;
}

} // namespace kiln
