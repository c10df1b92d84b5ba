#!/usr/bin/python3
"""Independent reference for the GGUF reader: its own GGUF parser and its own numpy
dequantisers, written from the published ggml block layouts (ggml-common.h and the
dequantize_row_* functions of ggml-quants.c), not from core/io/gguf*.cpp.

  /usr/bin/python3 tests/reference/gguf_reference.py [tests/data/gguf]

For every *.gguf file of the directory it parses the header, metadata and tensor infos,
dequantises every tensor of a supported type to float32 and writes expected_values.json:
per file and tensor the GGUF type, ne, offset, the float64 sum of the values, a
position-weighted sum (which a permutation of the values changes) and sampled values
(index, value). tests/core/io/test_gguf_fixtures.cpp compares GgufFile::read_f32 with it.
It also checks two hand-made K-quant blocks (one Q4_K, one Q6_K) against values worked out
by hand from the layouts (see hand_checked_blocks), and fails if they disagree.
"""
import json
import os
import struct
import sys

import numpy as np

F32 = np.float32

# ggml type number -> (name, elements per block, bytes per block)
TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8),
    28: ("F64", 1, 8), 30: ("BF16", 1, 2),
}

# GGUF metadata value types -> struct format (8 string, 9 array)
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
           10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.data[self.pos:self.pos + n]
        assert len(s) == n, "truncated string"
        self.pos += n
        return s.decode("utf-8", errors="replace")

    def value(self, vtype):
        if vtype == 8:
            return self.string()
        if vtype == 9:
            etype = self.take("<I")
            count = self.take("<Q")
            return [self.value(etype) for _ in range(count)]
        return self.take(SCALARS[vtype])


def parse(path):
    data = open(path, "rb").read()
    r = Reader(data)
    assert data[:4] == b"GGUF", path
    r.pos = 4
    version = r.take("<I")
    assert version in (2, 3), version
    n_tensors = r.take("<Q")
    n_kv = r.take("<Q")
    meta = {}
    for _ in range(n_kv):
        key = r.string()
        vtype = r.take("<I")
        meta[key] = r.value(vtype)
    alignment = meta.get("general.alignment", 32)
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        n_dims = r.take("<I")
        ne = [r.take("<Q") for _ in range(n_dims)]
        gtype = r.take("<I")
        offset = r.take("<Q")
        tensors.append({"name": name, "ne": ne, "type": gtype, "offset": offset})
    data_start = (r.pos + alignment - 1) // alignment * alignment
    for t in tensors:
        name, blk, bb = TYPES[t["type"]]
        n = int(np.prod(t["ne"], dtype=np.uint64)) if t["ne"] else 1
        t["numel"] = n
        t["nbytes"] = n // blk * bb
        start = data_start + t["offset"]
        t["raw"] = np.frombuffer(data, dtype=np.uint8, count=t["nbytes"], offset=start)
        assert t["offset"] % alignment == 0
    return version, meta, tensors, alignment


def f16(b):
    """fp16 fields (little-endian byte pairs, shape [..., 2]) -> float32, exactly."""
    return np.ascontiguousarray(b).view("<f2").astype(F32)[..., 0]


def deq_q4_0(raw):
    b = raw.reshape(-1, 18)
    d = f16(b[:, 0:2])[:, None]
    qs = b[:, 2:18].astype(np.int32)
    q = np.concatenate([(qs & 0x0F) - 8, (qs >> 4) - 8], axis=1).astype(F32)
    return (q * d).astype(F32)


def deq_q4_1(raw):
    b = raw.reshape(-1, 20)
    d = f16(b[:, 0:2])[:, None]
    m = f16(b[:, 2:4])[:, None]
    qs = b[:, 4:20].astype(np.int32)
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(F32)
    return (q * d + m).astype(F32)


