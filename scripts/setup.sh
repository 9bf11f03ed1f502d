#!/usr/bin/env bash
# Kiln's set-up: installs everything Kiln needs on a fresh Debian 12 machine,
# then configures and builds the project. Idempotent: when every package is
# present it only runs an incremental build.
#
#   scripts/setup.sh            install what is missing, configure, build
#   scripts/setup.sh --no-build install only
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${KILN_BUILD_DIR:-$here/build}

packages=(
  # Toolchain and build.
  cmake ninja-build ccache g++
  # LLVM/MLIR 22 (brings lit and FileCheck through llvm-22-tools).
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  # Libraries.
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev sqlite3
  nlohmann-json3-dev zlib1g-dev libzstd-dev
  # Peers the benchmarks measure against (bench/ only, never linked into
  # Kiln's libraries).
  libopenblas-dev libdnnl-dev
  # Instruction counts where the CPU gives no counter (kiln bench --counts),
  # and the plots of BENCHMARKS.md (scripts/bench.sh).
  valgrind python3-matplotlib
  # ONNX import: the ONNX protobuf schema (C++) and protobuf itself.
  libonnx-dev libprotobuf-dev protobuf-compiler
  # Python for lit and the test harness; onnx and numpy build the ONNX test
  # models and their expected outputs.
  python3 python3-onnx python3-numpy
  # The kiln Python package: its extension, the venv it installs into, and
  # its tests.
  pybind11-dev python3-dev python3-venv python3-pip python3-setuptools
  python3-pytest
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ "${1:-}" = "--no-build" ] && exit 0

if [ ! -f "$build_dir/build.ninja" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -G Ninja -S "$here" -B "$build_dir" \
    -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_DIR=/usr/lib/llvm-22/lib/cmake/llvm \
    -DPython3_EXECUTABLE=/usr/bin/python3 \
    "${launcher[@]}"
fi
cmake --build "$build_dir"

# The kiln Python package, installed into a venv: Debian's Python is
# externally managed (PEP 668). The venv sees the apt packages (numpy, onnx,
# pytest); pip only packs what CMake built, so it needs no network.
venv=$build_dir/python-venv
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
KILN_BUILD_DIR=$build_dir "$venv/bin/pip" install --quiet --no-build-isolation \
  --no-deps --force-reinstall "$here"

# The peers (PyTorch, ONNX Runtime, transformers, timm) in a venv of their
# own, from PyPI: tests export real models with them and compare with ONNX
# Runtime; benchmarks time them beside Kiln. Reinstalled only when
# scripts/peers-requirements.txt changes.
peers=$build_dir/peers-venv
peers_req=$here/scripts/peers-requirements.txt
if ! cmp -s "$peers_req" "$peers/requirements.installed"; then
  echo "setup: installing the peers into $peers (PyPI, several GB)"
  [ -x "$peers/bin/python" ] || /usr/bin/python3 -m venv "$peers"
  "$peers/bin/pip" install --quiet --disable-pip-version-check -r "$peers_req"
  cp "$peers_req" "$peers/requirements.installed"
fi
