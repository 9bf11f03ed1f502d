#!/usr/bin/env python3
"""Builds Kiln's ONNX test models and their expected outputs.

    make_models.py models DIR    numerics cases: NAME.onnx, NAME.inputs.safetensors
                                 and NAME.expected.safetensors (numpy, f64 math)
    make_models.py hostile DIR   malformed and hostile files for the error tests

Expected outputs are computed here with numpy, independently of Kiln (Debian's
onnx 1.12 has no onnx.reference evaluator). Every case is seeded.
"""

import json
import math
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18
F = TensorProto.FLOAT
rng = np.random.default_rng(7)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def write_safetensors(path, tensors):
    dtypes = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = array.tobytes()  # C order; keeps 0-d arrays 0-d
        header[name] = {"dtype": dtypes[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def make(nodes, inputs, outputs, initializers=(), opset=OPSET, name="g"):
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, F, None) for n in outputs],
        [numpy_helper.from_array(a, n) for n, a in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def save_case(directory, name, model, inputs, expected):
    onnx.save(model, os.path.join(directory, name + ".onnx"))
    write_safetensors(os.path.join(directory, name + ".inputs.safetensors"), inputs)
    write_safetensors(os.path.join(directory, name + ".expected.safetensors"),
                      {"%d" % i: np.asarray(e, np.float32) for i, e in enumerate(expected)})


def const(name, array):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array))


def i64(*values):
    return np.array(values, dtype=np.int64)


erf = np.vectorize(math.erf)


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def layer_norm(x, g, b, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * g + b


def conv2d(x, w, b, stride, pad, groups=1):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    per = o // groups
    for oc in range(o):
        g = oc // per
        xs = x[:, g * cg:(g + 1) * cg]
        for i in range(oh):
            for j in range(ow):
                patch = xs[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                out[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3))
    return out + b.reshape(1, -1, 1, 1)


def pool(x, k, stride, pad, fn):
    n, c, h, w = x.shape
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)),
                    constant_values=np.nan)
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = fn(padded[:, :, i * stride:i * stride + k, j * stride:j * stride + k],
                                 axis=(2, 3))
    return out


# ---------------------------------------------------------------------------
# Numerics cases
# ---------------------------------------------------------------------------

def case_elementwise(d):
    x, y, c = randn(2, 3, 4), randn(3, 4), randn(4)
    nodes = [
        helper.make_node("Add", ["x", "y"], ["add"]),
        helper.make_node("Sub", ["add", "c"], ["sub"]),
        helper.make_node("Mul", ["sub", "y"], ["mul"]),
        helper.make_node("Relu", ["x"], ["relu"]),
        const("one", np.array(1.5, np.float32)),
        helper.make_node("Add", ["relu", "one"], ["pos"]),
        helper.make_node("Div", ["mul", "pos"], ["div"]),
        const("two", np.array(2, np.int64)),
        helper.make_node("Pow", ["pos", "two"], ["pow"]),
        helper.make_node("Sqrt", ["pos"], ["sqrt"]),
        helper.make_node("Reciprocal", ["pos"], ["recip"]),
        helper.make_node("Erf", ["x"], ["erf"]),
        helper.make_node("Tanh", ["x"], ["tanh"]),
        helper.make_node("Sigmoid", ["x"], ["sigmoid"]),
        helper.make_node("Neg", ["x"], ["neg"]),
        helper.make_node("Cast", ["x"], ["half"], to=TensorProto.FLOAT16),
        helper.make_node("Cast", ["half"], ["cast"], to=TensorProto.FLOAT),
        helper.make_node("Identity", ["cast"], ["identity"]),
    ]
    outs = ["div", "pow", "sqrt", "recip", "erf", "tanh", "sigmoid", "neg", "identity"]
    model = make(nodes, [("x", F, [2, 3, 4]), ("y", F, [3, 4])], outs, [("c", c)])
    xd, yd = x.astype(np.float64), y.astype(np.float64)
    pos = np.maximum(xd, 0) + 1.5
    expected = [((xd + yd - c) * yd) / pos, pos ** 2, np.sqrt(pos), 1 / pos, erf(xd),
                np.tanh(xd), 1 / (1 + np.exp(-xd)), -xd, x.astype(np.float16)]
    save_case(d, "elementwise", model, {"x": x, "y": y}, expected)


