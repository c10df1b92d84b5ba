#!/usr/bin/python3
"""The corrupt-GGUF matrix as bad-input catalogue entries.

  /usr/bin/python3 tests/reference/gguf_corrupt.py [tests/bad_inputs/catalogue.json]
  /usr/bin/python3 tests/reference/gguf_corrupt.py --seeds tests/fuzz/corpus/gguf

Builds each damaged file from a small valid GGUF (version 3, metadata general.architecture
= "llama" and general.alignment = 32, one F32 tensor "w" of ne [32, 2] at offset 0) and
replaces the catalogue's "gguf" entries with them (each a {'text': [{'hex': ...}]} file spec,
'from' naming the GgufCorrupt test of tests/core/io/test_gguf.cpp that builds the same bytes).
"""
import json
import os
import struct
import sys


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def gstr(s, length=None):
    b = s.encode()
    return u64(len(b) if length is None else length) + b


def kv_string(key, value, length=None):
    return gstr(key) + u32(8) + gstr(value, length)


def kv_u32(key, value):
    return gstr(key) + u32(4) + u32(value)


def tinfo(name, ne, gtype=0, offset=0, n_dims=None):
    return gstr(name) + u32(len(ne) if n_dims is None else n_dims) + b"".join(u64(d) for d in ne) + u32(gtype) + u64(offset)


BASE_KVS = [kv_string("general.architecture", "llama"), kv_u32("general.alignment", 32)]


def build(kvs=None, tensors=None, version=3, tensor_count=None, kv_count=None, data=256, alignment=32,
          truncate=None, magic=b"GGUF", version_bytes=None):
    kvs = BASE_KVS if kvs is None else kvs
    tensors = [tinfo("w", [32, 2])] if tensors is None else tensors
    out = magic + (version_bytes if version_bytes is not None else u32(version))
    out += u64(len(tensors) if tensor_count is None else tensor_count)
    out += u64(len(kvs) if kv_count is None else kv_count)
    out += b"".join(kvs) + b"".join(tensors)
    out += b"\0" * ((-len(out)) % alignment)
    out += b"\0" * data
    return out if truncate is None else out[:truncate]


# (GgufCorrupt test name, bytes, expected message fragments)
CASES = [
    ("BadMagic", build(magic=b"GGML"), ["not a GGUF file"]),
    ("Version1", build(version=1), ["version 1 is not supported"]),
    ("BigEndian", build(version_bytes=struct.pack(">I", 3)), ["big-endian", "0x03000000"]),
    ("TruncatedHeader", build(truncate=10), ["truncated", "tensor_count"]),
    ("TruncatedInMetadata", build(truncate=60), ["truncated", "metadata key 'general.architecture'"]),
    ("TruncatedInTensorInfo", build(truncate=120), ["truncated", "tensor w"]),
    ("TruncatedData", build(truncate=300), ["tensor w", "offset 0 + 256 bytes", "runs past the end"]),
    ("HugeTensorCount", build(tensor_count=1 << 40), ["tensor_count", "1099511627776", "exceeds the limit"]),
    ("TensorCountPastFileSize", build(tensor_count=1000000), ["tensor_count", "1000000", "cannot fit"]),
    ("HugeKvCount", build(kv_count=1 << 62), ["metadata_kv_count", "4611686018427387904", "cannot fit"]),
    ("HugeStringLength", build(kvs=[kv_string("general.architecture", "llama", length=1 << 60)]),
     ["metadata key 'general.architecture'", "string length 1152921504606846976", "exceeds the limit"]),
    ("StringLengthPastEnd", build(kvs=[kv_string("general.architecture", "llama", length=100000)]),
     ["truncated", "metadata key 'general.architecture'", "100000"]),
    ("HugeArrayLength", build(kvs=BASE_KVS + [gstr("tokenizer.ggml.scores") + u32(9) + u32(6) + u64(1 << 50)]),
     ["metadata key 'tokenizer.ggml.scores'", "array length 1125899906842624", "cannot fit"]),
    ("NestedArray", build(kvs=BASE_KVS + [gstr("x.nested") + u32(9) + u32(9) + u64(1) + u32(4) + u64(0)]),
     ["metadata key 'x.nested'", "arrays of arrays"]),
    ("UnknownValueType", build(kvs=BASE_KVS + [gstr("x.odd") + u32(13) + u32(0)]),
     ["metadata key 'x.odd'", "unknown value type 13"]),
    ("BoolNotZeroOrOne", build(kvs=BASE_KVS + [gstr("x.flag") + u32(7) + b"\x02"]),
     ["metadata key 'x.flag'", "bool value 2"]),
    ("DuplicateKey", build(kvs=BASE_KVS + [kv_string("general.architecture", "gpt2")]),
     ["metadata key 'general.architecture'", "appears twice"]),
    ("AlignmentNotU32", build(kvs=[kv_string("general.alignment", "32")]),
     ["general.alignment", "expected u32", "string"]),
    ("AlignmentNotPowerOfTwo", build(kvs=[kv_u32("general.alignment", 24)], alignment=24),
     ["general.alignment", "24 is not a power of two"]),
    ("UnknownGgmlType", build(tensors=[tinfo("w", [32, 2], gtype=99)]), ["tensor w", "unsupported ggml type", "99"]),
    ("UnsupportedIqType", build(tensors=[tinfo("w", [256, 1], gtype=23)]), ["tensor w", "IQ4_XS", "23"]),
    ("MisalignedOffset", build(tensors=[tinfo("w", [32, 2], offset=4)]),
     ["tensor w", "offset 4 is not a multiple of general.alignment 32"]),
    ("OverlappingTensors", build(tensors=[tinfo("w", [32, 2]), tinfo("w2", [32, 2], offset=128)], data=512),
     ["tensors w and w2 overlap", "[0, 256)", "[128, 384)"]),
    ("OffsetPastEnd", build(tensors=[tinfo("w", [32, 2], offset=1024)]),
     ["tensor w", "offset 1024", "runs past the end of the data section of 256 bytes"]),
    ("ShapeLargerThanItsData", build(tensors=[tinfo("w", [32, 4])]),
     ["tensor w", "offset 0 + 512 bytes (F32)", "data section of 256 bytes"]),
    ("RowNotMultipleOfBlock", build(tensors=[tinfo("w", [33, 2], gtype=8)]),
     ["tensor w", "ne[0] = 33 is not a multiple of the Q8_0 block size 32"]),
    ("ShapeOverflows", build(tensors=[tinfo("w", [1 << 32, 1 << 32, 4])]), ["tensor w", "overflows 64 bits"]),
    ("ShapeBytesOverflow", build(tensors=[tinfo("w", [1 << 62, 1])]),
     ["tensor w", "byte size of shape ne = [4611686018427387904, 1] x F32 overflows 64 bits"]),
    ("NegativeDimension", build(tensors=[tinfo("w", [1 << 63, 1])]), ["tensor w", "ne[0] = 9223372036854775808"]),
    ("TooManyDimensions", build(tensors=[tinfo("w", [32, 1, 1, 1, 2])]), ["tensor w", "n_dims 5"]),
    ("DuplicateTensorNames", build(tensors=[tinfo("w", [32, 1]), tinfo("w", [32, 1], offset=128)]),
     ["tensor w", "appears twice"]),
    ("EmptyTensorName", build(tensors=[tinfo("", [32, 2])]), ["tensor info 0", "empty tensor name"]),
]


