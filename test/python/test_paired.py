"""Tests of bench/structure/paired.py: variants linked into one driver are
each checked and timed call by call against the first, oneDNN among them
when asked, and variants that cannot be checked are refused."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
STRUCTURE = os.path.join(ROOT, "bench", "structure")
TOOL = os.path.join(STRUCTURE, "paired.py")
BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(ROOT, "build"))
KILN_OPT = os.path.join(BUILD, "bin", "kiln-opt")

sys.path.insert(0, STRUCTURE)
import matmul_structure  # noqa: E402

needs_tools = pytest.mark.skipif(
    not (os.path.exists(KILN_OPT)
         and os.path.exists(matmul_structure.LLVM_BIN / "llc")),
    reason="needs build/bin/kiln-opt and LLVM 22's tools")

CONFIG = ("tile_sizes = [{}, 0], vector_width = 16, micro_tile = [8, 32, 1], "
          "pack_matmul = true, k_block = 128, pack_lhs = true, m_block = 64")


def run_tool(*arguments):
    return subprocess.run(
        [sys.executable, TOOL, "--kiln-opt", KILN_OPT, "--shape",
         "256x512x192", "--repeats", "5", *arguments],
        capture_output=True, text=True, cwd=ROOT)


def rows(result):
    return [row.split() for row in result.stdout.splitlines()[2:]]


@needs_tools
def test_variants_are_timed_against_the_first_on_threads():
    # The second variant's two tiles go to two threads.
    result = run_tool("--threads", "2", "--cold", "all",
                      "one=config:" + CONFIG.format(0),
                      "two=config:" + CONFIG.format(128))
    assert result.returncode == 0, result.stderr
    table = rows(result)
    assert [row[0] for row in table] == ["one", "two"]
    assert table[0][3:] == ["1.0000", "1.0000", "1.0000"]
    assert all(float(row[1]) > 0 and float(row[3]) > 0 for row in table)


@needs_tools
@pytest.mark.skipif(not os.path.exists("/usr/include/oneapi/dnnl/dnnl.h"),
                    reason="needs oneDNN's headers")
def test_onednn_is_the_last_variant():
    result = run_tool("--onednn", "one=config:" + CONFIG.format(0))
    assert result.returncode == 0, result.stderr
    assert [row[0] for row in rows(result)] == ["one", "onednn"]


def test_ablations_are_refused():
    result = run_tool("stale=--tile-cols 64 --stale-rhs")
    assert result.returncode == 2
    assert "variant 'stale' is an ablation" in result.stderr
