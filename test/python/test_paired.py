"""Tests of bench/structure/paired.py: variants linked into one driver are
each checked and timed call by call against the first, oneDNN among them
when asked, and variants that cannot be checked are refused."""

import os
import subprocess
import sys

import pytest

from structure_setup import KILN_OPT, ROOT, STRUCTURE, needs_tools

TOOL = os.path.join(STRUCTURE, "paired.py")

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
    assert [row[:2] for row in table] == [["one", "all"], ["two", "all"]]
    assert table[0][4:] == ["1.0000", "1.0000", "1.0000"]
    assert all(float(row[2]) > 0 and float(row[4]) > 0 for row in table)


@needs_tools
def test_each_variant_is_timed_under_each_cold_mode():
    result = run_tool("--cold", "none,rhs,caches",
                      "one=config:" + CONFIG.format(0),
                      "two=config:" + CONFIG.format(128))
    assert result.returncode == 0, result.stderr
    assert [row[:2] for row in rows(result)] == [
        ["one", "none"], ["one", "rhs"], ["one", "caches"],
        ["two", "none"], ["two", "rhs"], ["two", "caches"]]


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


@pytest.mark.parametrize("cold, message", [
    ("warm",
     "--cold 'warm' is not one of none, lhs, rhs, inputs, all, caches"),
    ("rhs,rhs", "--cold 'rhs,rhs' names a mode twice"),
])
def test_unknown_or_repeated_cold_modes_are_refused(cold, message):
    result = run_tool("--cold", cold, "one=config:" + CONFIG.format(0))
    assert result.returncode == 2
    assert message in result.stderr