def case_contractions(d):
    x, w, a, b, c = randn(2, 4, 8), randn(8, 16), randn(4, 8), randn(16, 8), randn(16)
    v = randn(8)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["mm"]),
        helper.make_node("Gemm", ["a", "b", "c"], ["gemm"], transB=1, alpha=0.5, beta=2.0),
        helper.make_node("MatMul", ["a", "v"], ["mv"]),
    ]
    model = make(nodes, [("x", F, [2, 4, 8]), ("a", F, [4, 8])], ["mm", "gemm", "mv"],
                 [("w", w), ("b", b), ("c", c), ("v", v)])
    f = lambda t: t.astype(np.float64)
    save_case(d, "contractions", model, {"x": x, "a": a},
              [f(x) @ f(w), 0.5 * f(a) @ f(b).T + 2 * f(c), f(a) @ f(v)])


def case_reductions(d):
    x, g, b = randn(2, 3, 8), randn(8), randn(8)
    nodes = [
        const("axes", i64(-1)),
        helper.make_node("ReduceMean", ["x", "axes"], ["mean"]),
        const("axes01", i64(0, 1)),
        helper.make_node("ReduceSum", ["x", "axes01"], ["sum"], keepdims=0),
        helper.make_node("ReduceMax", ["x"], ["max"], keepdims=0),
        helper.make_node("Softmax", ["x"], ["softmax"], axis=1),
        helper.make_node("LayerNormalization", ["x", "g", "b"], ["ln"], epsilon=1e-5),
    ]
    model = make(nodes, [("x", F, [2, 3, 8])], ["mean", "sum", "max", "softmax", "ln"],
                 [("g", g), ("b", b)])
    xd = x.astype(np.float64)
    save_case(d, "reductions", model, {"x": x},
              [xd.mean(-1, keepdims=True), xd.sum(axis=(0, 1)), xd.max(), softmax(xd, 1),
               layer_norm(xd, g, b)])


def case_data_movement(d):
    x, y, table = randn(2, 3, 4), randn(2, 1, 4), randn(10, 4)
    ids = np.array([[1, 9, 0], [3, 3, 7]], np.int64)
    cond = np.array([[True], [False], [True]])
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[2, 0, 1]),
        const("shape", i64(0, -1)),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Squeeze", ["y", "ax1"], ["sq"]),
        helper.make_node("Unsqueeze", ["sq", "ax1"], ["usq"]),
        helper.make_node("Concat", ["x", "usq"], ["cat"], axis=1),
        helper.make_node("Slice", ["cat", "starts", "ends", "axes", "steps"], ["sl"]),
        helper.make_node("Split", ["x", "split"], ["s0", "s1"], axis=2),
        helper.make_node("Gather", ["x", "gidx"], ["g"], axis=1),
        helper.make_node("Gather", ["table", "ids"], ["emb"]),
        helper.make_node("Expand", ["y", "eshape"], ["ex"]),
        helper.make_node("Flatten", ["x"], ["fl"], axis=2),
        helper.make_node("Where", ["cond", "x", "y"], ["wh"]),
    ]
    inits = [("ax1", i64(1)), ("starts", i64(-3, 1)), ("ends", i64(100, 4)),
             ("axes", i64(1, 2)), ("steps", i64(2, 2)), ("split", i64(1, 3)),
             ("gidx", i64(-1, 0)), ("table", table), ("eshape", i64(3, 1, 1, 1)),
             ("cond", cond)]
    model = make(nodes, [("x", F, [2, 3, 4]), ("y", F, [2, 1, 4]),
                         ("ids", TensorProto.INT64, [2, 3])],
                 ["t", "r", "sl", "s0", "s1", "g", "emb", "ex", "fl", "wh"], inits)
    cat = np.concatenate([x, y], 1)
    save_case(d, "data_movement", model, {"x": x, "y": y, "ids": ids},
              [x.transpose(2, 0, 1), x.reshape(2, -1), cat[:, -3::2, 1:4:2], x[:, :, :1],
               x[:, :, 1:], x[:, [2, 0]], table[ids], np.broadcast_to(y, (3, 2, 1, 4)),
               x.reshape(6, 4), np.where(cond, x, y)])


