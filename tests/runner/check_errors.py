"""scaling_run on bad arguments and bad files: each must end with exit status 1 or 2 and exactly
one line on stderr that starts with "scaling_run: " and contains the expected words; never a
crash or a sanitizer report. Standard library only.

    python3 check_errors.py SCALING_RUN OUT_DIR
"""

import json
import pathlib
import struct
import subprocess
import sys


def read(path):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def write(path, header, body):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)


def main(runner, out_dir):
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    good = out / "small-dense.safetensors"
    t5 = out / "small-t5-dense.safetensors"
    for name, path in (("small-dense", good), ("small-t5-dense", t5)):
        subprocess.run([runner, "init", name, str(path)], check=True, capture_output=True)
    header, body = read(good)

    (out / "empty.safetensors").write_bytes(b"")
    (out / "garbage.safetensors").write_bytes(b"not a safetensors file at all")
    data = good.read_bytes()
    (out / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    (out / "header-cut.safetensors").write_bytes(data[:40])
    meta = dict(header["__metadata__"])
    del meta["scaling.model"]
    write(out / "anonymous.safetensors", {**header, "__metadata__": meta}, body)
    write(out / "unknown.safetensors", {**header, "__metadata__": {**meta, "scaling.model": "no-such-model"}}, body)
    write(out / "renamed.safetensors", {**header, "__metadata__": {**meta, "scaling.model": "small-sparse-ff"}}, body)
    write(out / "wrong-dims.safetensors", {**header, "__metadata__": {**meta, "scaling.model": "t5-large-dense"}}, body)
    no_dims = {k: v for k, v in meta.items() if k != "scaling.dims"}  # refused before a 3 GB model is allocated
    write(out / "no-dims.safetensors", {**header, "__metadata__": {**no_dims, "scaling.model": "t5-large-dense"}}, body)
    # A NaN as the last value of the last tensor in the file (every tensor is F32).
    last = max((v for k, v in header.items() if k != "__metadata__"), key=lambda v: v["data_offsets"][1])
    name = next(k for k, v in header.items() if v is last)
    write(out / "nan.safetensors", header, body[:-4] + struct.pack("<f", float("nan")))

    g = str(good)
    cases = [  # (arguments, words the error line must contain)
        (["frobnicate"], "unknown command"),
        (["list", "x"], "takes no arguments"),
        (["run"], "needs a CHECKPOINT"),
        (["run", g], "needs --prompt"),
        (["run", g, "--prompt"], "needs a value"),
        (["run", g, "--prompt", "1,,2"], "expected a number"),
        (["run", g, "--prompt", "-1"], "not a number"),
        (["run", g, "--prompt", "1,x"], "not a number"),
        (["run", g, "--prompt", "99999999999"], "exceeds"),
        (["run", g, "--prompt", "1", "--prompt", "2"], "given twice"),
        (["run", g, "--prompt", "1", "--temperature", "2"], "unknown option"),
        (["run", g, "--prompt", "1", "--generate", "0"], "at least 1"),
        (["run", g, "--prompt", "1", "--threads", "0"], "at least 1"),
        (["run", g, "--prompt", "1", "--threads", "65"], "exceeds"),
        (["run", g, "--prompt", "1,96"], "outside the vocabulary"),
        (["run", g, "--prompt", "1", "--generate", "65"], "max_len"),
        (["run", g, "--prompt", "1", "--input", "2"], "takes no --input"),
        (["run", str(t5), "--prompt", "1"], "give its input"),
        (["run", str(t5), "--prompt", "1", "--input", ",".join(["1"] * 65)], "max_len"),
        (["run", g, "--prompt", "1", "--logits", str(out / "no-such-dir" / "x")], "no-such-dir"),
        (["init", "no-such-model", str(out / "x")], "no compiled model"),
        (["init", "small-dense", str(out / "no-such-dir" / "x")], "no-such-dir"),
        (["init", "small-dense", str(out / "x"), "--seed", "x"], "not a number"),
        (["run", str(out / "missing.safetensors"), "--prompt", "1"], "cannot open"),
        (["run", str(out), "--prompt", "1"], "not a regular file"),
        (["run", str(out / "empty.safetensors"), "--prompt", "1"], "too short"),
        (["run", str(out / "garbage.safetensors"), "--prompt", "1"], "header length"),
        (["run", str(out / "truncated.safetensors"), "--prompt", "1"], "data section"),
        (["run", str(out / "header-cut.safetensors"), "--prompt", "1"], "past the end"),
        (["run", str(out / "anonymous.safetensors"), "--prompt", "1"], "no \"scaling.model\""),
        (["run", str(out / "unknown.safetensors"), "--prompt", "1"], "no compiled model"),
        (["run", str(out / "renamed.safetensors"), "--prompt", "1"], "is missing"),
        (["run", str(out / "wrong-dims.safetensors"), "--prompt", "1"], "dims"),
        (["run", str(out / "no-dims.safetensors"), "--prompt", "1"], "cannot be checked against"),
        (["run", str(out / "nan.safetensors"), "--prompt", "1"], f'tensor "{name}" holds NaN at'),
    ]
    failed = 0
    for args, words in cases:
        r = subprocess.run([runner, *args], capture_output=True, text=True)
        lines = r.stderr.splitlines()
        ok = r.returncode in (1, 2) and len(lines) == 1 and lines[0].startswith("scaling_run: ") and words in lines[0]
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'}  exit {r.returncode}  {' '.join(args[:1] + args[2:])[:60]:60}  {r.stderr.strip()[:200]}")
    if failed:
        sys.exit(f"{failed} of {len(cases)} cases did not fail cleanly with the expected message")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
