"""The PyTorch oracle, per model: for every small model the runner knows (scaling_run list), two
checkpoints — one with the library's random weights (scaling_run init), one written from PyTorch
with weights drawn by torch — each run by scaling_run (prefill across the 32-token chunk boundary,
then greedy decode) with its logits saved; scaling_torch recomputes the logits of the same tokens
in float64, and they must agree within 1e-4 (max |error|). The greedy tokens must be the argmax
of the runner's logits.

    python3 check_models.py SCALING_RUN OUT_DIR
"""

import pathlib
import subprocess
import sys

import torch

import scaling_torch as st

PROMPT = 35  # tokens: more than one prefill chunk (32)
INPUT = 10  # encoder tokens
GENERATE = 20
TOLERANCE = 1e-4


def torch_weights(tensors, seed):
    """New weights for the same names and shapes, drawn by torch at sensible scales."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, t in tensors.items():
        noise = torch.randn(t.shape, generator=g)
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "gain":
            out[name] = 1 + 0.2 * noise
        elif leaf in ("b", "bias", "controller_bias", "out_bias"):
            out[name] = 0.2 * noise
        elif leaf in ("embedding", "positions", "d"):  # unit-scale rows; D as trax's N(0, 0.5)
            out[name] = 0.7 * noise
        elif leaf in ("e", "kernel"):  # fan-in: every axis but the last (units)
            out[name] = noise / (t.numel() / t.shape[-1]) ** 0.5
        else:  # (…, fan-in) matrices: dense w, controller, Sparse FF rows
            out[name] = noise / t.shape[-1] ** 0.5
    return out


def run(runner, args):
    result = subprocess.run([runner, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"scaling_run {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def check(runner, checkpoint, model, threads, seed):
    g = torch.Generator().manual_seed(seed)
    vocab = st.parse_dims(st.read_safetensors(checkpoint)[1]["scaling.dims"])["vocab"]
    prompt = torch.randint(vocab, (PROMPT,), generator=g).tolist()
    inputs = torch.randint(vocab, (INPUT,), generator=g).tolist()
    logits_path = checkpoint.with_suffix(".logits.safetensors")
    args = ["run", str(checkpoint), "--prompt", ",".join(map(str, prompt)), "--generate", str(GENERATE),
            "--threads", str(threads), "--logits", str(logits_path)]
    if model.encoder_decoder:
        args += ["--input", ",".join(map(str, inputs))]
    stdout = run(runner, args)
    generated = [int(t) for t in stdout.splitlines()[0].removeprefix("generated: ").split(",")]
    out, meta = st.read_safetensors(logits_path)
    got = out["logits"]
    fed = [int(t) for t in meta["tokens"].split(",")]
    assert fed == prompt + generated[:-1], f"{checkpoint.name}: the saved tokens are not prompt + generated"
    assert generated == got[PROMPT - 1 :].argmax(-1).tolist(), f"{checkpoint.name}: greedy tokens != argmax"
    want = model.logits(fed, inputs if model.encoder_decoder else None)
    error = (got.double() - want).abs().max().item()
    ok = error <= TOLERANCE
    print(f"{'ok  ' if ok else 'FAIL'}  {checkpoint.name:40} {threads} thread(s)  max |error| {error:.2e}")
    return ok


def main(runner, out_dir):
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [line.split()[0] for line in run(runner, ["list"]).splitlines() if line.startswith("small-")]
    if len(names) < 14:
        sys.exit(f"expected at least 14 small models in scaling_run list, found {len(names)}")
    failed = 0
    for i, name in enumerate(names):
        native = out / f"{name}.safetensors"
        run(runner, ["init", name, str(native), "--seed", str(100 + i)])
        tensors, meta = st.read_safetensors(native)
        exported = out / f"{name}.torch.safetensors"
        st.write_safetensors(exported, torch_weights(tensors, 200 + i), meta)
        for path, threads in ((native, 1), (exported, 2)):
            failed += not check(runner, path, st.Model(path), threads, 300 + i)
    if failed:
        sys.exit(f"{failed} runs differ from the PyTorch reference by more than {TOLERANCE}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