def case_shape_folding(d):
    """Shape-driven subgraphs as PyTorch writes them, folded at import."""
    x = randn(2, 6, 4)
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"]),
        helper.make_node("Shape", ["x"], ["last2"], start=-2),
        helper.make_node("Mul", ["last2", "ones"], ["last2b"]),
        helper.make_node("Unsqueeze", ["batch", "zero1"], ["batch1"]),
        helper.make_node("Div", ["last2b", "twos"], ["halves"]),
        helper.make_node("Concat", ["batch1", "halves", "minus1"], ["newshape"], axis=0),
        helper.make_node("Equal", ["newshape", "minus1b"], ["isneg"]),
        helper.make_node("Where", ["isneg", "onesb", "newshape"], ["fixed"]),
        helper.make_node("Reshape", ["x", "newshape"], ["r"]),
        helper.make_node("ConstantOfShape", ["fixed"], ["zeros"],
                         value=numpy_helper.from_array(np.array([0.5], np.float32))),
        helper.make_node("Add", ["r", "zeros"], ["sum"]),
        helper.make_node("Range", ["start", "limit", "delta"], ["range"]),
        helper.make_node("Cast", ["range"], ["rangef"], to=F),
        helper.make_node("Add", ["sum", "rangef"], ["out"]),
    ]
    inits = [("zero", np.array(0, np.int64)), ("zero1", i64(0)), ("ones", i64(1, 1)),
             ("twos", i64(2, 2)), ("minus1", i64(-1)), ("minus1b", i64(-1)),
             ("onesb", i64(1)), ("start", np.array(0, np.int64)),
             ("limit", np.array(8, np.int64)), ("delta", np.array(2, np.int64))]
    model = make(nodes, [("x", F, [2, 6, 4])], ["out"], inits)
    r = x.astype(np.float64).reshape(2, 3, 2, -1)  # [2, 3, 2, 4]
    save_case(d, "shape_folding", model, {"x": x}, [r + 0.5 + np.array([0, 2, 4, 6])])


