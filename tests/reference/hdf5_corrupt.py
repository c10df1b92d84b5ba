#!/usr/bin/env python3
"""Writes damaged copies of a TensorLLM results file, one per failure mode of the reader.

Usage: hdf5_corrupt.py GOOD.h5 OUT_DIR
For every case writes OUT_DIR/<case>.h5 and prints one line "<case>\t<object path>", the
HDF5 object the reader's error message must name. The good file must hold layer 0 with
ranks below (d, dv, 4) and the llama test geometry (d = 32).

Each copy is edited in place by h5py, as another tool would rewrite a file, and loses the
whole-file checksum (root attribute content_sha256) that any edit would break: what is
tested here is the structural validation behind it. The checksum itself is tested by
flipping bytes of an intact file (tests/core/cli/test_cli_output_guard.cpp).
"""
import shutil
import sys

import h5py
import numpy as np


def replace(group, name, data, **kw):
    del group[name]
    group.create_dataset(name, data=data, **kw)


CASES = {
    "format": ("/", lambda f: f.attrs.__setitem__("format", np.bytes_(b"something-else"))),
    # A valid value stored as a variable-length string (h5py's default for str): refused
    # before libhdf5 reads it from the global heap (fuzzing: H5HG_read out of bounds).
    "vlen_format": ("/", lambda f: f.attrs.__setitem__("format", "tensorllm-results")),
    "vlen_status": ("/layers/0", lambda f: f["layers/0"].attrs.__setitem__("status", "ok")),
    "version": ("/", lambda f: f.attrs.__setitem__("format_version", np.int64(99))),
    "heads_zero": ("/model", lambda f: f["model"].attrs.__setitem__("num_heads", np.int64(0))),
    "heads_huge": ("/model", lambda f: f["model"].attrs.__setitem__("num_heads", np.int64(2 ** 40))),
    "kv_not_divisor": ("/model", lambda f: f["model"].attrs.__setitem__("num_kv_heads", np.int64(3))),
    "kv_map": ("/model/kv_head_of_head", lambda f: replace(f["model"], "kv_head_of_head", np.array([0, 1, 0, 1], np.int64))),
    "hidden_as_string": ("/model", lambda f: f["model"].attrs.__setitem__("hidden_size", "32")),
    "rank_too_big": ("/layers/0", lambda f: f["layers/0"].attrs.__setitem__("ranks", np.array([33, 5, 3], np.int64))),
    "rank_zero": ("/layers/0", lambda f: f["layers/0"].attrs.__setitem__("ranks", np.array([0, 5, 3], np.int64))),
    "u1_dims": ("/layers/0/U1", lambda f: replace(f["layers/0"], "U1", np.zeros((32, 11), np.float32))),
    "u2_rank3": ("/layers/0/U2", lambda f: replace(f["layers/0"], "U2", np.zeros((8, 5, 1), np.float32))),
    "core_dims": ("/layers/0/core", lambda f: replace(f["layers/0"], "core", np.zeros((4, 3, 5, 11), np.float32))),
    "u3_float64": ("/layers/0/U3", lambda f: replace(f["layers/0"], "U3", np.zeros((4, 3), np.float64))),
    "trace_int": ("/layers/0/trace", lambda f: replace(f["layers/0"], "trace", np.zeros(3, np.int32))),
    "head_error_len": ("/layers/0/head_error", lambda f: replace(f["layers/0"], "head_error", np.zeros(5))),
    "missing_core": ("/layers/0/core", lambda f: f["layers/0"].__delitem__("core")),
    "missing_options": ("/options", lambda f: f.__delitem__("options")),
    "missing_attr": ("/layers/0", lambda f: f["layers/0"].attrs.__delitem__("rel_error")),
    "status": ("/layers/0", lambda f: f["layers/0"].attrs.__setitem__("status", np.bytes_(b"bogus"))),
    "method": ("/options", lambda f: f["options"].attrs.__setitem__("method", "svd")),
    "layer_order_extra": ("/layers", lambda f: replace(f["summary"], "layer_order", np.array([0, 2, 5], np.int64))),
    "layer_order_repeat": ("/summary/layer_order", lambda f: replace(f["summary"], "layer_order", np.array([0, 0], np.int64))),
    "layer_attr_mismatch": ("/layers/0", lambda f: f["layers/0"].attrs.__setitem__("layer", np.int64(4))),
    "sha": ("/source", lambda f: f["source"].attrs.__setitem__("header_sha256", "xyz")),
    "dtype": ("/layers/0", lambda f: f["layers/0"].attrs.__setitem__("weight_dtype", "Q4")),
    "huge_compressed": ("/layers/0/trace", lambda f: replace(
        f["layers/0"], "trace", None, shape=(10 ** 9,), dtype=np.float64, chunks=(1 << 16,), compression="gzip")),
}


def main():
    good, out = sys.argv[1], sys.argv[2]
    for case, (obj, damage) in CASES.items():
        path = f"{out}/{case}.h5"
        shutil.copyfile(good, path)
        with h5py.File(path, "r+") as f:
            if "content_sha256" in f.attrs:
                del f.attrs["content_sha256"]
            damage(f)
        print(f"{case}\t{obj}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
