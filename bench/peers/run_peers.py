"""Times the zoo models in Kiln, ONNX Runtime and PyTorch in one run.

Run in the kiln venv (build/python-venv). For each case (a zoo model and
knob settings: every model at its defaults, and bigger settings of the
transformer models) it:

1. writes Kiln's weights with `kiln export` and the model's seeded inputs,
   and evaluates Kiln's reference evaluator on them (the oracle);
2. compiles the model with Kiln (default kernel configs, as `kiln bench`),
   checks it against the reference and times a call of the compiled
   module from Python on each thread count;
3. hands the cases to bench/peers/torch_peers.py in the peers venv (torch
   and onnxruntime cannot share a process with the kiln package's numpy),
   which checks and times ONNX Runtime, PyTorch eager and torch.compile
   the same way, a process per peer.

Every implementation is timed as a Python call on ready inputs with the
rule of bench/peers/measure.py (autotune/Measure.h's), so the figures
compare; Kiln's own C++ loop (`kiln bench --suite models`) lacks the few
microseconds a Python call adds. Writes the report of bench/SCHEMA.md,
schema `kiln-bench-peers`.

    run_peers.py --kiln build/bin/kiln --peers-python build/peers-venv/bin/python \\
                 --threads 1,2 --json bench/results/models-peers.json [--smoke]
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

import kiln

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402
from tolerance import Mismatch, max_error  # noqa: E402

SCHEMA_VERSION = 1
# The implementations of bench/peers/torch_peers.py.
PEERS = ("onnxruntime", "torch-eager", "torch-compile")
HERE = os.path.dirname(os.path.abspath(__file__))

# Every model at its defaults, and bigger settings: 128 tokens on a
# 256-wide model (144 patches for the ViT). tiny-multimodal stays at its
# defaults: its blocks are those of vit and moe, and torch.compile of its
# bigger setting alone would take a minute of the run.
LARGE_TEXT = {"seq": 128, "hidden": 256, "ffn": 512}
CASES = [(name, {}) for name in
         ("mlp", "decoder", "moe", "encoder", "vit", "tiny-multimodal")] + [
    ("mlp", {"batch": 64, "in": 256, "hidden": 1024, "out": 256}),
    ("decoder", LARGE_TEXT),
    ("moe", LARGE_TEXT),
    ("encoder", LARGE_TEXT),
    ("vit", {"image": 96, "hidden": 256, "ffn": 512}),
]


def run(command, what):
    """Runs `command`; exits naming `what` when it fails (its own message
    is already on stderr)."""
    if subprocess.run(command, stdout=subprocess.DEVNULL).returncode != 0:
        sys.exit(f"run_peers.py: {what} failed")


def shape_label(knobs):
    """`default`, or the settings as `knob=value,...`."""
    return ",".join(f"{k}={v}" for k, v in knobs.items()) or "default"


def all_knobs(model, settings):
    """Every knob of `model`: `settings` over the defaults, typed."""
    knobs = {}
    for knob in kiln.zoo.knobs(model):
        value = settings.get(knob["name"], knob["default"])
        knobs[knob["name"]] = value if "choices" in knob else int(value)
    return knobs


def prepare_case(kiln_tool, folder, model, settings):
    """Writes the case folder torch_peers.py reads (weights, inputs, the
    reference outputs) and returns the case, the inputs and the reference's
    outputs."""
    os.makedirs(folder, exist_ok=True)
    command = [kiln_tool, "export", "--model", model, "-o",
               os.path.join(folder, "model.mlir")]
    if settings:
        command += ["--set", shape_label(settings)]
    run(command, f"exporting {model}/{shape_label(settings)}")
    reference = kiln.compile(model, knobs=settings, db=False, threads=1)
    inputs = reference.example_inputs(seed=0)
    expected = reference.reference(*inputs)
    names = [name for name, _, _ in reference.inputs]
    np.savez(os.path.join(folder, "inputs.npz"), **dict(zip(names, inputs)))
    np.savez(os.path.join(folder, "expected.npz"),
             **{f"output{i}": y for i, y in enumerate(expected)})
    case = {"model": model, "shape": shape_label(settings),
            "knobs": all_knobs(model, settings), "inputs": names,
            "weights": "model.safetensors"}
    with open(os.path.join(folder, "case.json"), "w") as f:
        json.dump(case, f, indent=1)
    return case, inputs, expected


def time_kiln(case, settings, inputs, expected, threads_list, budget):
    entries = []
    for threads in threads_list:
        start = time.perf_counter()
        module = kiln.compile(case["model"], knobs=settings, db=False, threads=threads)
        label = f"{case['model']}/{case['shape']}: kiln"
        try:
            error = max_error(label, module(*inputs), expected)
        except Mismatch as mismatch:
            sys.exit(f"run_peers.py: {mismatch}")
        prepare = time.perf_counter() - start
        entry = {"name": f"{case['model']}/{case['shape']}/kiln/threads-{threads}",
                 "model": case["model"], "shape": case["shape"],
                 "implementation": "kiln", "threads": threads,
                 "max_abs_error": error, "prepare_seconds": prepare}
        entry.update(measure.measure(lambda: module(*inputs), budget))
        entries.append(entry)
    return entries


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiln", default=os.path.join(HERE, "..", "..", "build", "bin", "kiln"),
                        help="the kiln tool (for `kiln export`)")
    parser.add_argument("--peers-python", required=True,
                        help="the peers venv's python (torch, onnxruntime)")
    parser.add_argument("--threads", default="1", help="thread counts, comma separated")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="seconds of sampling per benchmark at most")
    parser.add_argument("--smoke", action="store_true",
                        help="the default sizes only, 0.05 s per benchmark")
    parser.add_argument("--filter", default="",
                        help="only the cases whose `model/shape` contains this")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    threads_list = [int(t) for t in args.threads.split(",")]
    budget = 0.05 if args.smoke else args.budget
    cases = [(model, settings) for model, settings in CASES
             if not (args.smoke and settings)
             and args.filter in f"{model}/{shape_label(settings)}"]

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    benchmarks, described = [], []
    with tempfile.TemporaryDirectory(prefix="kiln-peers-") as work:
        for index, (model, settings) in enumerate(cases):
            folder = os.path.join(work, f"{index:02d}")
            case, inputs, expected = prepare_case(args.kiln, folder, model, settings)
            described.append({k: case[k] for k in ("model", "shape", "knobs")})
            benchmarks += time_kiln(case, settings, inputs, expected, threads_list, budget)
            print(f"kiln: {model}/{case['shape']} checked and timed", file=sys.stderr)
        # A process per peer: once torch.compile's kernels have run, eager
        # PyTorch in the same process took about a second per call on two
        # threads (PyTorch 2.15), so no peer runs after another.
        for implementation in PEERS:
            peers_json = os.path.join(work, f"{implementation}.json")
            run([args.peers_python, os.path.join(HERE, "torch_peers.py"), work,
                 "--implementations", implementation, "--threads", args.threads,
                 "--budget", str(budget), "--json", peers_json], f"the {implementation} peer")
            with open(peers_json) as f:
                peers = json.load(f)
            benchmarks += peers["benchmarks"]
    report = {
        "schema": "kiln-bench-peers",
        "schema_version": SCHEMA_VERSION,
        "compiler_version": kiln.__version__,
        "date": date,
        "machine": {"cpu": cpu_name(), "threads": threads_list},
        "versions": {"python": platform.python_version(), **peers["versions"]},
        "cases": described,
        "benchmarks": benchmarks,
    }
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)
    print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
