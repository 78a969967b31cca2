"""The PyTorch oracle, per layer: runs torch_export_layers (C++), then recomputes each layer's
output with scaling_torch (float64) from the exported weights and inputs and compares them with
torch.testing's float32 tolerances (rtol 1.3e-6, atol 1e-5).

    python3 check_layers.py EXPORTER OUT_DIR
"""

import pathlib
import subprocess
import sys

import torch

import scaling_torch as st


def reference(kind, w, t, heads):
    x = t["x"]
    if kind == "norm":
        return st.norm(w, "layer", x)
    if kind == "multiplicative":
        return st.multiplicative(w, "layer", x)
    if kind == "local_conv":
        return st.local_conv(w, "layer", x)
    if kind == "output":
        return st.output_layer(w, "layer", x)
    if kind == "feedforward":
        return st.feedforward(w, "layer", x)
    if kind in ("self_causal", "self_bidirectional"):
        return st.self_attention(w, "layer", x, heads, kind == "self_causal")
    if kind == "cross":
        return st.cross_attention(w, "layer", x, t["enc"], heads)
    raise ValueError(f"unknown layer kind {kind}")


def main(exporter, out_dir):
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.safetensors"):
        old.unlink()
    subprocess.run([exporter, str(out)], check=True)
    files = sorted(out.glob("*.safetensors"))
    if len(files) < 17:
        sys.exit(f"expected at least 17 layer files in {out}, found {len(files)}")
    failed = 0
    for path in files:
        tensors, meta = st.read_safetensors(path)
        t = {name: v.double() for name, v in tensors.items()}
        heads = st.parse_dims(meta["scaling.dims"])["n_heads"]
        want = reference(meta["oracle.kind"], t, t, heads)
        got = tensors["y"]
        error = (got.double() - want).abs().max().item()
        try:
            torch.testing.assert_close(got, want.float())  # float32 defaults: rtol 1.3e-6, atol 1e-5
            print(f"ok    {path.stem:32} max |error| {error:.2e}")
        except AssertionError as e:
            failed += 1
            print(f"FAIL  {path.stem:32} max |error| {error:.2e}\n{e}")
    if failed:
        sys.exit(f"{failed} of {len(files)} layers differ from the PyTorch reference")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
