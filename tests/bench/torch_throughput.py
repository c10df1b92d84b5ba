#!/usr/bin/python3
"""PyTorch next to `tensorllm bench --eval` on the same synthetic checkpoint (docs/performance.md,
"Evaluation").

For each case ("gpt2-124m", "llama-1b"): runs `tensorllm bench --eval --json --filter
"throughput CASE ctx1024"` (our tokens/s and mean NLL, and the synth options of its
checkpoint), writes the same checkpoint with `tensorllm synth` into a temporary directory,
reads its safetensors directly (JSON header + little-endian data; no safetensors package),
builds the model in plain torch (no transformers), scores the same windows of the same token
ids with the same thread count under torch.inference_mode, and prints both throughputs. Exits
with status 1 when the two mean NLLs differ by more than 1e-3 (then they did not compute the
same thing).

    /usr/bin/python3 tests/bench/torch_throughput.py [--tensorllm build/app/tensorllm]
        [--threads N] [--windows W] [--case gpt2-124m|llama-1b|all]

Needs Debian's python3-torch and python3-numpy.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tensorllm", default="build/app/tensorllm", help="the CLI (default build/app/tensorllm)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of both (default: all cores)")
    p.add_argument("--windows", type=int, default=0, help="windows of 1024 tokens (default: the bench's)")
    p.add_argument("--case", default="all", choices=["gpt2-124m", "llama-1b", "all"])
    return p.parse_args()


ARGS = parse_args()
# OpenBLAS (torch's BLAS on Debian) reads its thread count at load.
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def read_safetensors(path, out):
    """Adds every tensor of the safetensors file `path` to `out` as float32 torch tensors."""
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": np.uint16}
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = np.frombuffer(data[b:e], dtype=dtypes[info["dtype"]])
        if info["dtype"] == "BF16":  # the high half of a float32
            arr = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            arr = raw.astype(np.float32)
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())


def load_checkpoint(d):
    tensors = {}
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    for name in files:
        read_safetensors(os.path.join(d, name), tensors)
    with open(os.path.join(d, "config.json")) as f:
        return json.load(f), tensors


def causal_attention(q, k, v, scale):
    """q (h, n, dv), k/v (h, n, dv): softmax(scale q k^T + causal mask) v."""
    n = q.shape[1]
    s = torch.matmul(q, k.transpose(1, 2)) * scale
    mask = torch.ones(n, n, dtype=torch.bool).triu(1)
    s = s.masked_fill(mask, float("-inf"))
    return torch.matmul(torch.softmax(s, dim=-1), v)


class Gpt2:
    def __init__(self, cfg, w):
        self.d, self.h, self.L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)
        p = "transformer." if "transformer.wte.weight" in w else ""
        self.w, self.p = w, p

    def hidden(self, ids):
        w, p, d, h = self.w, self.p, self.d, self.h
        n = ids.shape[0]
        x = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][:n]
        dv = d // h
        for l in range(self.L):
            L = f"{p}h.{l}."
            a = F.layer_norm(x, (d,), w[L + "ln_1.weight"], w[L + "ln_1.bias"], self.eps)
            qkv = torch.addmm(w[L + "attn.c_attn.bias"], a, w[L + "attn.c_attn.weight"])
            q, k, v = (t.reshape(n, h, dv).transpose(0, 1) for t in qkv.split(d, dim=1))
            att = causal_attention(q, k, v, 1.0 / math.sqrt(dv)).transpose(0, 1).reshape(n, d)
            x = x + torch.addmm(w[L + "attn.c_proj.bias"], att, w[L + "attn.c_proj.weight"])
            m = F.layer_norm(x, (d,), w[L + "ln_2.weight"], w[L + "ln_2.bias"], self.eps)
            m = F.gelu(torch.addmm(w[L + "mlp.c_fc.bias"], m, w[L + "mlp.c_fc.weight"]), approximate="tanh")
            x = x + torch.addmm(w[L + "mlp.c_proj.bias"], m, w[L + "mlp.c_proj.weight"])
        return F.layer_norm(x, (d,), w[p + "ln_f.weight"], w[p + "ln_f.bias"], self.eps)

    def head(self):
        return self.w[self.p + "wte.weight"]


class Llama:
    def __init__(self, cfg, w):
        self.d, self.h, self.L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
        self.kv = cfg.get("num_key_value_heads", self.h)
        self.dv = cfg.get("head_dim", self.d // self.h)
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)
        self.tied = cfg.get("tie_word_embeddings", False)
        self.w = w

    def rms(self, x, weight):
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def rope(self, x, cos, sin):  # x (heads, n, dv), rotate_half
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return x * cos + torch.cat((-x2, x1), dim=-1) * sin

    def hidden(self, ids):
        w, h, kv, dv = self.w, self.h, self.kv, self.dv
        n = ids.shape[0]
        inv = 1.0 / (self.theta ** (torch.arange(0, dv, 2, dtype=torch.float64) / dv))
        ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None, :]
        ang = torch.cat((ang, ang), dim=-1)
        cos, sin = ang.cos().float(), ang.sin().float()
        x = w["model.embed_tokens.weight"][ids]
        for l in range(self.L):
            L = f"model.layers.{l}."
            a = self.rms(x, w[L + "input_layernorm.weight"])
            q = F.linear(a, w[L + "self_attn.q_proj.weight"]).reshape(n, h, dv).transpose(0, 1)
            k = F.linear(a, w[L + "self_attn.k_proj.weight"]).reshape(n, kv, dv).transpose(0, 1)
            v = F.linear(a, w[L + "self_attn.v_proj.weight"]).reshape(n, kv, dv).transpose(0, 1)
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
            k, v = k.repeat_interleave(h // kv, dim=0), v.repeat_interleave(h // kv, dim=0)
            att = causal_attention(q, k, v, 1.0 / math.sqrt(dv)).transpose(0, 1).reshape(n, h * dv)
            x = x + F.linear(att, w[L + "self_attn.o_proj.weight"])
            m = self.rms(x, w[L + "post_attention_layernorm.weight"])
            m = F.silu(F.linear(m, w[L + "mlp.gate_proj.weight"])) * F.linear(m, w[L + "mlp.up_proj.weight"])
            x = x + F.linear(m, w[L + "mlp.down_proj.weight"])
        return self.rms(x, w["model.norm.weight"])

    def head(self):
        return self.w["model.embed_tokens.weight" if self.tied else "lm_head.weight"]


def bench_ids(n, vocab):
    return torch.tensor([((i * 2654435761) % (1 << 32)) % vocab for i in range(n)], dtype=torch.long)


def torch_case(cfg, w, windows, ctx=1024):
    model = Gpt2(cfg, w) if cfg["model_type"] == "gpt2" else Llama(cfg, w)
    ids = bench_ids(windows * ctx, cfg["vocab_size"])
    head = model.head()
    nll, scored = 0.0, 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for b in range(0, windows * ctx, ctx):
            win = ids[b:b + ctx]
            x = model.hidden(win)
            # Row i predicts token b+i+1; the window's first token is not scored.
            for r0 in range(0, ctx - 1, 256):  # lm_head in row blocks (bounded memory)
                r1 = min(ctx - 1, r0 + 256)
                lp = torch.log_softmax(F.linear(x[r0:r1], head), dim=-1)
                nll -= lp.gather(1, win[r0 + 1:r1 + 1, None]).double().sum().item()
                scored += r1 - r0
    s = time.perf_counter() - t0
    return windows * ctx / s, nll / scored, s


def main():
    torch.set_num_threads(ARGS.threads)
    cases = ["gpt2-124m", "llama-1b"] if ARGS.case == "all" else [ARGS.case]
    status = 0
    for case in cases:
        cmd = [ARGS.tensorllm, "bench", "--eval", "--json", "--threads", str(ARGS.threads),
               "--filter", f"throughput {case} ctx1024"]
        if ARGS.windows:
            cmd += ["--windows", str(ARGS.windows)]
        ours = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["eval_cases"][0]
        d = tempfile.mkdtemp(prefix=f"tensorllm-torch-{case}-")
        try:
            subprocess.run([ARGS.tensorllm, "synth", d] + ours["synth_args"], check=True, capture_output=True)
            t0 = time.perf_counter()
            cfg, w = load_checkpoint(d)
            load_s = time.perf_counter() - t0
            tps, nll, s = torch_case(cfg, w, ours["windows"])
        finally:
            shutil.rmtree(d, ignore_errors=True)
        diff = abs(nll - ours["mean_nll"])
        print(f"{case}: ctx 1024, {ours['windows']} windows, {ARGS.threads} threads, torch {torch.__version__}")
        print(f"  tensorllm  {ours['tokens_per_second']:9.1f} tokens/s  mean NLL {ours['mean_nll']:.6f}  "
              f"({ours['fraction_of_bound']:.3f} of the SGEMM bound {ours['bound_tokens_per_second']:.1f} tokens/s, "
              f"SGEMM {ours['sgemm_gflops']:.1f} GFLOP/s)")
        print(f"  torch      {tps:9.1f} tokens/s  mean NLL {nll:.6f}  (load {load_s:.1f} s, scoring {s:.1f} s)")
        print(f"  tensorllm / torch = {ours['tokens_per_second'] / tps:.2f}; |NLL difference| = {diff:.2e}"
              + ("" if diff <= 1e-3 else "  > 1e-3: NOT THE SAME COMPUTATION"))
        sys.stdout.flush()
        if diff > 1e-3:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
