#!/usr/bin/python3
r"""Train the bundled demo model of TensorLLM Studio (resources/models/demo-gpt2).

A small GPT-2 (pre-LayerNorm, GELU tanh, learned positions, causal multi-head attention,
lm_head tied to wte) trained on the King James Bible, byte level, on the CPU, with
Debian's python3-torch.  The result is written in the Hugging Face GPT-2 layout
(model.safetensors with the HF tensor names, config.json, a byte-level vocab.json and an
empty merges.txt that the HF GPT-2 tokenizer reads as "one token per byte").

Data: Debian package bible-kjv-text (compressed text in /usr/lib/bible.data), read with the
`bible` program of package bible-kjv:  apt-get install -y bible-kjv python3-torch

Usage (see docs/demo-model.md):
  nice -n 10 /usr/bin/python3 resources/demo/train_demo_model.py \
      --out resources/models/demo-gpt2 --random-out /tmp/demo-gpt2-random
  /usr/bin/python3 resources/demo/train_demo_model.py --random-only --random-out DIR
  /usr/bin/python3 resources/demo/train_demo_model.py --check resources/models/demo-gpt2
  /usr/bin/python3 resources/demo/train_demo_model.py --generate resources/models/demo-gpt2 \
      --prompt "In the beginning" --n 200

No dependency on the `safetensors` or `transformers` packages: the safetensors file is
written (and read back for --check) by the code below.
"""

import os

# One thread everywhere (torch intra-op, OpenMP and OpenBLAS): the machine is shared.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import re
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass

EOT_ID = 256  # "<|endoftext|>", present in the vocabulary for tokenizer compatibility
VOCAB_SIZE = 257
BIBLE_PACKAGES = "bible-kjv (program /usr/bin/bible) + bible-kjv-text (/usr/lib/bible.data)"


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------
def read_kjv(bible_exe="bible"):
    """Return the King James Bible as a list of chapters (plain ASCII text).

    `bible -l100000 gen1:1-rev22:21` prints every chapter as a heading line ("Genesis 1")
    followed by one line per verse ("  1 In the beginning ..."). Verse numbers are dropped;
    each chapter becomes "Genesis 1\\nverse\\nverse...\\n".
    """
    exe = shutil.which(bible_exe)
    if exe is None:
        sys.exit("the `bible` program is missing: apt-get install -y bible-kjv bible-kjv-text")
    raw = subprocess.run([exe, "-l100000", "gen1:1-rev22:21"], check=True,
                         stdout=subprocess.PIPE).stdout.decode("ascii")
    chapters, cur = [], None
    for line in raw.split("\n"):
        if not line.strip():
            continue
        m = re.match(r"^ +\d+ (.*)$", line)
        if m:
            cur.append(m.group(1).strip())
        else:
            cur = [line.strip()]
            chapters.append(cur)
    return ["\n".join(c) + "\n" for c in chapters]


def load_text(args):
    if args.text:
        with open(args.text, "rb") as f:
            data = f.read()
        # generic file: paragraphs as units, every 10th one held out
        units = [u + b"\n\n" for u in data.split(b"\n\n") if u.strip()]
        units = [u.decode("utf-8", "replace") for u in units]
        source = args.text
    else:
        units = read_kjv(args.bible)
        source = "King James Bible via `bible` (" + BIBLE_PACKAGES + ")"
    joiner = "\n"
    train = joiner.join(u for i, u in enumerate(units) if i % 10 != 9)
    val = joiner.join(u for i, u in enumerate(units) if i % 10 == 9)
    return source, len(units), train, val


def encode(text):
    """Byte-level tokens: token id = byte value (0..255)."""
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)


def decode(ids):
    return bytes(i for i in ids if i < 256).decode("utf-8", "replace")


