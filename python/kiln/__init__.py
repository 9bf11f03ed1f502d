"""Kiln from Python: compile a model, run it on numpy arrays, tune it.

    import kiln
    module = kiln.compile("model.onnx", shapes={"x": (1, 16)})
    (y,) = module(x)

The compiler, runtime, autotuner and benchmarks are Kiln's C++ libraries
(the _kiln extension); this module only decides what a source names and
where the tuning database lives, as the `kiln` tool does.
"""

import json
import os

from . import _kiln, zoo
from ._kiln import CompileError

__all__ = ["CompileError", "Module", "bench", "compile", "default_db_path",
           "tune", "zoo"]

__version__ = _kiln.compiler_version()

_WORKER = os.path.join(os.path.dirname(__file__), "kiln-tune-worker")


def default_db_path():
    """The tuning database `kiln tune` uses: $XDG_CACHE_HOME/kiln/tuning.db,
    else ~/.cache/kiln/tuning.db."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "kiln", "tuning.db")


def _source(source, knobs, shapes):
    """What `source` names: MLIR text, a model file or a zoo model."""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError("source must be a path, MLIR text or a zoo model "
                        f"name, not {type(source).__name__}")
    source = os.fspath(source)
    settings = [f"{name}={value}" for name, value in (knobs or {}).items()]
    shapes = {name: [int(d) for d in shape]
              for name, shape in (shapes or {}).items()}
    if "{" in source or "\n" in source:
        kind = "text"
    elif os.path.exists(source):
        kind = "file"
    elif source in zoo.names():
        kind = "zoo"
    else:
        raise FileNotFoundError(
            f"'{source}' is neither a file, MLIR text nor a zoo model "
            f"({', '.join(zoo.names())})")
    return _kiln.ModelSource(kind, source, settings, shapes)


class Module:
    """A compiled model, callable on numpy arrays (one per input, in order);
    returns one numpy array per output, owned by the caller. Inputs must
    match the model's types and shapes exactly (`inputs`); bf16 tensors
    travel as float32."""

    def __init__(self, compiled):
        self._compiled = compiled

    @property
    def inputs(self):
        """(name, element type, shape) per input."""
        return self._compiled.inputs

    @property
    def outputs(self):
        """(name, element type, shape) per output."""
        return self._compiled.outputs

    @property
    def num_kernels(self):
        return self._compiled.num_kernels

    @property
    def num_tuned_kernels(self):
        """Kernels whose config came from the tuning database."""
        return self._compiled.num_tuned_kernels

    def __call__(self, *arrays):
        return self._compiled.run(list(arrays))

    def reference(self, *arrays):
        """The reference evaluator's outputs on the same inputs."""
        return self._compiled.reference(list(arrays))

    def example_inputs(self, seed=0):
        """Deterministic inputs, as `kiln eval --seed` draws them."""
        return self._compiled.example_inputs(seed)

    def timings(self):
        """(kernel, seconds) per kernel call of the last run."""
        return self._compiled.timings()


def compile(source, target="host", tune=False, shapes=None, fusion=True,
            knobs=None, db=None, threads=0, budget=8):
    """Compiles `source`: a .mlir or .onnx path, MLIR text, or a zoo model
    name (with `knobs`). `shapes` fixes an ONNX model's symbolic dims by
    input name. Configs come from the tuning database `db` (default:
    default_db_path(), when it exists; False: none); with tune=True the
    model is tuned into it first (`budget` candidates per kernel). Raises
    CompileError with the compiler's message."""
    model = _source(source, knobs, shapes)
    if tune:
        _tune(model, target, fusion, db, budget, threads, 0.05)
    if db is False:
        path = ""
    elif db is None:
        path = default_db_path() if os.path.exists(default_db_path()) else ""
    else:
        path = os.fspath(db)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no tuning database '{path}' "
                                    "(kiln.tune(..., db=path) creates one)")
    return Module(_kiln.compile(model, target, fusion, path, threads))


def _tune(model, target, fusion, db, budget, threads, measure_seconds):
    path = default_db_path() if db in (None, False) else os.fspath(db)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return _kiln.tune(model, target, fusion, path, _WORKER, budget, threads,
                      measure_seconds)


def tune(source, target="host", shapes=None, fusion=True, knobs=None,
         db=None, budget=8, threads=0, measure_seconds=0.3):
    """Tunes every kernel of `source` (as kiln.compile takes it) into the
    tuning database `db` (default: default_db_path()), measuring up to
    `budget` candidates per kernel. Returns one dict per kernel: kernel,
    config, cached, default_seconds, tuned_seconds, trials,
    legal_candidates, failures, and error (why nothing was stored when
    every candidate failed; empty otherwise). Tunings are kept per thread
    count: compile with the `threads` you tuned with."""
    return _tune(_source(source, knobs, shapes), target, fusion, db, budget,
                 threads, measure_seconds)


def bench(suite="kernels", target="host", threads=0, filter="", smoke=False,
          budget=0, peers=True):
    """Runs `kiln bench`'s suites; returns the report as a dict
    (bench/SCHEMA.md), one entry per benchmark under "benchmarks"."""
    return json.loads(_kiln.bench(suite, target, threads, filter, smoke,
                                  budget, peers))
