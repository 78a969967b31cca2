"""A PyTorch reference of scaling's layers and stacks, written from the spec
(../shared/spec/scaling-transformers.md, sections 2-4), not from the C++ code.

It reads a model from a checkpoint in scaling's naming scheme (docs/checkpoints.md) and computes
the logits of a whole sequence at once, in float64 by default: no KV cache, no conv history, no
sparse gather. The layer kinds are recognised from the tensor names, and every size (modules S,
block size N, conv kernels Ks and Kl, controller rank r) from the tensor shapes; only the number of
heads comes from the "scaling.dims" metadata.

Also here: a small safetensors reader and writer (numpy + json only), so a model trained in
PyTorch can be written in the naming scheme and loaded by the C++ library.
"""

import json
import struct

import numpy as np
import torch

# ---------------------------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------------------------


def read_safetensors(path):
    """Returns ({name: float32 tensor}, {metadata key: value}). F32, F16 and BF16 only."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = memoryview(data)[8 + n :]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = body[begin:end]
        if entry["dtype"] == "F32":
            values = np.frombuffer(raw, dtype="<f4")
        elif entry["dtype"] == "F16":
            values = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif entry["dtype"] == "BF16":  # the top 16 bits of a float32
            values = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {entry['dtype']}")
        tensors[name] = torch.from_numpy(values.reshape(entry["shape"]).copy())
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} as F32, in insertion order, with string metadata."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        blob = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # pad so the data section starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def parse_dims(text):
    """"d_model=64,d_ff=128,n_heads=4,..." -> {"d_model": 64, ...}"""
    return {k: int(v) for k, v in (item.split("=") for item in text.split(","))}


# ---------------------------------------------------------------------------------------------
# Layers. Each takes the weights dict w, the layer's name prefix p and rows x: (tokens, width).
# ---------------------------------------------------------------------------------------------

NORM_EPSILON = 1e-6


def norm(w, p, x):
    """LayerNorm (gain and bias) or RMSNorm (gain only): trax's center_layernorm True / False."""
    if p + ".bias" in w:
        centred = x - x.mean(-1, keepdim=True)
        return centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + NORM_EPSILON) * w[p + ".gain"] + w[p + ".bias"]
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPSILON) * w[p + ".gain"]


def dense(w, p, x):
    """y = x Wᵀ + b, W: (d_out, d_in)."""
    return x @ w[p + ".w"].T + w[p + ".b"]


def multiplicative(w, p, x):
    """FactoredDense: y[s, m] = Σ_i x_i D[s, i] E[i, m], flattened over (s, m), plus a bias.
    D: (S, d_in), E: (d_in, d_out / S)."""
    d, e = w[p + ".d"], w[p + ".e"]
    y = torch.einsum("ti,si,im->tsm", x, d, e)
    return y.reshape(x.shape[0], -1) + w[p + ".b"]