# --------------------------------------------------------------------------------------
# model: Hugging Face GPT-2 semantics, parameter names equal to the HF state dict
# --------------------------------------------------------------------------------------
class Conv1D(nn.Module):
    """HF GPT-2 Conv1D: weight stored (in, out); y = x @ W + b."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        shape = x.shape[:-1] + (self.weight.shape[1],)
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(shape)


class Attention(nn.Module):
    def __init__(self, d, n_head, n_ctx):
        super().__init__()
        self.d, self.h, self.dv = d, n_head, d // n_head
        self.c_attn = Conv1D(d, 3 * d)  # out axis [Q | K | V], each head-major (h, dv)
        self.c_proj = Conv1D(d, d)      # in axis head-major (h, dv)
        mask = torch.tril(torch.ones(n_ctx, n_ctx, dtype=torch.bool))
        self.register_buffer("mask", mask.view(1, 1, n_ctx, n_ctx), persistent=False)

    def forward(self, x):
        B, T, _ = x.shape
        q, k, v = self.c_attn(x).split(self.d, dim=2)
        q = q.view(B, T, self.h, self.dv).transpose(1, 2)  # (B, h, T, dv)
        k = k.view(B, T, self.h, self.dv).transpose(1, 2)
        v = v.view(B, T, self.h, self.dv).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.dv)
        att = att.masked_fill(~self.mask[:, :, :T, :T], torch.finfo(att.dtype).min)
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, self.d)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_fc = Conv1D(d, 4 * d)
        self.c_proj = Conv1D(4 * d, d)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))  # HF "gelu_new"


class Block(nn.Module):
    def __init__(self, d, n_head, n_ctx, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.attn = Attention(d, n_head, n_ctx)
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.mlp = MLP(d)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    def __init__(self, vocab, n_ctx, d, n_layer, n_head, eps=1e-5):
        super().__init__()
        self.n_ctx = n_ctx
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(n_ctx, d)
        self.h = nn.ModuleList([Block(d, n_head, n_ctx, eps) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d, eps=eps)

    def init_gpt2(self, std=0.02, scale_residual=True):
        """GPT-2 / HF initialisation: N(0, 0.02) for embeddings and Conv1D weights,
        N(0, 0.02/sqrt(2*n_layer)) for the residual projections (attn.c_proj,
        mlp.c_proj), zero biases, LayerNorm weight 1 and bias 0.
        scale_residual=False: N(0, 0.02) for every weight matrix ("plain")."""
        n_layer = len(self.h) if scale_residual else 0.5
        for name, p in self.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
                nn.init.ones_(p)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
            elif name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * n_layer))
            else:
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx):
        T = idx.shape[1]
        pos = torch.arange(T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)[None]
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        return x @ self.wte.weight.t()  # tied lm_head


# --------------------------------------------------------------------------------------
# safetensors (written and read by hand)
# --------------------------------------------------------------------------------------
def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, float32 numpy array) in file order."""
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr, dtype="<f4")
        blob = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[base + a:base + b], dtype="<f4").reshape(info["shape"])
    return out


