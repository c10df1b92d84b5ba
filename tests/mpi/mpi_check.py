#!/usr/bin/env python3
"""tensorllm-mpi against tensorllm (docs/cluster.md): one case per call, run by ctest.

Each case runs the single-process command and `mpirun -np N tensorllm-mpi` on the same job
and compares every number in the outputs (results.json, the CSV tables, the HDF5 file):
the decompositions are deterministic, so the stored values must be equal to the bit.
Timings, creation times and the checksums that cover them are the only fields skipped.
The fault cases check that a bad layer or a killed rank ends the job with an error naming
the rank (and the layer) and leaves no output behind.

usage: mpi_check.py --cli TENSORLLM --mpi TENSORLLM_MPI --mpirun MPIRUN --work DIR CASE
"""
import argparse
import csv
import json
import math
import os
import shutil
import struct
import subprocess
import sys

import h5py
import numpy as np

SKIP_KEYS = {"seconds", "created_utc", "checksum", "content_sha256", "seconds_decompose", "seconds_eval",
             "prefix_cache", "tool_version"}


def skipped(name):
    n = name.lower()
    return n in SKIP_KEYS or n.startswith("seconds") or n.endswith("seconds") or "time" in n


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cmd, expect=0, env=None):
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=300)
    print(p.stdout)
    if expect is not None and p.returncode != expect:
        fail(f"exit status {p.returncode}, expected {expect}")
    return p


def mpirun(a, np_, args, expect=0, env=None):
    e = dict(os.environ if env is None else env)
    e.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1"})
    return run([a.mpirun, "--allow-run-as-root", "--oversubscribe", "-np", str(np_), a.mpi] + args, expect, e)


def same_number(x, y):
    if isinstance(x, float) or isinstance(y, float):
        return (math.isnan(x) and math.isnan(y)) or x == y
    return x == y


def compare_json(x, y, where):
    if isinstance(x, dict):
        if not isinstance(y, dict):
            fail(f"{where}: object against {type(y).__name__}")
        kx = {k for k in x if not skipped(k)}
        ky = {k for k in y if not skipped(k)}
        if kx != ky:
            fail(f"{where}: keys differ: {sorted(kx ^ ky)}")
        for k in kx:
            compare_json(x[k], y[k], f"{where}.{k}")
    elif isinstance(x, list):
        if not isinstance(y, list) or len(x) != len(y):
            fail(f"{where}: lists of different lengths")
        for i, (u, v) in enumerate(zip(x, y)):
            compare_json(u, v, f"{where}[{i}]")
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        if not isinstance(y, (int, float)) or not same_number(x, y):
            fail(f"{where}: {x!r} != {y!r}")
    elif x != y:
        fail(f"{where}: {x!r} != {y!r}")


def compare_csv(fa, fb):
    with open(fa, newline="") as f:
        ra = list(csv.reader(f))
    with open(fb, newline="") as f:
        rb = list(csv.reader(f))
    if len(ra) != len(rb) or not ra or ra[0] != rb[0]:
        fail(f"{fb}: rows or header differ from {fa}")
    keep = [i for i, h in enumerate(ra[0]) if not skipped(h)]
    for n, (u, v) in enumerate(zip(ra[1:], rb[1:]), start=2):
        for i in keep:
            if u[i] != v[i]:
                fail(f"{fb} line {n} column {ra[0][i]}: {u[i]!r} != {v[i]!r}")
    return len(ra) - 1


def compare_h5(fa, fb):
    count = [0]
    with h5py.File(fa, "r") as A, h5py.File(fb, "r") as B:
        def attrs(a, b, where):
            ka = {k for k in a.attrs if not skipped(k)}
            kb = {k for k in b.attrs if not skipped(k)}
            if ka != kb:
                fail(f"{fb}:{where}: attributes differ: {sorted(ka ^ kb)}")
            for k in ka:
                u, v = np.asarray(a.attrs[k]), np.asarray(b.attrs[k])
                if u.shape != v.shape or not np.array_equal(u, v, equal_nan=u.dtype.kind == "f"):
                    fail(f"{fb}:{where} attribute {k}: {u!r} != {v!r}")
                count[0] += 1

        def walk(a, b, where):
            attrs(a, b, where)
            if isinstance(a, h5py.Dataset):
                if skipped(where.rsplit("/", 1)[-1]):
                    return
                u, v = a[()], b[()]
                u, v = np.asarray(u), np.asarray(v)
                if u.shape != v.shape or not np.array_equal(u, v, equal_nan=u.dtype.kind == "f"):
                    fail(f"{fb}:{where}: dataset differs")
                count[0] += u.size
                return
            ka = {k for k in a.keys() if not skipped(k)}
            kb = {k for k in b.keys() if not skipped(k)}
            if ka != kb:
                fail(f"{fb}:{where}: members differ: {sorted(ka ^ kb)}")
            for k in ka:
                walk(a[k], b[k], f"{where}/{k}")

        walk(A, B, "")
    return count[0]


