"""Tests of the kiln Python package: compiled models against Kiln's reference
evaluator, input checking, compiler errors, the GIL and tuning."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import kiln

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_MODELS = os.path.join(HERE, "..", "models", "onnx", "make_models.py")


def assert_matches_reference(module, inputs):
    outputs = module(*inputs)
    expected = module.reference(*inputs)
    assert len(outputs) == len(expected) == len(module.outputs)
    for got, want in zip(outputs, expected):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,knobs", [
    ("mlp", {}),
    ("decoder", {"layers": 1}),
])
def test_zoo_model_matches_reference(name, knobs):
    module = kiln.compile(name, knobs=knobs)
    assert module.num_kernels > 0
    assert_matches_reference(module, module.example_inputs(seed=3))


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("onnx")
    subprocess.run([sys.executable, MAKE_MODELS, "models", str(directory)],
                   check=True, stdout=subprocess.DEVNULL)
    return directory


def test_onnx_file_with_symbolic_dims(onnx_dir):
    module = kiln.compile(onnx_dir / "transformer.onnx",
                          shapes={"x": (2, 8, 32)})
    assert module.inputs == [("x", "f32", (2, 8, 32))]
    x = np.random.default_rng(0).standard_normal((2, 8, 32)).astype(np.float32)
    assert_matches_reference(module, [x])


def test_non_contiguous_input_is_accepted():
    module = kiln.compile("mlp")
    (x,) = module.example_inputs()
    strided = np.asfortranarray(np.repeat(x, 2, axis=0))[::2]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(module(strided)[0], module(x)[0])


def test_bad_inputs_raise():
    module = kiln.compile("mlp")
    (x,) = module.example_inputs()
    with pytest.raises(TypeError, match=r"input 0 'input': expected 1x64xf32"):
        module(x.astype(np.float64))
    with pytest.raises(ValueError, match=r"expected 1x64xf32, got shape \(2, 64\)"):
        module(np.zeros((2, 64), np.float32))
    with pytest.raises(ValueError, match="takes 1 inputs, got 2"):
        module(x, x)
    with pytest.raises(TypeError, match="expected a numpy array, got list"):
        module([0.0] * 64)


def test_compile_error_carries_the_message():
    text = """
    func.func @main(%x: tensor<2x3xf32>, %w: tensor<4x5xf32>) -> tensor<2x5xf32> {
      %y = kiln.matmul %x, %w : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
      return %y : tensor<2x5xf32>
    }
    """
    with pytest.raises(kiln.CompileError,
                       match=r"<mlir text>:3:12: 'kiln.matmul' op expected "
                             r"contraction sizes to match \(lhs 3, rhs 4\)"):
        kiln.compile(text)


def test_bad_knob_raises_compile_error():
    with pytest.raises(kiln.CompileError, match="mlp"):
        kiln.compile("mlp", knobs={"no_such_knob": 1})


def test_unknown_source_raises():
    with pytest.raises(FileNotFoundError, match="neither a file"):
        kiln.compile("no-such-model")


def test_gil_is_released_while_compiling():
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        start = time.monotonic()
        kiln.compile("decoder", knobs={"layers": 2}, db=False)
        end = time.monotonic()
    finally:
        done.set()
        ticker.join()
    during = [t for t in ticks if start < t < end]
    # A thread blocked on the GIL would tick at most a few times.
    assert len(during) > 20, (len(during), end - start)


def test_zoo_lists_models_and_knobs():
    names = kiln.zoo.names()
    assert "mlp" in names and "decoder" in names
    knobs = {knob["name"]: knob for knob in kiln.zoo.knobs("decoder")}
    assert "layers" in knobs and "dtype" in knobs
    assert "f32" in knobs["dtype"]["choices"]


def test_tune_into_a_temporary_database(tmp_path):
    db = tmp_path / "tuning.db"
    rows = kiln.tune("mlp", db=db, budget=2, measure_seconds=0.01)
    assert rows and db.exists()
    assert all(row["tuned_seconds"] > 0 and not row["cached"] for row in rows)
    again = kiln.tune("mlp", db=db, budget=2, measure_seconds=0.01)
    assert all(row["cached"] for row in again)
    module = kiln.compile("mlp", db=db)
    assert module.num_tuned_kernels == module.num_kernels
    assert_matches_reference(module, module.example_inputs())


def test_bench_returns_dicts():
    report = kiln.bench(suite="kernels", filter="^matmul", smoke=True,
                        peers=False, budget=0.01)
    assert report["benchmarks"]
    assert all(result["samples"] for result in report["benchmarks"])
