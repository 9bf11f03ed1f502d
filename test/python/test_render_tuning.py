"""Tests of bench/render_benchmarks.py's tuned matmul table: with one
`kiln bench` report per process, each figure is the median over the
processes and the ratio the median of each process's own ratio."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import render_benchmarks  # noqa: E402


def report(kiln, onednn, stable=True):
    """One process's report of one shape, in GFLOP/s."""
    def result(implementation, gflops):
        return {"shape": "64x64x64", "implementation": implementation,
                "gflops": gflops, "stable": stable}
    return {"machine": {"peak_gflops": 300.0},
            "benchmarks": [result("kiln", kiln), result("onednn", onednn)]}


def cells(row):
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_figures_are_medians_and_the_ratio_is_per_process():
    # The slowest Kiln process met the fastest oneDNN one: a ratio of the
    # medians (250 / 250) would read 1.00, each process's own ratio says
    # Kiln is ahead in two of three.
    runs = [report(240, 260), report(250, 240), report(260, 250)]
    [row] = render_benchmarks.tuned_matmul_rows("1", runs)
    assert cells(row) == ["64x64x64", "1", "250.0", "-", "250.0", "1.04",
                          "0.92-1.04", "83% of 300"]


def test_noisy_only_when_most_processes_were():
    runs = [report(250, 250, stable=False), report(250, 250),
            report(250, 250)]
    [row] = render_benchmarks.tuned_matmul_rows("2", runs)
    assert "(noisy)" not in row
    runs[1] = report(250, 250, stable=False)
    [row] = render_benchmarks.tuned_matmul_rows("2", runs)
    assert cells(row)[2] == "250.0 (noisy)"
    assert cells(row)[-1] == "-"