def compare_sets(ref, got, h5_ref, h5_got):
    with open(os.path.join(ref, "results.json")) as f:
        ja = json.load(f)
    with open(os.path.join(got, "results.json")) as f:
        jb = json.load(f)
    compare_json(ja, jb, "results.json")
    rows = 0
    for name in sorted(os.listdir(ref)):
        if name.endswith(".csv"):
            if not os.path.exists(os.path.join(got, name)):
                fail(f"{got}/{name} missing")
            rows += compare_csv(os.path.join(ref, name), os.path.join(got, name))
    values = compare_h5(h5_ref, h5_got)
    print(f"equal: results.json, {rows} CSV rows, {values} HDF5 values")


def fresh(work, name):
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def synth(a, d, layers=6):
    run([a.cli, "synth", d, "--type", "gpt2", "--hidden", "64", "--heads", "4", "--layers", str(layers), "--rank", "8",
         "--seed", "3"])


def poison_layer(model_dir, layer):
    """Writes NaN into the first attention tensor of `layer` (a corrupt layer)."""
    path = os.path.join(model_dir, "model.safetensors")
    with open(path, "r+b") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        names = sorted(k for k in header if k != "__metadata__" and f".{layer}." in k and "attn" in k and k.endswith("weight"))
        if not names:
            fail(f"no attention tensor of layer {layer} in {path}")
        info = header[names[0]]
        if info["dtype"] != "F32":
            fail("expected F32 weights")
        begin = 8 + n + info["data_offsets"][0]
        f.seek(begin)
        f.write(struct.pack("<4f", *([float("nan")] * 4)))
    return names[0]


DECOMPOSE = ["--ranks", "32,16,4", "--method", "hooi", "--quiet"]


def case_decompose(a, model, np_, name):
    w = fresh(a.work, name)
    src = ["--demo"] if model == "demo" else [model]
    run([a.cli, "decompose"] + src + DECOMPOSE + ["--out", f"{w}/one", "--h5", f"{w}/one.h5", "--denoised", f"{w}/one_dn"])
    mpirun(a, np_, ["decompose"] + src + DECOMPOSE + ["--out", f"{w}/mpi", "--h5", f"{w}/mpi.h5", "--denoised",
                                                      f"{w}/mpi_dn"])
    compare_sets(f"{w}/one", f"{w}/mpi", f"{w}/one.h5", f"{w}/mpi.h5")
    # The denoised checkpoints: the same weights, byte for byte.
    shards = sorted(n for n in os.listdir(f"{w}/one_dn") if n.endswith(".safetensors"))
    if not shards or shards != sorted(n for n in os.listdir(f"{w}/mpi_dn") if n.endswith(".safetensors")):
        fail("the denoised checkpoints have different shards")
    for n in shards:
        with open(f"{w}/one_dn/{n}", "rb") as f, open(f"{w}/mpi_dn/{n}", "rb") as g:
            if f.read() != g.read():
                fail(f"denoised {n} differs")
    print(f"equal: denoised {shards}")


SWEEP = ["--layers", "0-5", "--ranks-list", "32,16,4;16,8,2", "--laser", "down:8", "--max-tokens", "1200", "--quiet",
         "--threads", "1"]


def case_sweep(a, np_, name):
    w = fresh(a.work, name)
    run([a.cli, "sweep", "--demo"] + SWEEP + ["--out", f"{w}/one", "--h5", f"{w}/one.h5"])
    mpirun(a, np_, ["sweep", "--demo"] + SWEEP + ["--out", f"{w}/mpi", "--h5", f"{w}/mpi.h5"])
    compare_sets(f"{w}/one", f"{w}/mpi", f"{w}/one.h5", f"{w}/mpi.h5")


