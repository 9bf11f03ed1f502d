"""What the tests of bench/structure's tools share: where the repository,
the tools and kiln-opt are, the tools' module, and the mark of tests that
need kiln-opt and LLVM 22's tools."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
STRUCTURE = os.path.join(ROOT, "bench", "structure")
BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(ROOT, "build"))
KILN_OPT = os.path.join(BUILD, "bin", "kiln-opt")

sys.path.insert(0, STRUCTURE)
import matmul_structure  # noqa: E402

needs_tools = pytest.mark.skipif(
    not (os.path.exists(KILN_OPT)
         and os.path.exists(matmul_structure.LLVM_BIN / "llc")),
    reason="needs build/bin/kiln-opt and LLVM 22's tools")
