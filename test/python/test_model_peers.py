"""Tests of the model peers (bench/peers): the PyTorch zoo computes what
Kiln's reference evaluator computes, on the same weights and inputs; a peer
that disagrees fails the run; the timing rule is autotune/Measure's; the
renderer turns a peers report into tables and a plot."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PEERS = os.path.join(ROOT, "bench", "peers")
BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(ROOT, "build"))
PEERS_PYTHON = os.path.join(BUILD, "peers-venv", "bin", "python")
KILN_TOOL = os.path.join(BUILD, "bin", "kiln")

sys.path.insert(0, PEERS)
import measure  # noqa: E402

needs_peers = pytest.mark.skipif(not os.path.exists(PEERS_PYTHON),
                                 reason="no peers venv (scripts/setup.sh installs it)")

MODELS = ("mlp", "decoder", "moe", "encoder", "vit", "tiny-multimodal")


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """A case folder per zoo model at its default sizes."""
    import run_peers
    directory = tmp_path_factory.mktemp("peers")
    for model in MODELS:
        run_peers.prepare_case(KILN_TOOL, str(directory / model), model, {})
    return directory


def check(cases, implementations):
    """Runs torch_peers.py --check-only over the case folders in `cases`."""
    command = [PEERS_PYTHON, os.path.join(PEERS, "torch_peers.py"), str(cases),
               "--check-only", "--implementations", implementations,
               "--json", str(cases / "checked.json")]
    return subprocess.run(command, capture_output=True, text=True)


@needs_peers
def test_torch_zoo_matches_kiln_reference(cases):
    result = check(cases, "torch-eager")
    assert result.returncode == 0, result.stderr
    with open(cases / "checked.json") as f:
        entries = json.load(f)["benchmarks"]
    assert sorted(e["model"] for e in entries) == sorted(MODELS)
    for entry in entries:
        assert entry["implementation"] == "torch-eager"
        assert 0 <= entry["max_abs_error"] < 1e-3, entry
        assert "median" not in entry  # --check-only times nothing


@needs_peers
def test_onnx_export_of_moe_matches_kiln_reference(tmp_path):
    """The data-dependent routing of the MoE layer survives the export."""
    import run_peers
    run_peers.prepare_case(KILN_TOOL, str(tmp_path / "moe"), "moe", {})
    result = check(tmp_path, "onnxruntime")
    assert result.returncode == 0, result.stderr
    assert os.path.exists(tmp_path / "moe" / "model.onnx")


@needs_peers
def test_peer_that_disagrees_fails_the_run(tmp_path):
    import run_peers
    folder = tmp_path / "mlp"
    run_peers.prepare_case(KILN_TOOL, str(folder), "mlp", {})
    with np.load(folder / "expected.npz") as data:
        expected = data["output0"].copy()
    expected[0, 3] += 1e-2
    np.savez(folder / "expected.npz", output0=expected)
    result = check(tmp_path, "torch-eager")
    assert result.returncode != 0
    assert "mlp/default: torch-eager output 0 differs from Kiln's reference at (0, 3)" \
        in result.stderr


class FakeClock:
    """Each call of the work advances it by `per_call` seconds."""

    def __init__(self, per_call):
        self.now, self.per_call = 0.0, per_call

    def __call__(self):
        return self.now

    def work(self):
        self.now += self.per_call


def test_measure_batches_short_calls_and_stops_when_stable():
    clock = FakeClock(1e-4)
    result = measure.measure(clock.work, budget=1.0, clock=clock)
    assert result["calls_per_sample"] == 10  # 1 ms samples
    assert result["stable"] and len(result["samples"]) == measure.MIN_SAMPLES
    assert result["median"] == pytest.approx(1e-4)


def test_measure_stops_at_the_budget_when_noisy():
    clock = FakeClock(1e-2)
    steps = iter([1e-2, 3e-2] * 1000)

    def noisy():
        clock.now += next(steps)

    result = measure.measure(noisy, budget=0.5, clock=clock)
    assert not result["stable"]
    assert result["iqr"] > measure.STABLE_SPREAD
    assert 0.5 <= clock.now <= 0.6


def bench_report(threads):
    return {"schema": "kiln-bench", "schema_version": 1, "compiler_version": "0.1.0",
            "date": "2025-01-31T12:00:00Z", "suite": "models", "counts": "off",
            "machine": {"fingerprint": "x86_64/test/avx2", "cpu": "Test CPU",
                        "threads": threads, "peak_gflops": 100.0, "stream_gbps": 10.0},
            "benchmarks": []}


def peer_entry(model, shape, implementation, threads, median):
    return {"name": f"{model}/{shape}/{implementation}/threads-{threads}",
            "model": model, "shape": shape, "implementation": implementation,
            "threads": threads, "max_abs_error": 1e-6, "prepare_seconds": 0.1,
            "samples": [median] * 5, "calls_per_sample": 1, "median": median,
            "q1": median, "q3": median, "iqr": 0.0, "stable": implementation != "torch-eager"}


def test_render_shows_each_model_beside_its_peers(tmp_path):
    peers = {"schema": "kiln-bench-peers", "schema_version": 1,
             "compiler_version": "0.1.0", "date": "2025-01-31T12:00:00Z",
             "machine": {"cpu": "Test CPU", "threads": [1, 2]},
             "versions": {"python": "3.11", "torch": "2.0", "onnxruntime": "1.0"},
             "cases": [{"model": "decoder", "shape": "default", "knobs": {}}],
             "benchmarks": []}
    for threads in (1, 2):
        for implementation, median in (("kiln", 1e-3), ("onnxruntime", 2e-3),
                                       ("torch-eager", 5e-3), ("torch-compile", 5e-4)):
            peers["benchmarks"].append(
                peer_entry("decoder", "default", implementation, threads, median / threads))
    paths = {}
    for name, report in (("t1", bench_report(1)), ("t2", bench_report(2)),
                         ("peers", peers)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(report))
    output = tmp_path / "BENCHMARKS.md"
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "render_benchmarks.py"),
                    "--output", str(output), "--plots", str(tmp_path / "plots"),
                    "--command", "scripts/bench.sh", "--peers", str(paths["peers"]),
                    str(paths["t1"]), str(paths["t2"])], check=True)
    text = output.read_text()
    assert "Ratios are peer latency / Kiln latency: above 1, Kiln is faster." in text
    assert ("| `default` | 1 | 1.000 ms | 2.000 ms | 5.000 ms (noisy) | 500.0 us "
            "| 2.00 | 5.00 | 0.50 |") in text
    assert "| `default` | 2 | 500.0 us | 1.000 ms |" in text
    assert (tmp_path / "plots" / "models-peers.png").stat().st_size > 0
    assert "peers for the models" not in text  # measured, so not listed as missing


def test_render_rejects_a_report_of_another_schema(tmp_path):
    bad = tmp_path / "peers.json"
    bad.write_text(json.dumps({"schema": "kiln-bench-peers", "schema_version": 9}))
    report = tmp_path / "t1.json"
    report.write_text(json.dumps(bench_report(1)))
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "render_benchmarks.py"),
         "--output", str(tmp_path / "B.md"), "--plots", str(tmp_path / "plots"),
         "--command", "x", "--peers", str(bad), str(report)],
        capture_output=True, text=True)
    assert result.returncode != 0
    assert "not a kiln-bench-peers report of schema version 1" in result.stderr
