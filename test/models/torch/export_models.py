#!/usr/bin/env python3
"""Exports models that no one in Kiln wrote to ONNX, with ONNX Runtime's outputs.

    export_models.py OUT_DIR [NAME ...]

For each model (all of them by default) OUT_DIR/NAME/ receives
    model.onnx      the export: PyTorch's default (dynamo) exporter, opset 18
    inputs.npz      seeded inputs, by ONNX input name
    expected.npz    ONNX Runtime's outputs on them, by ONNX output name
    shapes.json     the sizes to give Kiln's --shape / shapes= for each input

The models come from the libraries' own definitions (transformers, timm) with
small configs, randomly initialized with a fixed seed; nothing is downloaded.
Run it with the peers venv (build/peers-venv/bin/python): it needs torch,
transformers, timm and onnxruntime, which Kiln's own venv does not have.
"""

import json
import os
import sys
import warnings

import numpy as np
import onnxruntime
import torch

OPSET = 18
SEED = 0


class LogitsOnly(torch.nn.Module):
    """A transformers model returning its first output tensor only (logits or
    last hidden state), without a KV cache: DynamicCache is not exportable."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, use_cache=False,
                          return_dict=False)[0]


def perturb(model):
    """Adds seeded noise to every parameter and buffer of floats: the
    libraries initialize biases to 0, norm scales to 1, batch-norm statistics
    to 0 and 1 and some residual branches to 0, which would leave an importer
    that drops a bias or swaps a scale untested. Variances stay positive."""
    generator = torch.Generator().manual_seed(SEED + 2)
    with torch.no_grad():
        for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith("running_var"):
                tensor.mul_(0.5 + noise.abs())
            else:
                tensor.add_(0.05 * noise)


def token_ids(vocab, batch, sequence):
    generator = torch.Generator().manual_seed(SEED + 1)
    return torch.randint(0, vocab, (batch, sequence), generator=generator)


def image(batch, size):
    generator = torch.Generator().manual_seed(SEED + 1)
    return torch.randn(batch, 3, size, size, generator=generator)


def llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=64)
    return (LogitsOnly(LlamaForCausalLM(config)), {"input_ids": token_ids(128, 2, 16)},
            ["logits"])


def bert():
    from transformers import BertConfig, BertModel
    config = BertConfig(vocab_size=128, hidden_size=64, intermediate_size=128,
                        num_hidden_layers=2, num_attention_heads=4,
                        max_position_embeddings=64)
    return (LogitsOnly(BertModel(config)), {"input_ids": token_ids(128, 2, 16)},
            ["last_hidden_state"])


def mixtral():
    # The "batched_mm" experts gather each token's expert weights and stay
    # statically shaped; the default loops over the experts that tokens hit,
    # which depends on the data.
    from transformers import MixtralConfig, MixtralForCausalLM
    config = MixtralConfig(vocab_size=128, hidden_size=64, intermediate_size=128,
                           num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, num_local_experts=4,
                           num_experts_per_tok=2, max_position_embeddings=64,
                           experts_implementation="batched_mm")
    return (LogitsOnly(MixtralForCausalLM(config)), {"input_ids": token_ids(128, 2, 16)},
            ["logits"])


def vit_tiny():
    import timm
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False,
                              img_size=64)
    return model, {"pixels": image(1, 64)}, ["logits"]


def resnet18():
    import timm
    model = timm.create_model("resnet18", pretrained=False)
    return model, {"pixels": image(1, 64)}, ["logits"]


MODELS = {
    "llama": llama,
    "bert": bert,
    "vit_tiny": vit_tiny,
    "resnet18": resnet18,
    "mixtral": mixtral,
}


def export(name, directory):
    torch.manual_seed(SEED)
    model, inputs, output_names = MODELS[name]()
    model.eval()
    perturb(model)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "model.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, tuple(inputs.values()), path,
                          input_names=list(inputs), output_names=output_names,
                          opset_version=OPSET,
                          dynamo=True, external_data=False, verbose=False)
    feeds = {key: value.numpy() for key, value in inputs.items()}
    session = onnxruntime.InferenceSession(
        path, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    outputs = session.run(names, feeds)
    np.savez(os.path.join(directory, "inputs.npz"), **feeds)
    np.savez(os.path.join(directory, "expected.npz"), **dict(zip(names, outputs)))
    with open(os.path.join(directory, "shapes.json"), "w") as f:
        json.dump({key: list(value.shape) for key, value in feeds.items()}, f)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    names = sys.argv[2:] or list(MODELS)
    for name in names:
        if name not in MODELS:
            sys.exit("unknown model '%s' (known: %s)" % (name, ", ".join(MODELS)))
    torch.set_num_threads(1)
    for name in names:
        export(name, os.path.join(sys.argv[1], name))


if __name__ == "__main__":
    main()
