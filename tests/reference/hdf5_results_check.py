#!/usr/bin/env python3
"""Independent check of a TensorLLM results file (docs/hdf5-schema.md) with h5py + numpy.

Reads the HDF5 file written by `tensorllm decompose --h5`, and for every complete layer:
  * rebuilds W_all (d, dv, 4, h) from the original safetensors checkpoint, using only what
    the file records: the layer's tensor names, d, dv, h and /model/kv_head_of_head
    (llama-style nn.Linear weights, stored (out, in));
  * reconstructs W_hat = G x1 U1 x2 U2 x3 U3 with numpy from U1 (d, R1), U2 (dv, R2),
    U3 (4, R3) and core (h, R3, R2, R1), where core[i, r3, r2, r1] = G_all(r1, r2, r3, i);
  * compares the relative error and the per head x type errors with the stored ones, and
    ||W||^2 - ||G||^2 with the stored squared error;
  * with full ranks (d, dv, 4), checks W_hat equals W to float rounding.
It also recomputes the source identity: SHA-256 of the concatenated safetensors headers.

Usage: hdf5_results_check.py RESULTS.h5 CHECKPOINT_DIR
Exit status 0 when everything agrees; 1 with a message otherwise.
"""
import hashlib
import json
import os
import struct
import sys

import h5py
import numpy as np

FAILURES = []


def check(cond, msg):
    if not cond:
        FAILURES.append(msg)


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = f.read(n)
    return n, header, json.loads(header)


def load_tensor(ckpt, shards, name):
    for shard in shards:
        path = os.path.join(ckpt, shard)
        n, _, hdr = read_header(path)
        if name not in hdr:
            continue
        info = hdr[name]
        begin, end = info["data_offsets"]
        with open(path, "rb") as f:
            f.seek(8 + n + begin)
            raw = f.read(end - begin)
        dt = info["dtype"]
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"{name}: dtype {dt} not handled by this check")
        return a.reshape(info["shape"]).astype(np.float64)
    raise SystemExit(f"tensor {name} not found in {shards}")


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def main():
    h5path, ckpt = sys.argv[1], sys.argv[2]
    with h5py.File(h5path, "r") as f:
        check(text(f.attrs["format"]) == "tensorllm-results", "format attribute")
        m = f["model"].attrs
        d, dv, h = int(m["hidden_size"]), int(m["head_dim"]), int(m["num_heads"])
        kv_of = f["model/kv_head_of_head"][()]
        check(len(kv_of) == h, "kv_head_of_head length")

        shards = [text(s) for s in f["source/shard_files"][()]]
        sha = hashlib.sha256()
        total = 0
        for s in shards:
            p = os.path.join(ckpt, s)
            n, header, _ = read_header(p)
            sha.update(struct.pack("<Q", n) + header)
            total += os.path.getsize(p)
        check(text(f["source"].attrs["header_sha256"]) == sha.hexdigest(), "source header_sha256")
        check(int(f["source"].attrs["total_bytes"]) == total, "source total_bytes")

        checked = 0
        for layer in f["summary/layer_order"][()]:
            g = f[f"layers/{layer}"]
            a = g.attrs
            if text(a["status"]) not in ("ok", "not_converged"):
                continue
            names = [text(a[f"tensor_{t}"]) for t in "QKVO"]
            q, k, v, o = (load_tensor(ckpt, shards, n) for n in names)
            W = np.zeros((d, dv, 4, h))
            for i in range(h):
                j = int(kv_of[i])
                W[:, :, 0, i] = q[i * dv:(i + 1) * dv, :].T
                W[:, :, 1, i] = k[j * dv:(j + 1) * dv, :].T
                W[:, :, 2, i] = v[j * dv:(j + 1) * dv, :].T
                W[:, :, 3, i] = o[:, i * dv:(i + 1) * dv]
            U1 = g["U1"][()].astype(np.float64)
            U2 = g["U2"][()].astype(np.float64)
            U3 = g["U3"][()].astype(np.float64)
            core = g["core"][()].astype(np.float64)
            R1, R2, R3 = (int(x) for x in a["ranks"])
            check(U1.shape == (d, R1) and U2.shape == (dv, R2) and U3.shape == (4, R3), f"layer {layer}: factor shapes")
            check(core.shape == (h, R3, R2, R1), f"layer {layer}: core shape {core.shape}")
            What = np.einsum("ap,bq,tr,irqp->abti", U1, U2, U3, core)

            err = np.linalg.norm(W - What) / np.linalg.norm(W)
            stored = float(a["rel_error"])
            check(abs(err - stored) <= 1e-6 + 1e-4 * stored, f"layer {layer}: rel_error {err} vs stored {stored}")
            hte = g["head_type_error"][()]
            for i in range(h):
                for t in range(4):
                    e = np.linalg.norm(W[:, :, t, i] - What[:, :, t, i]) / np.linalg.norm(W[:, :, t, i])
                    check(abs(e - hte[i, t]) <= 1e-6 + 1e-4 * hte[i, t],
                          f"layer {layer}: head {i} type {'QKVO'[t]} error {e} vs stored {hte[i, t]}")
            # Orthonormal factors: ||W - W_hat||^2 = ||W||^2 - ||G||^2.
            gap = np.sum(W ** 2) - np.sum(core ** 2)
            check(abs(gap - (stored * np.linalg.norm(W)) ** 2) <= 1e-4 * np.sum(W ** 2),
                  f"layer {layer}: ||W||^2 - ||G||^2 = {gap} disagrees with the stored error")
            if (R1, R2, R3) == (d, dv, 4):
                diff = np.max(np.abs(W - What)) / np.max(np.abs(W))
                check(diff < 1e-5, f"layer {layer}: full-rank reconstruction differs by {diff}")
            checked += 1
        check(checked > 0, "no complete layer checked")
    if FAILURES:
        print("\n".join(FAILURES))
        return 1
    print(f"ok: {checked} layer(s) reconstructed with numpy and matched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