def fifth_bits(qh_bytes):
    """The 32 high bits of a Q5 block: bit j of the little-endian u32 belongs to element j."""
    qh = np.ascontiguousarray(qh_bytes).view("<u4")[:, 0]
    return ((qh[:, None] >> np.arange(32, dtype=np.uint32)[None, :]) & 1).astype(np.int32)


def deq_q5_0(raw):
    b = raw.reshape(-1, 22)
    d = f16(b[:, 0:2])[:, None]
    hi = fifth_bits(b[:, 2:6])
    qs = b[:, 6:22].astype(np.int32)
    low = np.concatenate([qs & 0x0F, qs >> 4], axis=1)
    q = ((low | (hi << 4)) - 16).astype(F32)
    return (q * d).astype(F32)


def deq_q5_1(raw):
    b = raw.reshape(-1, 24)
    d = f16(b[:, 0:2])[:, None]
    m = f16(b[:, 2:4])[:, None]
    hi = fifth_bits(b[:, 4:8])
    qs = b[:, 8:24].astype(np.int32)
    low = np.concatenate([qs & 0x0F, qs >> 4], axis=1)
    q = (low | (hi << 4)).astype(F32)
    return (q * d + m).astype(F32)


def deq_q8_0(raw):
    b = raw.reshape(-1, 34)
    d = f16(b[:, 0:2])[:, None]
    q = np.ascontiguousarray(b[:, 2:34]).view(np.int8).astype(F32)
    return (q * d).astype(F32)


def k4_scales(sc):
    """The eight 6-bit (scale, min) pairs of a Q4_K/Q5_K block from its 12 scale bytes:
    pairs 0-3 are the low 6 bits of bytes j (scale) and j+4 (min); pairs 4-7 take their low
    4 bits from the nibbles of byte j+4 and their top 2 bits from the top bits of bytes j-4
    (scale) and j (min)."""
    sc = sc.astype(np.int32)
    scale = np.zeros((sc.shape[0], 8), np.int32)
    mins = np.zeros((sc.shape[0], 8), np.int32)
    for j in range(4):
        scale[:, j] = sc[:, j] & 63
        mins[:, j] = sc[:, j + 4] & 63
    for j in range(4, 8):
        scale[:, j] = (sc[:, j + 4] & 0x0F) | ((sc[:, j - 4] >> 6) << 4)
        mins[:, j] = (sc[:, j + 4] >> 4) | ((sc[:, j] >> 6) << 4)
    return scale, mins


def deq_q4_k(raw):
    b = raw.reshape(-1, 144)
    d = f16(b[:, 0:2])
    dmin = f16(b[:, 2:4])
    scale, mins = k4_scales(b[:, 4:16])
    qs = b[:, 16:144].astype(np.int32)
    out = np.zeros((b.shape[0], 256), F32)
    for c in range(4):  # 64 elements: sub-blocks 2c (low nibbles) and 2c+1 (high nibbles)
        q = qs[:, 32 * c:32 * c + 32]
        for half, nib in ((0, q & 0x0F), (1, q >> 4)):
            s = 2 * c + half
            d1 = (d * scale[:, s].astype(F32)).astype(F32)[:, None]
            m1 = (dmin * mins[:, s].astype(F32)).astype(F32)[:, None]
            out[:, 64 * c + 32 * half:64 * c + 32 * half + 32] = d1 * nib.astype(F32) - m1
    return out


def deq_q5_k(raw):
    b = raw.reshape(-1, 176)
    d = f16(b[:, 0:2])
    dmin = f16(b[:, 2:4])
    scale, mins = k4_scales(b[:, 4:16])
    qh = b[:, 16:48].astype(np.int32)
    qs = b[:, 48:176].astype(np.int32)
    out = np.zeros((b.shape[0], 256), F32)
    for c in range(4):
        q = qs[:, 32 * c:32 * c + 32]
        for half, nib in ((0, q & 0x0F), (1, q >> 4)):
            s = 2 * c + half
            high = ((qh >> s) & 1) * 16  # bit s of qh[l] is the fifth bit of sub-block s
            d1 = (d * scale[:, s].astype(F32)).astype(F32)[:, None]
            m1 = (dmin * mins[:, s].astype(F32)).astype(F32)[:, None]
            out[:, 64 * c + 32 * half:64 * c + 32 * half + 32] = d1 * (nib + high).astype(F32) - m1
    return out


