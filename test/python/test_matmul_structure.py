"""Tests of bench/structure/matmul_structure.py: the loop structures that
bench/NOTES.md compares compute the right matmul through Kiln's backend, a
wrong result fails the run, and options that do not fit together are
refused before anything is built."""

import os
import subprocess
import sys

import pytest

from structure_setup import (KILN_OPT, ROOT, STRUCTURE, matmul_structure,
                             needs_tools)

TOOL = os.path.join(STRUCTURE, "matmul_structure.py")

SHAPE = "256x512x256"

# The structures bench/NOTES.md cites, scaled to SHAPE.
STRUCTURES = [
    "base=",
    "tall=--tile-rows 256 --tile-cols 128 --row-outer --in-place "
    "--prefetch-result --prefetch-next-lhs",
    "goto=--tile-cols 256 --m-block 128 --pack-lhs --in-place "
    "--prefetch-result --prefetch-packed-lhs 32",
    "rowouter=--row-outer --prefetch-rhs 16 --prefetch-pack 4 --k-block 128",
]


def run_tool(*arguments):
    return subprocess.run(
        [sys.executable, TOOL, "--kiln-opt", KILN_OPT, "--shape", SHAPE,
         "--rounds", "1", "--repeats", "1", *arguments],
        capture_output=True, text=True, cwd=ROOT)


@needs_tools
def test_every_structure_computes_the_matmul():
    result = run_tool(*STRUCTURES)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[2:]
    assert [row.split()[0] for row in rows] == ["base", "tall", "goto",
                                                "rowouter"]
    assert all(float(row.split()[1]) > 0 for row in rows)


@needs_tools
def test_a_wrong_result_fails(tmp_path):
    # The stale-rhs ablation computes with unpacked panels; checked anyway,
    # the driver must reject it.
    options = matmul_structure.structure_parser().parse_args(["--stale-rhs"])
    kernel = matmul_structure.Kernel(options, 256, 512, 256)
    executable = matmul_structure.build(kernel, "stale", tmp_path, KILN_OPT)
    result = subprocess.run(
        [str(executable), "256", "512", "256", str(kernel.tiles), "1", "1"],
        capture_output=True, text=True)
    assert result.returncode == 1
    assert "wrong result at" in result.stderr


@needs_tools
def test_config_variants_are_the_compilers_checked_kernels(tmp_path):
    # The compiler's kernels for two configs, the second in two tiles of 8 x
    # 48 register tiles: the driver checks each result and runs every tile.
    config = ("tile_sizes = [{}, 0], vector_width = 16, micro_tile = [8, {}, "
              "1], pack_matmul = true, k_block = 128, pack_lhs = true, "
              "m_block = 64")
    result = subprocess.run(
        [sys.executable, TOOL, "--kiln-opt", KILN_OPT, "--shape",
         "256x512x192", "--rounds", "1", "--repeats", "1",
         "w32=config:" + config.format(0, 32),
         "w48=config:" + config.format(128, 48)],
        capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[2:]
    assert [row.split()[0] for row in rows] == ["w32", "w48"]
    kernel = matmul_structure.ConfigKernel(config.format(128, 48), 256, 512,
                                           192)
    matmul_structure.build(kernel, "w48", tmp_path, KILN_OPT)
    assert kernel.tiles == 2


@needs_tools
def test_ablations_are_marked_and_not_checked():
    result = run_tool("base=", "stale=--stale-rhs")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].endswith("(ablation, not checked)")


@pytest.mark.parametrize("options, message", [
    ("--prefetch-result", "--prefetch-result needs --in-place"),
    ("--tile-rows 96", "tile rows 96 does not divide 256"),
    ("--prefetch-packed-lhs 8", "--prefetch-packed-lhs needs --pack-lhs"),
    ("--rows 0", "--rows must be positive"),
])
def test_options_that_do_not_fit_are_refused(options, message):
    result = run_tool(f"bad={options}")
    assert result.returncode == 2
    assert f"variant 'bad': {message}" in result.stderr


def test_a_shape_that_is_not_mxkxn_is_refused():
    result = subprocess.run(
        [sys.executable, TOOL, "--shape", "256x512", "base="],
        capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "--shape '256x512' is not MxKxN" in result.stderr