def transformer_block():
    """A pre-norm decoder block with the attention subgraph, symbolic dims."""
    S, D, H = 8, 32, 4
    hd = D // H
    w = {n: randn(D, D) * 0.2 for n in ("wq", "wk", "wv", "wo")}
    w1, w2 = randn(D, 64) * 0.2, randn(64, D) * 0.2
    g, b = 1 + 0.1 * randn(D), 0.1 * randn(D)
    mask = np.triu(np.full((S, S), -np.inf, np.float32), 1)
    heads = i64(0, 0, H, hd)
    nodes = [helper.make_node("LayerNormalization", ["x", "g", "b"], ["h"])]
    for n in ("q", "k", "v"):
        nodes += [helper.make_node("MatMul", ["h", "w" + n], [n + "0"]),
                  helper.make_node("Reshape", [n + "0", "heads"], [n + "1"]),
                  helper.make_node("Transpose", [n + "1"], [n],
                                   perm=[0, 2, 3, 1] if n == "k" else [0, 2, 1, 3])]
    nodes += [
        helper.make_node("MatMul", ["q", "k"], ["qk"]),
        helper.make_node("Div", ["qk", "sqrt_d"], ["scaled"]),
        helper.make_node("Add", ["scaled", "mask"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "v"], ["ctx"]),
        helper.make_node("Transpose", ["ctx"], ["ctx1"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["ctx1", "merge"], ["ctx2"]),
        helper.make_node("MatMul", ["ctx2", "wo"], ["attn"]),
        helper.make_node("Add", ["x", "attn"], ["res"]),
        helper.make_node("MatMul", ["res", "w1"], ["f1"]),
        helper.make_node("Div", ["f1", "sqrt2"], ["f2"]),
        helper.make_node("Erf", ["f2"], ["f3"]),
        helper.make_node("Add", ["f3", "one"], ["f4"]),
        helper.make_node("Mul", ["f1", "f4"], ["f5"]),
        helper.make_node("Mul", ["f5", "half"], ["gelu"]),
        helper.make_node("MatMul", ["gelu", "w2"], ["f6"]),
        helper.make_node("Add", ["res", "f6"], ["y"]),
    ]
    inits = [("g", g), ("b", b), ("heads", heads), ("merge", i64(0, 0, D)),
             ("sqrt_d", np.array(math.sqrt(hd), np.float32)), ("mask", mask),
             ("sqrt2", np.array(math.sqrt(2), np.float32)), ("one", np.array(1, np.float32)),
             ("half", np.array(0.5, np.float32)), ("w1", w1), ("w2", w2)]
    inits += list(w.items())
    model = make(nodes, [("x", F, ["batch", "sequence", D])], ["y"], inits)

    x = randn(2, S, D)
    f = lambda t: t.astype(np.float64)
    h = layer_norm(f(x), f(g), f(b))
    split = lambda t: t.reshape(2, S, H, hd).transpose(0, 2, 1, 3)
    q, k, v = (split(h @ f(w[n])) for n in ("wq", "wk", "wv"))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + f(mask)
    ctx = (softmax(scores, -1) @ v).transpose(0, 2, 1, 3).reshape(2, S, D)
    res = f(x) + ctx @ f(w["wo"])
    f1 = res @ f(w1)
    y = res + (f1 * 0.5 * (1 + erf(f1 / math.sqrt(2)))) @ f(w2)
    return model, x, y


def case_transformer(d):
    model, x, y = transformer_block()
    save_case(d, "transformer", model, {"x": x}, [y])


def case_cnn(d):
    """Conv + BatchNorm (folded) + Relu + pools + Gemm head, opset 17."""
    x = randn(2, 3, 10, 10)
    w1, b1 = randn(8, 3, 3, 3) * 0.3, randn(8) * 0.1
    w2 = randn(8, 4, 3, 3) * 0.3
    bn = [(1 + 0.1 * randn(8)), 0.1 * randn(8), 0.1 * randn(8), 0.5 + np.abs(randn(8))]
    fc, fcb = randn(4, 8), randn(4)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s", "bb", "m", "var"], ["n1"],
                         epsilon=1e-5),
        helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], group=2, pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c2", "s", "bb", "m", "var"], ["n2"]),
        helper.make_node("AveragePool", ["n2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2],
                         pads=[0, 0, 1, 1]),
        helper.make_node("GlobalAveragePool", ["p2"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc", "fcb"], ["logits"], transB=1),
    ]
    inits = [("w1", w1), ("b1", b1), ("w2", w2), ("s", bn[0]), ("bb", bn[1]),
             ("m", bn[2]), ("var", bn[3]), ("fc", fc), ("fcb", fcb)]
    model = make(nodes, [("x", F, [2, 3, 10, 10])], ["logits"], inits, opset=17)
    f = lambda t: t.astype(np.float64)
    norm = lambda t: ((t - f(bn[2]).reshape(1, -1, 1, 1)) /
                      np.sqrt(f(bn[3]).reshape(1, -1, 1, 1) + 1e-5) *
                      f(bn[0]).reshape(1, -1, 1, 1) + f(bn[1]).reshape(1, -1, 1, 1))
    r1 = np.maximum(norm(conv2d(f(x), f(w1), f(b1), 1, 1)), 0)
    p1 = pool(r1, 3, 2, 1, np.nanmax)
    n2 = norm(conv2d(p1, f(w2), np.zeros(8), 1, 1, groups=2))
    # AveragePool pads only at the end here: pad then crop the leading pad.
    padded = np.pad(n2, ((0, 0), (0, 0), (0, 1), (0, 1)), constant_values=np.nan)
    p2 = pool(padded, 2, 2, 0, np.nanmean)
    logits = p2.mean(axis=(2, 3)) @ f(fc).T + f(fcb)
    save_case(d, "cnn", model, {"x": x}, [logits])


def case_external(d):
    from onnx import external_data_helper
    x, w = randn(3, 16), randn(16, 24)
    model = make([helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", F, [3, 16])], ["y"],
                 [("w", w)])
    external_data_helper.convert_model_to_external_data(
        model, all_tensors_to_one_file=True, location="external.data", size_threshold=0)
    onnx.save(model, os.path.join(d, "external.onnx"))
    write_safetensors(os.path.join(d, "external.inputs.safetensors"), {"x": x})
    write_safetensors(os.path.join(d, "external.expected.safetensors"),
                      {"0": (x.astype(np.float64) @ w).astype(np.float32)})


def case_torch_attention(d):
    """Scaled dot-product attention as PyTorch's exporter writes it: q and k
    each scaled by sqrt(scale), k^T as reshape-transpose-reshape, a batched
    causal mask of float32's lowest value and the NaN guard after the
    softmax; then exact GELU as x * (0.5 * (1 + erf(x / sqrt 2))). The
    outputs keep their ONNX names."""
    B, H, S, D = 2, 2, 4, 8
    root_scale = np.array([1 / math.sqrt(math.sqrt(D))], np.float32)
    lowest = np.finfo(np.float32).min
    mask = np.broadcast_to(np.triu(np.full((S, S), lowest, np.float32), 1),
                           (B, 1, S, S)).copy()
    nodes = [
        helper.make_node("Mul", ["q", "root_scale"], ["qs"]),
        helper.make_node("Reshape", ["k", "flat"], ["k3"]),
        helper.make_node("Transpose", ["k3"], ["kt3"], perm=[0, 2, 1]),
        helper.make_node("Reshape", ["kt3", "heads"], ["kt"]),
        helper.make_node("Mul", ["kt", "root_scale"], ["kts"]),
        helper.make_node("MatMul", ["qs", "kts"], ["scores"]),
        helper.make_node("Add", ["scores", "mask"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["p"], axis=-1),
        helper.make_node("IsNaN", ["p"], ["nan"]),
        helper.make_node("Where", ["nan", "zero", "p"], ["guarded"]),
        helper.make_node("MatMul", ["guarded", "v"], ["context"]),
        helper.make_node("Div", ["context", "sqrt2"], ["g1"]),
        helper.make_node("Erf", ["g1"], ["g2"]),
        helper.make_node("Add", ["g2", "one"], ["g3"]),
        helper.make_node("Mul", ["half", "g3"], ["g4"]),
        helper.make_node("Mul", ["context", "g4"], ["activated"]),
    ]
    inits = [("root_scale", root_scale), ("flat", i64(-1, S, D)),
             ("heads", i64(B, H, D, S)), ("mask", mask),
             ("zero", np.array(0, np.float32)),
             ("sqrt2", np.array(math.sqrt(2), np.float32)),
             ("one", np.array(1, np.float32)), ("half", np.array(0.5, np.float32))]
    shape = [B, H, S, D]
    model = make(nodes, [(n, F, shape) for n in ("q", "k", "v")],
                 ["context", "activated"], inits)
    q, k, v = randn(*shape), randn(*shape), randn(*shape)
    f = lambda t: t.astype(np.float64)
    scores = f(q) @ f(k).transpose(0, 1, 3, 2) / math.sqrt(D) + f(mask)
    context = softmax(scores, -1) @ f(v)
    activated = context * 0.5 * (1 + erf(context / math.sqrt(2)))
    save_case(d, "torch_attention", model, {"q": q, "k": k, "v": v},
              [context, activated])


def case_gqa_attention(d):
    """Grouped-query attention as transformers' Llama exports it: 2 key/value
    heads repeated for 4 query heads by Unsqueeze, Expand and Reshape (k
    straight from the repeated rank-5 value to [B*H, S, D] for its
    transpose), then causal scaled dot-product attention."""
    B, H, KV, S, D = 2, 4, 2, 4, 8
    root_scale = np.array([1 / math.sqrt(math.sqrt(D))], np.float32)
    lowest = np.finfo(np.float32).min
    mask = np.triu(np.full((S, S), lowest, np.float32), 1)
    nodes = [
        helper.make_node("Unsqueeze", ["k", "axis2"], ["k5"]),
        helper.make_node("Expand", ["k5", "repeated"], ["kr5"]),
        helper.make_node("Reshape", ["kr5", "flat"], ["k3"]),
        helper.make_node("Transpose", ["k3"], ["kt3"], perm=[0, 2, 1]),
        helper.make_node("Reshape", ["kt3", "heads_t"], ["kt"]),
        helper.make_node("Unsqueeze", ["v", "axis2"], ["v5"]),
        helper.make_node("Expand", ["v5", "repeated"], ["vr5"]),
        helper.make_node("Reshape", ["vr5", "heads"], ["vr"]),
        helper.make_node("Mul", ["q", "root_scale"], ["qs"]),
        helper.make_node("Mul", ["kt", "root_scale"], ["kts"]),
        helper.make_node("MatMul", ["qs", "kts"], ["scores"]),
        helper.make_node("Add", ["scores", "mask"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "vr"], ["context"]),
    ]
    inits = [("root_scale", root_scale), ("axis2", i64(2)),
             ("repeated", i64(B, KV, H // KV, S, D)), ("flat", i64(-1, S, D)),
             ("heads_t", i64(B, H, D, S)), ("heads", i64(B, H, S, D)),
             ("mask", mask)]
    model = make(nodes, [("q", F, [B, H, S, D]), ("k", F, [B, KV, S, D]),
                         ("v", F, [B, KV, S, D])], ["context"], inits)
    q, k, v = randn(B, H, S, D), randn(B, KV, S, D), randn(B, KV, S, D)
    f = lambda t: np.repeat(t.astype(np.float64), H // KV, axis=1)
    scores = q.astype(np.float64) @ f(k).transpose(0, 1, 3, 2) / math.sqrt(D) + mask
    context = softmax(scores, -1) @ f(v)
    save_case(d, "gqa_attention", model, {"q": q, "k": k, "v": v}, [context])


def case_rms_norm_silu(d):
    """transformers' RMSNorm and SiLU as PyTorch exports them."""
    D = 16
    g = 1 + 0.1 * randn(D)
    nodes = [
        helper.make_node("Pow", ["x", "two"], ["square"]),
        helper.make_node("ReduceMean", ["square", "last"], ["mean"]),
        helper.make_node("Add", ["mean", "eps"], ["shifted"]),
        helper.make_node("Sqrt", ["shifted"], ["rms"]),
        helper.make_node("Reciprocal", ["rms"], ["inverse"]),
        helper.make_node("Mul", ["x", "inverse"], ["normalized"]),
        helper.make_node("Mul", ["g", "normalized"], ["h"]),
        helper.make_node("Sigmoid", ["h"], ["gate"]),
        helper.make_node("Mul", ["h", "gate"], ["y"]),
    ]
    inits = [("two", np.array(2, np.float32)), ("last", i64(-1)),
             ("eps", np.array(1e-5, np.float32)), ("g", g)]
    model = make(nodes, [("x", F, [2, 3, D])], ["y"], inits)
    x = randn(2, 3, D)
    f = x.astype(np.float64)
    h = f / np.sqrt((f * f).mean(-1, keepdims=True) + 1e-5) * g
    save_case(d, "rms_norm_silu", model, {"x": x}, [h / (1 + np.exp(-h))])


def case_router(d):
    """A mixture-of-experts router as transformers exports it: Softmax, then
    TopK, the chosen experts' rows picked by GatherND; and a GatherElements
    of constants, folded at import."""
    T, E = 6, 4
    table = randn(E, 3)
    rows = np.array([[3, 0, 1], [2, 2, 0]], np.int64)
    nodes = [
        helper.make_node("Softmax", ["logits"], ["p"], axis=-1),
        helper.make_node("TopK", ["p", "k"], ["top", "experts"]),
        helper.make_node("Unsqueeze", ["experts", "last"], ["ids"]),
        helper.make_node("GatherND", ["table", "ids"], ["chosen"]),
        helper.make_node("Unsqueeze", ["top", "last"], ["weights"]),
        helper.make_node("Mul", ["chosen", "weights"], ["routed"]),
        helper.make_node("GatherElements", ["table", "rows"], ["picked"], axis=0),
        helper.make_node("Add", ["y", "picked"], ["shifted"]),
    ]
    inits = [("k", i64(2)), ("last", i64(-1)), ("table", table), ("rows", rows)]
    model = make(nodes, [("logits", F, [T, E]), ("y", F, [2, 3])],
                 ["routed", "shifted"], inits)
    logits, y = randn(T, E), randn(2, 3)
    # Two equal logits: the lower expert goes first, as ONNX's TopK says.
    logits[0, 1] = logits[0, 2] = 3.0
    p = softmax(logits.astype(np.float64), -1)
    experts = np.argsort(-p, axis=-1, kind="stable")[:, :2]
    top = np.take_along_axis(p, experts, -1)
    routed = table.astype(np.float64)[experts] * top[..., None]
    picked = np.take_along_axis(table, rows, 0)
    save_case(d, "router", model, {"logits": logits, "y": y},
              [routed, y.astype(np.float64) + picked])


# ---------------------------------------------------------------------------
# Hostile files
# ---------------------------------------------------------------------------

def bare_tensor(name, dims):
    """A float tensor header without data, whatever its size claims."""
    tensor = TensorProto()
    tensor.name, tensor.data_type = name, F
    tensor.dims.extend(dims)
    return tensor


def hostile(d):
    def save(name, model):
        onnx.save(model, os.path.join(d, name))

    relu = lambda name: helper.make_node("Relu", ["x"], [name])
    x_in = [("x", F, [2, 4])]

    # Unsupported ops, all reported.
    save("unsupported.onnx", make([
        helper.make_node("LSTM", ["x"], ["a"], name="lstm_0"),
        helper.make_node("Relu", ["a"], ["b"], name="relu_0"),
        helper.make_node("Frobnicate", ["b"], ["y"], name="weird", domain="com.example"),
    ], x_in, ["y"]))

    # Truncated and garbage files.
    good = make([relu("y")], x_in, ["y"], [("w", randn(64, 64))]).SerializeToString()
    with open(os.path.join(d, "truncated.onnx"), "wb") as f:
        f.write(good[: len(good) // 2])
    with open(os.path.join(d, "garbage.onnx"), "wb") as f:
        f.write(b"\xff\xff\xff\xff not a protobuf \x00\x01")

    # External data that escapes the model's folder (ext/), or lies beyond
    # its file.
    outside, ext = os.path.join(d, "outside"), os.path.join(d, "ext")
    os.makedirs(outside, exist_ok=True)
    os.makedirs(ext, exist_ok=True)
    with open(os.path.join(outside, "secret.data"), "wb") as f:
        f.write(b"\0" * 64)
    with open(os.path.join(ext, "small.data"), "wb") as f:
        f.write(b"\0" * 64)
    link = os.path.join(ext, "link.data")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.join(outside, "secret.data"), link)

    def external(name, location, offset=0, length=64, dims=(16,)):
        tensor = bare_tensor("w", dims)
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", str(offset)),
                           ("length", str(length))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                                  [helper.make_tensor_value_info("x", F, [16])],
                                  [helper.make_tensor_value_info("y", F, None)], [tensor])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        save(os.path.join("ext", name), model)

    external("ext_absolute.onnx", os.path.join(outside, "secret.data"))
    external("ext_dotdot.onnx", "sub/../../outside/secret.data")
    external("ext_symlink.onnx", "link.data")
    external("ext_offset.onnx", "small.data", offset=32)
    external("ext_length.onnx", "small.data", length=32)
    external("ext_missing.onnx", "nowhere.data")

    # Absurd sizes: an initializer claiming 2^50 elements, a ConstantOfShape
    # of 10^15 elements, a huge input shape.
    huge = bare_tensor("w", [1 << 25, 1 << 25])
    save("huge_initializer.onnx", helper.make_model(
        helper.make_graph([relu("y")], "g", [helper.make_tensor_value_info("x", F, [2])],
                          [helper.make_tensor_value_info("y", F, None)], [huge]),
        opset_imports=[helper.make_opsetid("", OPSET)]))
    save("huge_constant_of_shape.onnx", make([
        helper.make_node("ConstantOfShape", ["shape"], ["z"], name="zeros"),
        helper.make_node("Add", ["x", "z"], ["y"], name="add")],
        x_in, ["y"], [("shape", i64(1000000, 1000000, 1000))]))
    model = make([helper.make_node("Add", ["x", "w"], ["y"])], x_in, ["y"],
                 [("w", randn(2, 4))])
    model.graph.initializer[0].raw_data = model.graph.initializer[0].raw_data[:5]
    save("mismatched_raw.onnx", model)

    # Symbolic dims.
    save("symbolic.onnx", make([relu("y")], [("x", F, ["batch", 4])], ["y"]))
    # A shape error inside the graph.
    save("bad_matmul.onnx", make([helper.make_node("MatMul", ["x", "x"], ["y"], name="mm")],
                                 x_in, ["y"]))
    # An old opset.
    save("old_opset.onnx", make([relu("y")], x_in, ["y"], opset=9))

    # Subgraphs of exports imported only in the forms exporters write.
    node = helper.make_node
    save("topk_alone.onnx", make([node("TopK", ["x", "k"], ["y", "i"], name="topk")],
                                 x_in, ["y"], [("k", i64(2))]))
    save("isnan_cast.onnx", make([
        node("IsNaN", ["x"], ["nan"]), node("Cast", ["nan"], ["y"], name="cast", to=F),
    ], x_in, ["y"]))
    hidden_row = np.zeros((2, 4), np.float32)
    hidden_row[1] = -np.inf
    save("nan_guard_hidden_row.onnx", make([
        node("Add", ["x", "mask"], ["s"]), node("Softmax", ["s"], ["p"]),
        node("IsNaN", ["p"], ["nan"]),
        node("Where", ["nan", "zero", "p"], ["y"], name="guard"),
    ], x_in, ["y"], [("mask", hidden_row), ("zero", np.array(0, np.float32))]))
    save("gathernd_batch.onnx", make([
        node("GatherND", ["x", "ids"], ["y"], name="gnd", batch_dims=1),
    ], x_in, ["y"], [("ids", np.zeros((2, 1), np.int64))]))
    save("gather_elements_runtime.onnx", make([
        node("GatherElements", ["x", "ids"], ["y"], name="ge"),
    ], x_in, ["y"], [("ids", np.zeros((2, 4), np.int64))]))


def main():
    mode, directory = sys.argv[1], sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    if mode == "models":
        for case in (case_elementwise, case_contractions, case_reductions,
                     case_data_movement, case_shape_folding, case_transformer,
                     case_cnn, case_external, case_torch_attention,
                     case_gqa_attention, case_rms_norm_silu, case_router):
            case(directory)
    elif mode == "hostile":
        hostile(directory)
    else:
        sys.exit("usage: make_models.py (models|hostile) DIR")


if __name__ == "__main__":
    main()