def deq_q6_k(raw):
    b = raw.reshape(-1, 210)
    ql = b[:, 0:128].astype(np.int32)
    qh = b[:, 128:192].astype(np.int32)
    sc = np.ascontiguousarray(b[:, 192:208]).view(np.int8).astype(F32)
    d = f16(b[:, 208:210])
    out = np.zeros((b.shape[0], 256), F32)
    for n in range(2):  # halves of 128 elements: 64 ql bytes, 32 qh bytes, 8 scales each
        l_ = ql[:, 64 * n:64 * n + 64]
        h_ = qh[:, 32 * n:32 * n + 32]
        s_ = sc[:, 8 * n:8 * n + 8]
        parts = [
            (l_[:, 0:32] & 0x0F) | (((h_ >> 0) & 3) << 4),
            (l_[:, 32:64] & 0x0F) | (((h_ >> 2) & 3) << 4),
            (l_[:, 0:32] >> 4) | (((h_ >> 4) & 3) << 4),
            (l_[:, 32:64] >> 4) | (((h_ >> 6) & 3) << 4),
        ]
        for k, q in enumerate(parts):  # quarter k: elements 32k..32k+31, scales 2k, 2k+1 (16 each)
            for half in range(2):
                ds = (d * s_[:, 2 * k + half]).astype(F32)[:, None]
                qq = (q[:, 16 * half:16 * half + 16] - 32).astype(F32)
                out[:, 128 * n + 32 * k + 16 * half:128 * n + 32 * k + 16 * half + 16] = ds * qq
    return out


def dequantize(t):
    raw = t["raw"]
    gt = t["type"]
    if gt == 0:
        v = raw.view("<f4").astype(F32)
    elif gt == 1:
        v = raw.view("<f2").astype(F32)
    elif gt == 30:
        v = (raw.view("<u2").astype(np.uint32) << 16).view(F32)
    else:
        fn = {2: deq_q4_0, 3: deq_q4_1, 6: deq_q5_0, 7: deq_q5_1, 8: deq_q8_0,
              12: deq_q4_k, 13: deq_q5_k, 14: deq_q6_k}.get(gt)
        if fn is None:
            return None
        v = fn(raw) if raw.size else np.zeros(0, F32)
    return np.asarray(v, F32).reshape(-1)


def weights(n):
    """Position weights of the weighted checksum: ((i * 7919) mod 1000 + 1) / 1000."""
    i = np.arange(n, dtype=np.float64)
    return (np.mod(i * 7919.0, 1000.0) + 1.0) / 1000.0


def sample_indices(n):
    if n == 0:
        return []
    idx = set(np.linspace(0, n - 1, num=min(n, 24)).astype(np.int64).tolist())
    rng = np.random.default_rng(n)
    idx.update(rng.integers(0, n, size=min(n, 16)).tolist())
    return sorted(idx)