def case_resume(a):
    w = fresh(a.work, "resume")
    run([a.cli, "sweep", "--demo"] + SWEEP + ["--out", f"{w}/one", "--h5", f"{w}/one.h5"])
    # A results file written so far: the first half of the points (no checksum: edited here).
    with open(f"{w}/one/results.json") as f:
        doc = json.load(f)
    total = len(doc["points"])
    doc["points"] = doc["points"][: total // 2]
    doc.pop("checksum", None)
    with open(f"{w}/partial.json", "w") as f:
        json.dump(doc, f)
    p = mpirun(a, 2, ["sweep", "--demo"] + SWEEP + ["--resume", f"{w}/partial.json", "--out", f"{w}/mpi", "--h5",
                                                   f"{w}/mpi.h5"])
    if f"{total // 2} of {total} points done, {total - total // 2} to run" not in p.stdout:
        fail("the resumed run did not report the points it kept and ran")
    compare_sets(f"{w}/one", f"{w}/mpi", f"{w}/one.h5", f"{w}/mpi.h5")
    # A file of another sweep is refused before anything runs.
    other = [x if x != "32,16,4;16,8,2" else "8,8,2" for x in SWEEP]
    p = mpirun(a, 2, ["sweep", "--demo"] + other + ["--resume", f"{w}/partial.json", "--out", f"{w}/bad"], expect=None)
    if p.returncode == 0 or "the edits (rank choices, LASER) differ" not in p.stdout or os.path.exists(f"{w}/bad"):
        fail("a resume file of another sweep was not refused")


def case_cancel(a):
    """SIGTERM on one rank (as scancel sends): the job ends cancelled with nothing written but
    --save-partial, which holds the points the other rank finished; --resume from it gives the
    outputs of an uninterrupted run. A cancelled decomposition writes nothing."""
    w = fresh(a.work, "cancel")
    run([a.cli, "sweep", "--demo"] + SWEEP + ["--out", f"{w}/one", "--h5", f"{w}/one.h5"])
    env = dict(os.environ)
    env["TENSORLLM_MPI_TEST_SIGNAL_RANK"] = "1"
    p = mpirun(a, 2, ["sweep", "--demo"] + SWEEP + ["--out", f"{w}/mpi", "--h5", f"{w}/mpi.h5", "--save-partial",
                                                   f"{w}/partial.json"], expect=None, env=env)
    if p.returncode == 0 or "cancelled" not in p.stdout:
        fail("a sweep with a cancelled rank did not end cancelled")
    no_outputs(w)
    with open(f"{w}/partial.json") as f:
        part = json.load(f)
    with open(f"{w}/one/results.json") as f:
        total = len(json.load(f)["points"])
    kept = len(part["points"])
    if not 0 < kept < total:
        fail(f"--save-partial holds {kept} of {total} points; expected rank 0's share")
    p = mpirun(a, 2, ["sweep", "--demo"] + SWEEP + ["--resume", f"{w}/partial.json", "--out", f"{w}/mpi", "--h5",
                                                   f"{w}/mpi.h5"])
    if f"{kept} of {total} points done, {total - kept} to run" not in p.stdout:
        fail("the resumed run did not report the points it kept and ran")
    compare_sets(f"{w}/one", f"{w}/mpi", f"{w}/one.h5", f"{w}/mpi.h5")
    p = mpirun(a, 3, ["decompose", "--demo"] + DECOMPOSE + ["--out", f"{w}/mpi_dec", "--h5", f"{w}/mpi_dec.h5"],
               expect=None, env=env)
    if p.returncode == 0 or "cancelled" not in p.stdout or "nothing written" not in p.stdout:
        fail("a decomposition with a cancelled rank did not end cancelled with nothing written")
    no_outputs(w, "mpi_dec")


def no_outputs(w, prefix="mpi"):
    left = [n for n in os.listdir(w) if n.startswith(prefix)]
    if left:
        fail(f"partial output left behind: {left}")


def case_bad_layer(a):
    w = fresh(a.work, "bad_layer")
    model = f"{w}/model"
    synth(a, model)
    tensor = poison_layer(model, 3)
    print(f"layer 3: NaN written into {tensor}")
    p = mpirun(a, 2, ["decompose", model] + DECOMPOSE + ["--out", f"{w}/mpi", "--h5", f"{w}/mpi.h5"], expect=None)
    if p.returncode == 0:
        fail("a job with a bad layer succeeded")
    # Layer 3 is rank 1's (the layers are dealt round robin: equal costs).
    if "layer 3 failed: on rank 1:" not in p.stdout or "NaN" not in p.stdout:
        fail("the error does not name the layer, the rank and the cause")
    no_outputs(w)


def case_killed_rank(a):
    w = fresh(a.work, "killed_rank")
    env = dict(os.environ)
    env["TENSORLLM_MPI_TEST_KILL_RANK"] = "1"
    p = mpirun(a, 3, ["decompose", "--demo"] + DECOMPOSE + ["--out", f"{w}/mpi", "--h5", f"{w}/mpi.h5"], expect=None,
               env=env)
    if p.returncode == 0:
        fail("a job with a killed rank succeeded")
    if "rank 1" not in p.stdout or "signal 9" not in p.stdout:
        fail("mpirun's error does not name the killed rank")
    if "rank 1 of 3: layers 1,4" not in p.stdout:
        fail("the log does not say which layers the killed rank held")
    no_outputs(w)
    leftovers = [n for n in os.listdir(w) if ".tmp" in n]
    if leftovers:
        fail(f"temporary files left: {leftovers}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--mpi", required=True)
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("case")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    c = a.case
    if c.startswith("decompose_demo_np"):
        case_decompose(a, "demo", int(c[-1]), c)
    elif c.startswith("decompose_synth_np"):
        model = fresh(a.work, c + "_model")
        synth(a, model, layers=7)
        case_decompose(a, model, int(c[-1]), c)
    elif c.startswith("sweep_demo_np"):
        case_sweep(a, int(c[-1]), c)
    elif c == "sweep_resume":
        case_resume(a)
    elif c == "cancel":
        case_cancel(a)
    elif c == "bad_layer":
        case_bad_layer(a)
    elif c == "killed_rank":
        case_killed_rank(a)
    else:
        fail("unknown case " + c)
    print("ok")


if __name__ == "__main__":
    main()