def seeds(directory):
    """Small valid files for the fuzzer's seed corpus: one tensor type each (block contents
    are arbitrary bytes, which every block format decodes), every metadata value type, and
    a version-2 file with two tensors and alignment 64."""
    rng = __import__("random").Random(21)
    all_types = [gstr("general.architecture") + u32(8) + gstr("llama"),
                 gstr("x.u8") + u32(0) + b"\x07", gstr("x.i8") + u32(1) + b"\xf9",
                 gstr("x.u16") + u32(2) + struct.pack("<H", 700), gstr("x.i16") + u32(3) + struct.pack("<h", -700),
                 gstr("x.u32") + u32(4) + u32(70000), gstr("x.i32") + u32(5) + struct.pack("<i", -70000),
                 gstr("x.f32") + u32(6) + struct.pack("<f", 0.5), gstr("x.bool") + u32(7) + b"\x01",
                 gstr("x.u64") + u32(10) + u64(1 << 40), gstr("x.i64") + u32(11) + struct.pack("<q", -(1 << 40)),
                 gstr("x.f64") + u32(12) + struct.pack("<d", 0.25),
                 gstr("tokenizer.ggml.tokens") + u32(9) + u32(8) + u64(3) + gstr("<unk>") + gstr("a") + gstr("\u2581b"),
                 gstr("tokenizer.ggml.scores") + u32(9) + u32(6) + u64(2) + struct.pack("<ff", -1.0, 2.0)]
    files = {"all_value_types.gguf": build(kvs=all_types, tensors=[tinfo("w", [32, 1])], data=128)}
    for name, gtype, ne, nbytes in [("f32", 0, [32, 2], 256), ("f16", 1, [32, 2], 128), ("bf16", 30, [16], 32),
                                    ("q8_0", 8, [64, 1], 68), ("q4_0", 2, [32, 2], 36), ("q4_1", 3, [32], 20),
                                    ("q5_0", 6, [32], 22), ("q5_1", 7, [32], 24), ("q4_k", 12, [256, 1], 144),
                                    ("q5_k", 13, [256], 176), ("q6_k", 14, [256, 1], 210)]:
        body = build(kvs=BASE_KVS, tensors=[tinfo("blk.0.attn_q.weight", ne, gtype)], data=0)
        files[name + ".gguf"] = body + bytes(rng.randrange(256) for _ in range(nbytes)) + b"\0" * ((-nbytes) % 32)
    files["v2_two_tensors_align64.gguf"] = build(
        kvs=[kv_string("general.architecture", "llama"), kv_u32("general.alignment", 64)],
        tensors=[tinfo("a", [32, 1]), tinfo("b", [32, 1], offset=128)], version=2, alignment=64, data=256)
    os.makedirs(directory, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
    print("wrote", len(files), "seeds to", directory)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--seeds":
        seeds(sys.argv[2])
        return
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "bad_inputs",
                                                              "catalogue.json")
    # The catalogue keeps one entry per line: edit the text, not a re-dump of the document.
    with open(path) as f:
        lines = [l for l in f.read().split("\n") if '"kind": "gguf"' not in l]
    close = max(i for i, l in enumerate(lines) if l.strip() == "]")
    body = lines[:close]
    new = []
    for name, data, expect in CASES:
        entry = {"id": "gguf." + name, "kind": "gguf", "file": {"text": [{"hex": data.hex()}]},
                 "expect": expect, "from": "GgufCorrupt." + name}
        new.append("    " + json.dumps(entry, ensure_ascii=False))
    start = max(i for i, l in enumerate(body) if l.strip().startswith('"entries"')) + 1
    entries = [l.rstrip(",") for l in body[start:] if l.strip()] + new
    out = body[:start] + [e + "," for e in entries[:-1]] + [entries[-1]] + lines[close:]
    text = "\n".join(out)
    json.loads(text)
    with open(path, "w") as f:
        f.write(text)
    print("wrote", len(CASES), "gguf entries to", path)


if __name__ == "__main__":
    main()
