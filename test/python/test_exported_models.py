"""Models no one in Kiln wrote: transformers' and timm's own definitions,
randomly initialized, exported to ONNX by PyTorch (test/models/torch/
export_models.py, run in the peers venv), compiled by Kiln and compared with
ONNX Runtime's outputs on the same inputs.

The tolerance is the whole-model f32 policy of reference/Compare.h (rtol 1e-4,
atol 1e-5): ONNX Runtime is not Kiln's reference evaluator, but an f32 model
computed in another order still lands within it at these sizes."""

import json
import os
import re
import subprocess

import numpy as np
import pytest

import kiln

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
EXPORT = os.path.join(ROOT, "test", "models", "torch", "export_models.py")
PEERS_PYTHON = os.path.join(ROOT, "build", "peers-venv", "bin", "python")

RTOL, ATOL = 1e-4, 1e-5

# Each model and the kiln ops its import must contain: attention subgraphs
# become kiln.attention, exact GELU kiln.gelu, RMSNorm kiln.rms_norm, the
# router's Softmax and TopK kiln.moe_router.
MODELS = {
    "llama": ["kiln.attention", "kiln.rms_norm", "kiln.silu"],
    "bert": ["kiln.attention", "kiln.gelu", "kiln.layer_norm"],
    "vit_tiny": ["kiln.attention", "kiln.gelu", "kiln.conv2d"],
    "resnet18": ["kiln.conv2d", "kiln.max_pool2d"],
    "mixtral": ["kiln.attention", "kiln.rms_norm", "kiln.moe_router"],
}

# The grouped-query models' key/value heads: their attention must read the
# keys and values before transformers' repeat_kv (one copy per kv head).
KV_HEADS = {"llama": 2, "mixtral": 2}

# The operand types of a kiln.attention: query, key, value.
ATTENTION_TYPES = re.compile(
    r"kiln\.attention .*: \(tensor<(\w+)>, tensor<(\w+)>, tensor<(\w+)>\)")


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    if not os.path.exists(PEERS_PYTHON):
        pytest.skip("build/peers-venv is absent (scripts/setup.sh installs "
                    "PyTorch, transformers, timm and ONNX Runtime there)")
    directory = tmp_path_factory.mktemp("torch-exports")
    subprocess.run([PEERS_PYTHON, EXPORT, str(directory), *MODELS], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return directory


@pytest.mark.parametrize("name", list(MODELS))
def test_exported_model_matches_onnx_runtime(exported, name):
    directory = exported / name
    with open(directory / "shapes.json") as f:
        shapes = {key: tuple(value) for key, value in json.load(f).items()}
    module = kiln.compile(directory / "model.onnx", shapes=shapes)
    inputs = np.load(directory / "inputs.npz")
    expected = np.load(directory / "expected.npz")
    assert [input_name for input_name, _, _ in module.inputs] == list(inputs)
    assert [output_name for output_name, _, _ in module.outputs] == \
        list(expected)
    outputs = module(*[inputs[input_name] for input_name in inputs])
    for got, output_name in zip(outputs, expected):
        want = expected[output_name]
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL,
                                   err_msg="%s: output %s" % (name, output_name))


@pytest.mark.parametrize("name", list(MODELS))
def test_exported_model_imports_fused_ops(exported, name, tmp_path):
    directory = exported / name
    with open(directory / "shapes.json") as f:
        shapes = [argument for key, value in json.load(f).items()
                  for argument in ("--shape", "%s=%s" % (key, "x".join(map(str, value))))]
    kiln_tool = os.path.join(ROOT, "build", "bin", "kiln")
    subprocess.run([kiln_tool, "export", str(directory / "model.onnx"), *shapes,
                    "-o", str(tmp_path / "model.mlir")],
                   check=True, stdout=subprocess.DEVNULL)
    text = (tmp_path / "model.mlir").read_text()
    for op in MODELS[name]:
        assert op + " " in text, "%s: no %s in the import" % (name, op)
    assert "kiln.softmax" not in text, \
        "%s: an attention softmax was not fused" % name
    if name in KV_HEADS:
        attentions = ATTENTION_TYPES.findall(text)
        assert attentions, "%s: no typed kiln.attention" % name
        for types in attentions:
            heads = [int(t.split("x")[1]) for t in types]
            assert heads[1:] == [KV_HEADS[name]] * 2, \
                "%s: attention heads (q, k, v) %s" % (name, heads)
