#!/usr/bin/env python3
"""Independent numpy reference for the shared-factor partial Tucker decomposition.

Writes, for fixed seeds, a safetensors file holding
  W          the test tensor, float32, shape (h, 4, dv, d) in C order, i.e. exactly the
             column-major (d, dv, 4, h) layout TensorLLM Studio uses for W_all
  U1, U2, U3 the HOSVD factors (float64 SVD of each unfolding), shape (R_n, I_n) in C order
             (column-major I_n x R_n), columns sign-fixed: largest |entry| positive
  hooi_errors     relative error after HOSVD init and after each of `sweeps` HOOI sweeps
  head_type_error per head and Q/K/V/O, ||W_i[:,:,t] - What_i[:,:,t]|| / ||W_i[:,:,t]||
                  after the HOOI sweeps, shape (h, 4)
  hosvd_error     relative error of plain HOSVD
and the ranks in __metadata__. Everything is computed in float64 from the float32 W.

Usage: tucker_reference.py OUT_DIR
"""
import json
import struct
import sys

import numpy as np

CASES = [
    # name, (d, dv, h), ranks, seed, true multilinear rank of the signal, noise
    ("small", (48, 12, 6), (10, 6, 3), 11, (8, 5, 2), 0.1),
    ("gqa_like", (64, 8, 8), (24, 4, 2), 12, (20, 4, 3), 0.3),
    ("wide", (96, 16, 4), (32, 8, 4), 13, (40, 10, 4), 0.2),
]
SWEEPS = 10


def unfold(T, mode):
    """Mode-n unfolding of a (d, dv, 4, h) array: rows index mode n."""
    return np.moveaxis(T, mode, 0).reshape(T.shape[mode], -1)


def mode_dot(T, M, mode):
    """T x_mode M with M of shape (J, I_mode)."""
    return np.moveaxis(np.tensordot(M, T, axes=(1, mode)), 0, mode)


def leading(T, mode, r):
    U, _, _ = np.linalg.svd(unfold(T, mode), full_matrices=False)
    U = U[:, :r].copy()
    for j in range(r):
        k = int(np.argmax(np.abs(U[:, j])))  # first index of the largest magnitude
        if U[k, j] < 0:
            U[:, j] = -U[:, j]
    return U


def core_of(W, Us):
    G = W
    for n, U in enumerate(Us):
        G = mode_dot(G, U.T, n)
    return G


def rel_error(W, G):
    return np.sqrt(max(0.0, np.sum(W * W) - np.sum(G * G)) / np.sum(W * W))


def make_tensor(shape, true_rank, seed, noise):
    d, dv, h = shape
    rng = np.random.default_rng(seed)
    R1, R2, R3 = true_rank
    G = rng.standard_normal((R1, R2, R3, h))
    # Decaying weights make the leading singular values well separated.
    G *= (0.85 ** np.arange(R1))[:, None, None, None]
    G *= (0.8 ** np.arange(R2))[None, :, None, None]
    G *= (0.7 ** np.arange(R3))[None, None, :, None]
    Us = [np.linalg.qr(rng.standard_normal((n, r)))[0] for n, r in ((d, R1), (dv, R2), (4, R3))]
    W = G
    for n, U in enumerate(Us):
        W = mode_dot(W, U, n)
    W = W / np.linalg.norm(W)
    W = W + noise * rng.standard_normal(W.shape) / np.sqrt(W.size)
    return W.astype(np.float32)


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr)
        dtype = {np.float32: "F32", np.float64: "F64"}[arr.dtype.type]
        b = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    out = sys.argv[1]
    for name, shape, ranks, seed, true_rank, noise in CASES:
        W32 = make_tensor(shape, true_rank, seed, noise)
        W = W32.astype(np.float64)
        Us = [leading(W, n, r) for n, r in enumerate(ranks)]
        hosvd_err = rel_error(W, core_of(W, Us))
        errors = [hosvd_err]
        for _ in range(SWEEPS):
            for n in range(3):
                Y = W
                for m in range(3):
                    if m != n:
                        Y = mode_dot(Y, Us[m].T, m)
                Us[n] = leading(Y, n, ranks[n])
            errors.append(rel_error(W, core_of(W, Us)))
        G = core_of(W, Us)
        What = G
        for n, U in enumerate(Us):
            What = mode_dot(What, U, n)
        diff = ((W - What) ** 2).sum(axis=(0, 1))  # (4, h)
        norm = (W ** 2).sum(axis=(0, 1))
        head_type = np.sqrt(diff / norm).T  # (h, 4)
        U_hosvd = [leading(W, n, r) for n, r in enumerate(ranks)]
        tensors = [
            # (d, dv, 4, h) column-major == its transpose (h, 4, dv, d) in C order.
            ("W", np.ascontiguousarray(W32.transpose(3, 2, 1, 0))),
            ("U1", U_hosvd[0].T.copy()),
            ("U2", U_hosvd[1].T.copy()),
            ("U3", U_hosvd[2].T.copy()),
            ("hooi_errors", np.array(errors)),
            ("head_type_error", head_type),
            ("hosvd_error", np.array([hosvd_err])),
        ]
        meta = {"ranks": ",".join(map(str, ranks)), "sweeps": str(SWEEPS), "seed": str(seed)}
        write_safetensors(f"{out}/{name}.safetensors", tensors, meta)
    print("wrote", len(CASES), "fixtures to", out)


if __name__ == "__main__":
    main()