def local_conv(w, p, x):
    """LocallyConvDense: x (tokens, S·M) seen as an image of tokens × S modules with M channels,
    zero-padded by (Ks−1)/2 modules on each side and by Kl−1 zero rows before the first token,
    then a VALID 2-D convolution with the kernel (Kl, Ks, M, U) shared by all modules, plus a bias
    (U). Output (tokens, S·U)."""
    kernel, bias = w[p + ".kernel"], w[p + ".b"]
    kl, ks, m, u = kernel.shape
    tokens, s = x.shape[0], x.shape[1] // m
    image = x.reshape(1, tokens, s, m).permute(0, 3, 1, 2)  # (batch, channels M, tokens, S)
    image = torch.nn.functional.pad(image, ((ks - 1) // 2, (ks - 1) // 2, kl - 1, 0))
    y = torch.nn.functional.conv2d(image, kernel.permute(3, 2, 0, 1))  # weight (U, M, Kl, Ks)
    return (y.permute(0, 2, 3, 1) + bias).reshape(tokens, s * u)


def attend(q, k, v, heads, causal):
    """Softmax attention per head, scores / sqrt(d_head); query t sees keys ≤ t when causal."""
    tq, tk = q.shape[0], k.shape[0]
    q, k, v = (a.reshape(a.shape[0], heads, -1).transpose(0, 1) for a in (q, k, v))  # (heads, tokens, d_head)
    scores = q @ k.transpose(1, 2) / q.shape[-1] ** 0.5
    if causal:
        future = torch.ones(tq, tk, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    return (scores.softmax(-1) @ v).transpose(0, 1).reshape(tq, -1)


def projection(w, p):
    """The Q/K/V/O projection kind, from the names: dense, multiplicative (ablation) or conv (ablation)."""
    if p + ".w" in w:
        return dense
    if p + ".d" in w:
        return multiplicative
    return local_conv


def self_attention(w, p, x, heads, causal):
    if p + ".mult.d" in w:
        # Sparse QKV ("multiplicative + conv"): one shared multiplicative layer, conv Q, K, V, no O.
        u = multiplicative(w, p + ".mult", x)
        return attend(local_conv(w, p + ".q", u), local_conv(w, p + ".k", u), local_conv(w, p + ".v", u), heads, causal)
    proj = projection(w, p + ".q")
    heads_out = attend(proj(w, p + ".q", x), proj(w, p + ".k", x), proj(w, p + ".v", x), heads, causal)
    return proj(w, p + ".o", heads_out)


def cross_attention(w, p, x, enc, heads):
    k, v = dense(w, p + ".k", enc), dense(w, p + ".v", enc)
    if p + ".q_mult.d" in w:
        # Sparse Q: multiplicative + conv (Ks 3), dense K and V, no output layer.
        return attend(local_conv(w, p + ".q", multiplicative(w, p + ".q_mult", x)), k, v, heads, False)
    return dense(w, p + ".o", attend(dense(w, p + ".q", x), k, v, heads, False))


def feedforward(w, p, x):
    if p + ".controller_in" not in w:
        return dense(w, p + ".out", torch.relu(dense(w, p + ".in", x)))
    # Sparse FF: the controller's logits x·C1·C2 + bias, (tokens, d_ff/N, N) with no nonlinearity
    # between C1 and C2; in each block of N units only the argmax runs (ties: the lowest index,
    # as torch.argmax picks the first maximum); no first-layer bias, ReLU, output bias.
    c1, c2, cb = w[p + ".controller_in"], w[p + ".controller_out"], w[p + ".controller_bias"]
    w1, w2 = w[p + ".in"], w[p + ".out"]  # (d_ff/N, N, d_model) each
    logits = torch.einsum("ti,ri,bnr->tbn", x, c1, c2) + cb
    mask = torch.nn.functional.one_hot(logits.argmax(-1), w1.shape[1]).to(x.dtype)  # (tokens, d_ff/N, N)
    h = torch.relu(torch.einsum("ti,bni->tbn", x, w1)) * mask
    return torch.einsum("tbn,bni->ti", h, w2) + w[p + ".out_bias"]


def output_layer(w, p, x):
    """Dense logits, or the sparse loss layer (a multiplicative layer with S = loss sparsity)."""
    return multiplicative(w, p, x) if p + ".d" in w else dense(w, p, x)


# ---------------------------------------------------------------------------------------------
# Stacks
# ---------------------------------------------------------------------------------------------


def layer_count(w, stack):
    n = 0
    while f"{stack}.layers.{n}.attn_norm.gain" in w:
        n += 1
    return n


def embed(w, stack, tokens):
    return w["embedding"][tokens] + w[stack + ".positions"][: len(tokens)]


def run_stack(w, stack, x, heads, causal, enc=None):
    """Pre-LN blocks: x += Attn(LN(x)); [x += Cross(LN(x), enc)]; x += FF(LN(x)); then the final norm."""
    for i in range(layer_count(w, stack)):
        p = f"{stack}.layers.{i}"
        x = x + self_attention(w, p + ".attn", norm(w, p + ".attn_norm", x), heads, causal)
        if enc is not None:
            x = x + cross_attention(w, p + ".cross", norm(w, p + ".cross_norm", x), enc, heads)
        x = x + feedforward(w, p + ".ff", norm(w, p + ".ff_norm", x))
    return norm(w, stack + ".final_norm", x)


class Model:
    """A checkpoint as a model: decoder-only, or encoder–decoder when it has an encoder."""

    def __init__(self, path, dtype=torch.float64):
        tensors, self.metadata = read_safetensors(path)
        self.w = {name: t.to(dtype) for name, t in tensors.items()}
        self.dims = parse_dims(self.metadata["scaling.dims"])
        self.heads = self.dims["n_heads"]
        self.encoder_decoder = "encoder.positions" in self.w

    def logits(self, tokens, inputs=None):
        """Logits of every position: (len(tokens), vocab). inputs: the encoder's tokens."""
        enc = None
        if self.encoder_decoder:
            enc = run_stack(self.w, "encoder", embed(self.w, "encoder", torch.tensor(inputs)), self.heads, False)
        x = embed(self.w, "decoder", torch.tensor(tokens))
        return output_layer(self.w, "logits", run_stack(self.w, "decoder", x, self.heads, True, enc))