def gpt2_bytes_to_unicode():
    """The byte -> printable character table of the GPT-2 byte-level BPE tokenizer."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) \
        + list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def save_model(model, out_dir, cfg, extra_meta=None):
    os.makedirs(out_dir, exist_ok=True)
    sd = model.state_dict()
    names = ["wte.weight", "wpe.weight"]
    for i in range(cfg["n_layer"]):
        for part in ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                     "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                     "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"):
            names.append(f"h.{i}.{part}")
    names += ["ln_f.weight", "ln_f.bias"]
    assert set(names) == set(sd.keys()), set(sd.keys()) ^ set(names)
    tensors = [(n, sd[n].detach().cpu().float().numpy()) for n in names]
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors, {"format": "pt"})

    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": VOCAB_SIZE,
        "n_positions": cfg["n_ctx"],
        "n_ctx": cfg["n_ctx"],
        "n_embd": cfg["d"],
        "n_layer": cfg["n_layer"],
        "n_head": cfg["n_head"],
        "n_inner": None,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "use_cache": True,
        "tie_word_embeddings": True,
        "bos_token_id": EOT_ID,
        "eos_token_id": EOT_ID,
        "torch_dtype": "float32",
    }
    if extra_meta:
        config["tensorllm_demo"] = extra_meta
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")

    # Byte-level GPT-2 tokenizer with no merges: token id = byte value, 256 = <|endoftext|>.
    b2u = gpt2_bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    vocab["<|endoftext|>"] = EOT_ID
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False, indent=0)
        f.write("\n")
    with open(os.path.join(out_dir, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")
    tok_cfg = {
        "tokenizer_class": "GPT2Tokenizer",
        "model_max_length": cfg["n_ctx"],
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "add_prefix_space": False,
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tok_cfg, f, indent=2)
        f.write("\n")


# --------------------------------------------------------------------------------------
# independent numpy forward pass of HF GPT-2 from the written files (--check)
# --------------------------------------------------------------------------------------
def numpy_gpt2_logits(w, cfg, ids):
    d, h = cfg["n_embd"], cfg["n_head"]
    dv = d // h
    eps = cfg["layer_norm_epsilon"]
    ids = np.asarray(ids)
    T = len(ids)

    def ln(x, g, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * g + b

    def gelu_new(x):
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))

    x = w["wte.weight"][ids].astype(np.float64) + w["wpe.weight"][:T]
    causal = np.tril(np.ones((T, T), dtype=bool))
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        a = ln(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"])
        qkv = a @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
        heads = []
        for j in range(h):
            s = slice(j * dv, (j + 1) * dv)
            sc = q[:, s] @ k[:, s].T / math.sqrt(dv)
            sc = np.where(causal, sc, -np.inf)
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            sc /= sc.sum(-1, keepdims=True)
            heads.append(sc @ v[:, s])
        x = x + np.concatenate(heads, axis=1) @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        m = ln(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"])
        m = gelu_new(m @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = ln(x, w["ln_f.weight"], w["ln_f.bias"])
    return x @ w["wte.weight"].T


def model_from_dir(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    model = GPT2(cfg["vocab_size"], cfg["n_positions"], cfg["n_embd"], cfg["n_layer"],
                 cfg["n_head"], cfg["layer_norm_epsilon"])
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in w.items()}, strict=True)
    model.eval()
    return cfg, w, model


def check(model_dir, text="In the beginning God created the heaven and the earth.\n"):
    cfg, w, model = model_from_dir(model_dir)
    ids = list(text.encode("utf-8"))[: cfg["n_positions"]]
    ref = numpy_gpt2_logits(w, cfg, ids)
    with torch.no_grad():
        got = model(torch.tensor([ids]))[0].double().numpy()
    diff = float(np.abs(ref - got).max())
    nll = float(F.cross_entropy(torch.from_numpy(ref[:-1]), torch.tensor(ids[1:])))
    nparams = sum(v.size for v in w.values())
    print(f"check {model_dir}: {len(w)} tensors, {nparams} parameters, "
          f"max |torch - numpy HF-GPT-2 logits| = {diff:.3e}, loss on '{text.strip()}' = {nll:.4f}")
    return diff < 1e-3


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------
@torch.no_grad()
def sample(model, prompt, n, temperature=0.8, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = list(prompt.encode("utf-8"))
    for _ in range(n):
        ctx = torch.tensor([ids[-model.n_ctx:]])
        logits = model(ctx)[0, -1] / temperature
        logits[EOT_ID] = -float("inf")
        ids.append(int(torch.multinomial(F.softmax(logits, -1), 1, generator=g)))
    return decode(ids)


@torch.no_grad()
def evaluate(model, data, n_ctx, n_batches, batch, seed):
    """Mean loss over fixed random windows (same windows at every call)."""
    g = torch.Generator().manual_seed(seed)
    model.eval()
    losses = []
    for _ in range(n_batches):
        ix = torch.randint(len(data) - n_ctx - 1, (batch,), generator=g)
        x = torch.stack([data[i:i + n_ctx] for i in ix])
        y = torch.stack([data[i + 1:i + n_ctx + 1] for i in ix])
        losses.append(F.cross_entropy(model(x).reshape(-1, VOCAB_SIZE), y.reshape(-1)).item())
    model.train()
    return float(np.mean(losses))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="directory of the trained model (resources/models/demo-gpt2)")
    ap.add_argument("--random-out", help="also write the untrained model (GPT-2 init, same seed) here")
    ap.add_argument("--random-only", action="store_true", help="write --random-out and stop")
    ap.add_argument("--random-init", choices=["gpt2", "plain"], default="gpt2",
                    help="untrained model: gpt2 = the training's own initial weights (residual "
                         "projections std 0.02/sqrt(2*n_layer)); plain = every weight matrix "
                         "i.i.d. N(0, 0.02)")
    ap.add_argument("--check", metavar="DIR", help="verify a written model against a numpy HF-GPT-2 forward pass")
    ap.add_argument("--generate", metavar="DIR", help="print a sample of a written model and stop")
    ap.add_argument("--prompt", default="And God said", help="--generate: the prompt")
    ap.add_argument("--n", type=int, default=300, help="--generate: bytes to generate")
    ap.add_argument("--text", help="train on this UTF-8 file instead of the King James Bible")
    ap.add_argument("--bible", default="bible", help="the `bible` program (package bible-kjv)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--n-layer", type=int, default=6)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--n-ctx", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--eval-batches", type=int, default=10)
    ap.add_argument("--final-eval-batches", type=int, default=100)
    ap.add_argument("--max-minutes", type=float, default=40.0,
                    help="safety limit: stop early (and say so) after this much wall time")
    args = ap.parse_args()

    if args.check:
        sys.exit(0 if check(args.check) else 1)
    if args.generate:
        _, _, m = model_from_dir(args.generate)
        print(sample(m, args.prompt, args.n, seed=args.seed))
        return
    if not args.out and not args.random_out:
        ap.error("give --out and/or --random-out")

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    cfg = {"d": args.n_embd, "n_head": args.n_head, "n_layer": args.n_layer, "n_ctx": args.n_ctx}
    model = GPT2(VOCAB_SIZE, args.n_ctx, args.n_embd, args.n_layer, args.n_head)
    model.init_gpt2()
    nparams = sum(p.numel() for p in model.parameters())
    print(f"model: {args.n_layer} layers, {args.n_head} heads, d={args.n_embd}, "
          f"ctx={args.n_ctx}, vocab={VOCAB_SIZE}, {nparams} parameters", flush=True)

    if args.random_out:
        torch.manual_seed(args.seed)
        rmodel = GPT2(VOCAB_SIZE, args.n_ctx, args.n_embd, args.n_layer, args.n_head)
        rmodel.init_gpt2(scale_residual=args.random_init == "gpt2")
        kind = ("untrained: GPT-2 initialisation (std 0.02, residual projections "
                "0.02/sqrt(2*n_layer)), identical to the trained model's step 0"
                if args.random_init == "gpt2" else
                "untrained: every weight matrix i.i.d. N(0, 0.02)")
        save_model(rmodel, args.random_out, cfg, {"kind": kind, "seed": args.seed})
        print(f"wrote the untrained model to {args.random_out}", flush=True)
        if args.random_only:
            return

    source, n_units, train_text, val_text = load_text(args)
    train_data, val_data = encode(train_text), encode(val_text)
    print(f"data: {source}: {n_units} units, train {len(train_data)} bytes, "
          f"validation {len(val_data)} bytes (every 10th unit)", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99), eps=1e-8)

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        t = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * min(1.0, t)))

    g = torch.Generator().manual_seed(args.seed + 1)
    log = []
    t0 = time.time()
    run_loss, steps_done, stopped_early = None, 0, False
    model.train()
    for step in range(args.steps):
        if (time.time() - t0) / 60 > args.max_minutes:
            stopped_early = True
            print(f"stopping early at step {step}: --max-minutes {args.max_minutes} reached", flush=True)
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        ix = torch.randint(len(train_data) - args.n_ctx - 1, (args.batch,), generator=g)
        x = torch.stack([train_data[i:i + args.n_ctx] for i in ix])
        y = torch.stack([train_data[i + 1:i + args.n_ctx + 1] for i in ix])
        loss = F.cross_entropy(model(x).reshape(-1, VOCAB_SIZE), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps_done = step + 1
        run_loss = loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * loss.item()
        if step % 50 == 0:
            el = time.time() - t0
            print(f"step {step:5d}  loss {loss.item():.4f}  (smoothed {run_loss:.4f})  "
                  f"lr {lr_at(step):.2e}  {el:7.1f}s", flush=True)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            tl = evaluate(model, train_data, args.n_ctx, args.eval_batches, args.batch, 1)
            vl = evaluate(model, val_data, args.n_ctx, args.eval_batches, args.batch, 2)
            el = time.time() - t0
            log.append((step + 1, tl, vl, lr_at(step), el))
            print(f"eval step {step + 1:5d}  train {tl:.4f}  val {vl:.4f}  {el:7.1f}s", flush=True)
    train_time = time.time() - t0

    tl = evaluate(model, train_data, args.n_ctx, args.final_eval_batches, args.batch, 11)
    vl = evaluate(model, val_data, args.n_ctx, args.final_eval_batches, args.batch, 12)
    n_eval = args.final_eval_batches * args.batch * args.n_ctx
    print(f"final: {steps_done} steps, {steps_done * args.batch * args.n_ctx} training tokens, "
          f"{train_time / 60:.1f} min", flush=True)
    print(f"final train loss {tl:.4f} nats/byte ({tl / math.log(2):.3f} bits), "
          f"final validation loss {vl:.4f} nats/byte ({vl / math.log(2):.3f} bits) "
          f"[{n_eval} predicted bytes each]", flush=True)
    model.eval()
    print("sample (temperature 0.8):\n" + sample(model, "And God said", 300), flush=True)

    if args.out:
        meta = {"kind": "trained", "data": "King James Bible, Debian package bible-kjv-text"
                if not args.text else args.text,
                "seed": args.seed, "steps": steps_done, "batch": args.batch,
                "final_train_loss": round(tl, 4), "final_val_loss": round(vl, 4)}
        save_model(model, args.out, cfg, meta)
        with open(os.path.join(args.out, "training_log.csv"), "w") as f:
            f.write("step,train_loss,val_loss,lr,elapsed_s\n")
            for r in log:
                f.write(f"{r[0]},{r[1]:.4f},{r[2]:.4f},{r[3]:.3e},{r[4]:.1f}\n")
        size = os.path.getsize(os.path.join(args.out, "model.safetensors"))
        print(f"wrote {args.out} (model.safetensors {size} bytes); stopped_early={stopped_early}",
              flush=True)
        check(args.out)


if __name__ == "__main__":
    main()