def hand_checked_blocks():
    """One Q4_K and one Q6_K block whose values are worked out by hand from the layouts.

    Q4_K: d = 0.5, dmin = 0.25 (both exact in fp16). Sub-block s has scale s + 1 for s < 4
    and 20 + s for s >= 4 (so 24..27 use the top-bit path: 24 = 0b011000), min = s. Every
    quant byte is 0x21 + c (low nibble 1 + c, high nibble 2) in 64-element chunk c. Element
    32*s + l has the value 0.5 * scale(s) * q - 0.25 * s, where q = 1 + s//2 for even s and
    q = 2 for odd s.

    Q6_K: d = 0.125, scales[k] = k - 8 (negative ones too). Every ql byte is 0x53 (low 3,
    high 5), every qh byte is 0b10_01_00_11 (fields 3, 0, 1, 2 from the low bits), so the
    four quarters of each half hold q = 3|3<<4=51, 3|0=3, 5|1<<4=21, 5|2<<4=37 minus 32:
    19, -29, -11, 5. Element e (half n = e//128, quarter k = (e%128)//32, 16-group
    g = (e%32)//16) has the value 0.125 * scales[8n + 2k + g] * q[k]."""
    q4k = bytearray(144)
    q4k[0:2] = np.float16(0.5).tobytes()
    q4k[2:4] = np.float16(0.25).tobytes()
    scales = [s + 1 if s < 4 else 20 + s for s in range(8)]
    mins = list(range(8))
    sc = [0] * 12
    for s in range(8):
        if s < 4:
            sc[s] |= scales[s] & 63
            sc[s + 4] |= mins[s] & 63
        else:
            sc[s + 4] = (scales[s] & 0x0F) | ((mins[s] & 0x0F) << 4)
            sc[s - 4] |= (scales[s] >> 4) << 6
            sc[s] |= (mins[s] >> 4) << 6
    q4k[4:16] = bytes(sc)
    for c in range(4):
        for l in range(32):
            q4k[16 + 32 * c + l] = 0x21 + c
    expect = []
    for s in range(8):
        q = 1 + s // 2 if s % 2 == 0 else 2
        expect += [0.5 * scales[s] * q - 0.25 * mins[s]] * 32
    got = deq_q4_k(np.frombuffer(bytes(q4k), np.uint8)).reshape(-1)
    assert np.array_equal(got, np.array(expect, F32)), (got, expect)

    q6k = bytearray(210)
    q6k[0:128] = bytes([0x53]) * 128
    q6k[128:192] = bytes([0b10010011]) * 64
    q6k[192:208] = np.arange(-8, 8, dtype=np.int8).tobytes()
    q6k[208:210] = np.float16(0.125).tobytes()
    qk = [19, -29, -11, 5]
    expect6 = []
    for e in range(256):
        n, k, g = e // 128, (e % 128) // 32, (e % 32) // 16
        expect6.append(0.125 * (8 * n + 2 * k + g - 8) * qk[k])
    got6 = deq_q6_k(np.frombuffer(bytes(q6k), np.uint8)).reshape(-1)
    assert np.array_equal(got6, np.array(expect6, F32)), (got6, expect6)
    return {"q4_k_block_hex": bytes(q4k).hex(), "q4_k_values": expect,
            "q6_k_block_hex": bytes(q6k).hex(), "q6_k_values": expect6}


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "data", "gguf")
    out = {"format": "tensorllm-gguf-expected/1",
           "about": "written by tests/reference/gguf_reference.py from the *.gguf files beside it",
           "hand_checked": hand_checked_blocks(), "files": {}}
    for fname in sorted(os.listdir(directory)):
        if not fname.endswith(".gguf"):
            continue
        version, meta, tensors, alignment = parse(os.path.join(directory, fname))
        entry = {"version": version, "alignment": alignment, "metadata_keys": list(meta.keys()), "tensors": {}}
        for t in tensors:
            v = dequantize(t)
            rec = {"type": TYPES[t["type"]][0], "ne": t["ne"], "offset": t["offset"]}
            if v is not None:
                v64 = v.astype(np.float64)
                rec["sum"] = float(v64.sum())
                rec["weighted_sum"] = float((v64 * weights(v.size)).sum())
                rec["samples"] = [[int(i), float(v[i])] for i in sample_indices(v.size)]
            entry["tensors"][t["name"]] = rec
        out["files"][fname] = entry
    path = os.path.join(directory, "expected_values.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", path, "for", len(out["files"]), "files")


if __name__ == "__main__":
    main()
