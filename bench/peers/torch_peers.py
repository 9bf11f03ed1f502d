"""Checks and times the PyTorch and ONNX Runtime peers of the zoo models.

Run in the peers venv (build/peers-venv: torch, onnxruntime, numpy 2) by
bench/peers/run_peers.py, which prepares one folder per case:

    case.json           {"model", "shape", "knobs", "inputs", "weights"}
    <weights>           Kiln's weights (`kiln export`), safetensors
    inputs.npz          the inputs Kiln ran on, by input name
    expected.npz        Kiln's reference evaluator on them: output0, ...

For each case it builds the model of bench/peers/torch_zoo.py on those
weights and, per implementation (PyTorch eager, torch.compile with the
default inductor backend, ONNX Runtime on the model exported by
torch.onnx.export) and thread count, checks the outputs against the
reference with Kiln's whole-model f32 tolerance (reference/Compare.h) and
times the call with the rule of bench/peers/measure.py. A peer that
disagrees with the reference is an error: a benchmark of a wrong result is
worthless.

    torch_peers.py CASES_DIR --threads 1,2 --budget 1 --json OUT.json
    torch_peers.py CASES_DIR --check-only --implementations torch-eager,onnxruntime
"""

import argparse
import contextlib
import io
import json
import os
import sys
import time

import numpy as np
import onnxruntime
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402
import torch_zoo  # noqa: E402
from tolerance import Mismatch, max_error  # noqa: E402

IMPLEMENTATIONS = ("onnxruntime", "torch-eager", "torch-compile")


def load_case(folder):
    with open(os.path.join(folder, "case.json")) as f:
        case = json.load(f)
    weights = load_file(os.path.join(folder, case["weights"]))
    with np.load(os.path.join(folder, "inputs.npz")) as data:
        inputs = [data[name] for name in case["inputs"]]
    with np.load(os.path.join(folder, "expected.npz")) as data:
        expected = [data[f"output{i}"] for i in range(len(data.files))]
    case["folder"] = folder
    case["name"] = f"{case['model']}/{case['shape']}"
    return case, weights, inputs, expected


def as_list(outputs):
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


class TorchRunner:
    """PyTorch eager, or through torch.compile, on torch tensors."""

    def __init__(self, model, inputs, compiled):
        self.model = torch.compile(model) if compiled else model
        self.inputs = [torch.from_numpy(x) for x in inputs]

    def __call__(self):
        with torch.inference_mode():
            return [y.numpy() for y in as_list(self.model(*self.inputs))]


class OrtRunner:
    """An ONNX Runtime session on numpy arrays."""

    def __init__(self, path, names, inputs, threads):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        self.session = onnxruntime.InferenceSession(
            path, options, providers=["CPUExecutionProvider"])
        self.feeds = dict(zip(names, inputs))

    def __call__(self):
        return self.session.run(None, self.feeds)


def export_onnx(case, model, inputs):
    """Exports `model` with torch.onnx.export (the dynamo exporter) into the
    case's folder; returns the path and the exporter's seconds."""
    path = os.path.join(case["folder"], "model.onnx")
    start = time.perf_counter()
    # The exporter narrates its steps on stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(model, tuple(torch.from_numpy(x) for x in inputs), path,
                          input_names=case["inputs"], dynamo=True)
    return path, time.perf_counter() - start


def run_case(folder, implementations, threads_list, budget, check_only):
    case, weights, inputs, expected = load_case(folder)
    model = torch_zoo.build(case["model"], case["knobs"], weights)
    onnx_path = export_seconds = None
    if "onnxruntime" in implementations:
        onnx_path, export_seconds = export_onnx(case, model, inputs)
    entries = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        for implementation in implementations:
            start = time.perf_counter()
            if implementation == "onnxruntime":
                runner = OrtRunner(onnx_path, case["inputs"], inputs, threads)
            else:
                # Inductor generates its OpenMP loops for the thread count
                # set when it compiles: compile afresh for each.
                torch._dynamo.reset()
                runner = TorchRunner(model, inputs, implementation == "torch-compile")
            # The first call compiles (torch.compile) or plans (ORT).
            error = max_error(f"{case['name']}: {implementation}", runner(), expected)
            prepare = time.perf_counter() - start
            if implementation == "onnxruntime":
                prepare += export_seconds
            entry = {"name": f"{case['name']}/{implementation}/threads-{threads}",
                     "model": case["model"], "shape": case["shape"],
                     "implementation": implementation, "threads": threads,
                     "max_abs_error": error, "prepare_seconds": prepare}
            if not check_only:
                entry.update(measure.measure(runner, budget))
            entries.append(entry)
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", help="the folder of case folders")
    parser.add_argument("--threads", default="1", help="thread counts, comma separated")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="seconds of sampling per benchmark at most")
    parser.add_argument("--implementations", default=",".join(IMPLEMENTATIONS))
    parser.add_argument("--check-only", action="store_true",
                        help="check every peer's outputs, time nothing")
    parser.add_argument("--json", help="write the entries and versions here")
    args = parser.parse_args()
    implementations = args.implementations.split(",")
    unknown = sorted(set(implementations) - set(IMPLEMENTATIONS))
    if unknown:
        sys.exit(f"torch_peers.py: unknown implementation(s) {', '.join(unknown)} "
                 f"(expected {', '.join(IMPLEMENTATIONS)})")
    threads_list = [int(t) for t in args.threads.split(",")]
    entries = []
    try:
        for case in sorted(os.listdir(args.cases)):
            folder = os.path.join(args.cases, case)
            if not os.path.isdir(folder):
                continue
            entries += run_case(folder, implementations, threads_list, args.budget,
                                args.check_only)
            print(f"peers: {case} checked{'' if args.check_only else ' and timed'}",
                  file=sys.stderr)
    except Mismatch as error:
        sys.exit(f"torch_peers.py: {error}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"versions": {"torch": torch.__version__,
                                    "onnxruntime": onnxruntime.__version__},
                       "benchmarks": entries}, f, indent=1)


if __name__ == "__main__":
    main()
