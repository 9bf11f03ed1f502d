//===- ModelFolder.cpp - Files beside a model, safely resolved -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "models/io/ModelFolder.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

namespace kiln {

std::optional<std::string> resolveInModelFolder(llvm::StringRef modelPath,
                                                llvm::StringRef name,
                                                std::string &whyNot) {
  namespace fs = llvm::sys::fs;
  namespace path = llvm::sys::path;
  auto refuse = [&](const llvm::Twine &why) -> std::optional<std::string> {
    whyNot = why.str();
    return std::nullopt;
  };
  if (name.empty() || path::is_absolute(name))
    return refuse("must be a relative path inside the model's folder");
  for (llvm::StringRef component :
       llvm::make_range(path::begin(name), path::end(name)))
    if (component == "..")
      return refuse("must not leave the model's folder ('..')");

  llvm::SmallString<256> folder = path::parent_path(modelPath);
  if (folder.empty())
    folder = ".";
  llvm::SmallString<256> candidate = folder;
  path::append(candidate, name);
  llvm::SmallString<256> realFolder, realCandidate;
  if (fs::real_path(folder, realFolder) ||
      fs::real_path(candidate, realCandidate))
    return refuse("not found in the model's folder ('" + folder + "')");
  // A symlink inside the folder may still point elsewhere: compare the
  // resolved paths.
  if (!llvm::StringRef(realCandidate)
           .starts_with((llvm::Twine(realFolder) + "/").str()))
    return refuse("resolves outside the model's folder (through a symlink)");
  if (!fs::is_regular_file(realCandidate))
    return refuse("is not a regular file");
  return std::string(realCandidate);
}

} // namespace kiln
