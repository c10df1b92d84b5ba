#!/usr/bin/env bash
# Whole-model benchmark (not part of the test command): writes a 32-layer LLaMA-2-7B-layout
# checkpoint in bf16 (attention weights only, 8 shards, rank-512 shared structure + 10 %
# noise) with `tensorllm synth`, then decomposes every layer through the CLI with ST-HOSVD +
# HOOI at (512, 64, 4), and prints wall time and peak resident memory; then the first
# SCALING_LAYERS layers with 1 and with 2 threads, for the scaling ratio.
#
#   tests/bench/whole_model.sh [WORKDIR]     (needs about 4.5 GB of free disk in WORKDIR)
#
# Environment: TENSORLLM (the CLI, default build/app/tensorllm), LAYERS (32),
# SCALING_LAYERS (8; 0 skips the scaling runs), EXTRA_ARGS (more decompose options, e.g. "--mode-order dv,qkvo,d").
set -euo pipefail
cd "$(dirname "$0")/../.."
cli=${TENSORLLM:-build/app/tensorllm}
work=${1:-${TMPDIR:-/tmp}/tensorllm-7b-bench}
layers=${LAYERS:-32}
scaling=${SCALING_LAYERS:-8}
model="$work/llama7b-bf16"

need_kib=$((layers * 4 * 4096 * 4096 * 2 / 1024 + 200 * 1024))
mkdir -p "$work"
free_kib=$(df -Pk "$work" | awk 'NR==2 {print $4}')
if [ ! -f "$model/model.safetensors.index.json" ]; then
    if [ "$free_kib" -lt "$need_kib" ]; then
        echo "whole_model.sh: $work has $((free_kib / 1024)) MiB free, needs $((need_kib / 1024)) MiB" >&2
        exit 1
    fi
    echo "== writing $layers-layer LLaMA-7B-layout bf16 checkpoint to $model"
    "$cli" synth "$model" --type llama --hidden 4096 --heads 32 \
        --layers "$layers" --dtype BF16 --shards 8 --rank 512 --noise 0.1 --no-extras
fi
du -sh "$model"

run() {  # run NAME ARGS...
    local name=$1
    shift
    echo "== $name"
    rm -rf "$work/out-$name"
    local t0=$SECONDS
    # The CLI's last line gives its own time and peak resident memory.
    "$cli" decompose "$model" --ranks 512,64,4 --method hooi --init sthosvd --quiet \
        --out "$work/out-$name" ${EXTRA_ARGS:-} "$@" | tail -n 3
    echo "$name: wall $((SECONDS - t0)) s (including reading the checkpoint and writing the tables)"
}

run all-layers-2-threads --threads 2
if [ "$scaling" -gt 0 ]; then
    run scaling-1-thread --threads 1 --layers "0-$((scaling - 1))"
    run scaling-2-threads --threads 2 --layers "0-$((scaling - 1))"
fi
