// Lists every tests/data/gguf/*.gguf file with an independent GGUF parser, the npm package
// @huggingface/gguf, into <file>.npm.json beside it: the version, the data section's offset,
// every metadata key with its GGUF value type and value, and every tensor's name, shape (ne,
// GGUF order), ggml type number and offset. tests/core/io/test_gguf_fixtures.cpp compares
// io::GgufFile's listing with these files, so the test needs no Node.js.
//
// Regenerate (after tests/data/gguf changes):
//   (cd /tmp && npm install @huggingface/gguf@0.4.6)
//   NODE_PATH=/tmp/node_modules node tests/reference/gguf_npm_check.js tests/data/gguf
//
// 64-bit integers (bigint in the package) are written as decimal strings; floats as
// JavaScript numbers (a float32 value converts to double exactly).
"use strict";
const fs = require("fs");
const path = require("path");
const { gguf } = require("@huggingface/gguf");

function plain(v) {
    if (typeof v === "bigint") return v.toString();
    if (Array.isArray(v)) return v.map(plain);
    return v;
}

function packageVersion() {
    const dir = path.dirname(require.resolve("@huggingface/gguf"));  // <package>/dist
    return JSON.parse(fs.readFileSync(path.join(dir, "..", "package.json"), "utf8")).version;
}

async function listOne(file) {
    const out = await gguf(file, { allowLocalFile: true, typedMetadata: true });
    const meta = {};
    for (const [key, tv] of Object.entries(out.typedMetadata)) {
        if (key === "version" || key === "tensor_count" || key === "kv_count") continue;
        const entry = { type: tv.type, value: plain(tv.value) };
        if (tv.subType !== undefined) entry.element_type = tv.subType;
        meta[key] = entry;
    }
    return {
        source: "@huggingface/gguf " + packageVersion(),
        version: Number(out.typedMetadata.version.value),
        tensor_count: plain(out.typedMetadata.tensor_count.value),
        kv_count: plain(out.typedMetadata.kv_count.value),
        little_endian: out.littleEndian,
        tensor_data_offset: plain(out.tensorDataOffset),
        metadata_keys: Object.keys(meta),
        metadata: meta,
        tensors: out.tensorInfos.map((t) => ({
            name: t.name,
            n_dims: t.n_dims,
            shape: plain(t.shape),
            dtype: t.dtype,
            offset: plain(t.offset),
        })),
    };
}

async function main() {
    const dir = process.argv[2] || path.join(__dirname, "..", "data", "gguf");
    const files = fs.readdirSync(dir).filter((f) => f.endsWith(".gguf")).sort();
    for (const f of files) {
        const listing = await listOne(path.resolve(dir, f));
        fs.writeFileSync(path.join(dir, f + ".npm.json"), JSON.stringify(listing, null, 1) + "\n");
        console.log("listed", f, listing.tensors.length, "tensors,", listing.metadata_keys.length, "keys");
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
