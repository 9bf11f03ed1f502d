"""The zoo models of models/zoo written in PyTorch, on Kiln's own weights.

Each class computes what the Kiln builder of the same name builds
(models/zoo/*.cpp, the blocks of models/zoo/Transformer.cpp) with the
semantics of Kiln's reference evaluator (reference/Kernels.h): weights are
laid out `[in, out]` and keep their Kiln names, so `kiln export`'s
safetensors file loads as is. Only PyTorch is needed; the peers runner
(bench/peers/torch_peers.py) times them eagerly, through torch.compile and,
exported to ONNX, through ONNX Runtime.

    model = build("decoder", knobs, weights)   # knobs: every knob, as ints/str
    logits = model(tokens)
"""

import torch
import torch.nn.functional as F

# Epsilons of the zoo's norms (models/zoo/Transformer.cpp).
RMS_EPSILON = 1.0e-6
LAYER_EPSILON = 1.0e-5


class ZooModel(torch.nn.Module):
    """Holds the weights as buffers under their Kiln names ('.' becomes
    '__', which buffer names cannot contain), so export and compile see them
    as constants of the graph."""

    def __init__(self, knobs, weights):
        super().__init__()
        self.knobs = knobs
        for name, tensor in weights.items():
            self.register_buffer(name.replace(".", "__"), tensor)

    def w(self, name):
        return getattr(self, name.replace(".", "__"))

    # -- blocks (models/zoo/Transformer.cpp) ---------------------------------

    def linear(self, x, weight, bias=None):
        y = x @ self.w(weight)
        return y + self.w(bias) if bias else y

    def rms_norm(self, x, prefix):
        scale = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPSILON)
        return x * scale * self.w(f"{prefix}.scale")

    def layer_norm(self, x, prefix):
        return F.layer_norm(x, x.shape[-1:], self.w(f"{prefix}.scale"),
                            self.w(f"{prefix}.bias"), LAYER_EPSILON)

    def attention(self, x, prefix, heads, kv_heads, causal, bias, rope=None):
        """Self-attention of x [B, S, D]; `rope` is (cos, sin) [S, Dh/2]."""
        batch, seq, hidden = x.shape
        head_dim = hidden // heads

        def project(part, count):
            y = self.linear(x, f"{prefix}.w{part}", f"{prefix}.b{part}" if bias else None)
            return y.reshape(batch, seq, count, head_dim).transpose(1, 2)

        q, k, v = project("q", heads), project("k", kv_heads), project("v", kv_heads)
        if rope is not None:
            q, k = rotate(q, *rope), rotate(k, *rope)
        if kv_heads != heads:
            # Query head h reads key/value head h / (heads / kv_heads).
            k = k.repeat_interleave(heads // kv_heads, dim=1)
            v = v.repeat_interleave(heads // kv_heads, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        y = y.transpose(1, 2).reshape(batch, seq, hidden)
        return self.linear(y, f"{prefix}.wo", f"{prefix}.bo" if bias else None)

    def swiglu(self, x, prefix):
        gate = F.silu(self.linear(x, f"{prefix}.w_gate"))
        return self.linear(gate * self.linear(x, f"{prefix}.w_up"), f"{prefix}.w_down")

    def gelu_mlp(self, x, prefix):
        y = F.gelu(self.linear(x, f"{prefix}.w1", f"{prefix}.b1"))
        return self.linear(y, f"{prefix}.w2", f"{prefix}.b2")

    def moe(self, x, prefix, top_k):
        """kiln.moe_router (softmax over the experts, the top k, rescaled to
        sum to one) and kiln.moe_experts (SwiGLU experts), each expert run on
        the tokens routed to it."""
        batch, seq, hidden = x.shape
        tokens = x.reshape(batch * seq, hidden)
        probabilities = torch.softmax(self.linear(tokens, f"{prefix}.router"), dim=-1)
        weights, indices = torch.topk(probabilities, top_k, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        gate, up = self.w(f"{prefix}.w_gate"), self.w(f"{prefix}.w_up")
        down = self.w(f"{prefix}.w_down")
        out = torch.zeros_like(tokens)
        for expert in range(gate.shape[0]):
            token, slot = torch.where(indices == expert)
            routed = tokens[token]
            h = F.silu(routed @ gate[expert]) * (routed @ up[expert])
            out = out.index_add(0, token, (h @ down[expert]) * weights[token, slot, None])
        return out.reshape(batch, seq, hidden)

    def decoder_layers(self, x, prefix):
        knobs = self.knobs
        rope = rope_tables(x.shape[1], knobs["hidden"] // knobs["heads"],
                           knobs["rope_theta"], x.device)
        for i in range(knobs["layers"]):
            layer = f"{prefix}.layers.{i}"
            h = self.rms_norm(x, f"{layer}.attn_norm")
            x = x + self.attention(h, f"{layer}.attn", knobs["heads"], knobs["kv_heads"],
                                   causal=True, bias=False, rope=rope)
            h = self.rms_norm(x, f"{layer}.ffn_norm")
            if knobs["experts"] > 0:
                h = self.moe(h, f"{layer}.moe", knobs["top_k"])
            else:
                h = self.swiglu(h, f"{layer}.ffn")
            x = x + h
        return self.rms_norm(x, f"{prefix}.final_norm")

    def encoder_layers(self, x, prefix, layers, heads, pre_norm):
        for i in range(layers):
            layer = f"{prefix}.layers.{i}"
            attn_norm, mlp_norm = f"{layer}.attn_norm", f"{layer}.mlp_norm"
            if pre_norm:
                h = self.layer_norm(x, attn_norm)
                x = x + self.attention(h, f"{layer}.attn", heads, heads, False, True)
                x = x + self.gelu_mlp(self.layer_norm(x, mlp_norm), f"{layer}.mlp")
            else:
                h = self.attention(x, f"{layer}.attn", heads, heads, False, True)
                x = self.layer_norm(x + h, attn_norm)
                x = self.layer_norm(x + self.gelu_mlp(x, f"{layer}.mlp"), mlp_norm)
        return x

    def vision_encoder(self, image, prefix, knob_prefix, class_token):
        knobs = self.knobs
        patch = knobs["patch"]
        x = F.conv2d(image, self.w(f"{prefix}.patch_embed.weight"), stride=patch)
        # [B, hidden, grid, grid] -> tokens [B, grid^2, hidden], row-major.
        x = x.flatten(2).transpose(1, 2) + self.w(f"{prefix}.patch_embed.bias")
        if class_token:
            token = self.w(f"{prefix}.class_token").expand(x.shape[0], -1, -1)
            x = torch.cat([token, x], dim=1)
        x = x + self.w(f"{prefix}.positions")
        x = self.encoder_layers(x, prefix, knobs[f"{knob_prefix}layers"],
                                knobs[f"{knob_prefix}heads"], pre_norm=True)
        return self.layer_norm(x, f"{prefix}.final_norm")


def rope_tables(seq, head_dim, theta, device):
    """cos and sin [seq, head_dim / 2] of the angles p * theta^(-2i/head_dim),
    computed in double as the reference does, then rounded to f32."""
    half = head_dim // 2
    inverse = torch.tensor([theta ** (-2.0 * i / head_dim) for i in range(half)],
                           dtype=torch.float64)
    angles = torch.arange(seq, dtype=torch.float64)[:, None] * inverse[None, :]
    return (angles.cos().to(torch.float32).to(device),
            angles.sin().to(torch.float32).to(device))


def rotate(x, cos, sin):
    """Rotate-half rope of x [B, H, S, Dh]: (x[i], x[i + Dh/2]) turns by the
    angle of its position and i."""
    half = x.shape[-1] // 2
    x0, x1 = x[..., :half], x[..., half:]
    return torch.cat([x0 * cos - x1 * sin, x1 * cos + x0 * sin], dim=-1)


#===------------------------------------------------------------------------===#
# The models (models/zoo/<Name>.cpp)
#===------------------------------------------------------------------------===#


class Mlp(ZooModel):
    ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu}

    def forward(self, x):
        layers = self.knobs["layers"]
        for i in range(layers):
            x = self.linear(x, f"mlp.layers.{i}.weight", f"mlp.layers.{i}.bias")
            if i != layers - 1:
                x = self.ACTIVATIONS[self.knobs["act"]](x)
        return x


class Decoder(ZooModel):
    """The decoder, and with experts the moe model: `prefix` names both."""

    def __init__(self, knobs, weights, prefix):
        super().__init__(knobs, weights)
        self.prefix = prefix

    def forward(self, tokens):
        x = F.embedding(tokens, self.w(f"{self.prefix}.embed_tokens"))
        x = self.decoder_layers(x, self.prefix)
        return self.linear(x, f"{self.prefix}.lm_head")


class Encoder(ZooModel):
    def forward(self, tokens):
        x = F.embedding(tokens, self.w("encoder.embed_tokens")) + self.w("encoder.positions")
        x = self.layer_norm(x, "encoder.embed_norm")
        return self.encoder_layers(x, "encoder", self.knobs["layers"], self.knobs["heads"],
                                   pre_norm=False)


class Vit(ZooModel):
    def forward(self, image):
        x = self.vision_encoder(image, "vit", "", class_token=True)
        return x[:, 0, :]


class TinyMultimodal(ZooModel):
    def forward(self, image, tokens):
        patches = self.vision_encoder(image, "vision", "vision_", class_token=False)
        patches = self.linear(patches, "projector.weight", "projector.bias")
        text = F.embedding(tokens, self.w("text.embed_tokens"))
        x = self.decoder_layers(torch.cat([patches, text], dim=1), "text")
        return self.linear(x, "text.lm_head")


def build(name, knobs, weights):
    """The PyTorch model of zoo model `name` with `knobs` (every knob of the
    model: integers as int, choices as str) and `weights` (Kiln name ->
    tensor), in eval mode."""
    builders = {
        "mlp": lambda: Mlp(knobs, weights),
        "decoder": lambda: Decoder(knobs, weights, "decoder"),
        "moe": lambda: Decoder(knobs, weights, "moe"),
        "encoder": lambda: Encoder(knobs, weights),
        "vit": lambda: Vit(knobs, weights),
        "tiny-multimodal": lambda: TinyMultimodal(knobs, weights),
    }
    if name not in builders:
        raise KeyError(f"no PyTorch definition of zoo model '{name}' "
                       f"({', '.join(builders)})")
    if knobs.get("dtype", "f32") != "f32":
        raise ValueError(f"zoo model '{name}': the peers run f32 only, not "
                         f"dtype={knobs['dtype']}")
    return builders[name]().eval()
