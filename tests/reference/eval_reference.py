#!/usr/bin/env python3
"""Independent float64 reference for the forward pass (tests/core/eval/test_forward_arch.cpp).

Writes a small random checkpoint of one architecture variant (config.json + model.safetensors,
Hugging Face tensor names) into OUT_DIR and, in OUT_DIR/reference.json, the token ids and
log p(ids[t+1] | ids[..t]) for every t, computed here in float64 with numpy, following the
Hugging Face transformers modelling code of each model_type (GPT2LMHeadModel,
LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM, GPTNeoXForCausalLM). Nothing here
uses the project's code.

usage: eval_reference.py OUT_DIR VARIANT      (VARIANT: see VARIANTS below)
"""
import json
import math
import struct
import sys

import numpy as np

VOCAB, SEQ = 61, 24

VARIANTS = {
    # llama: grouped-query attention, q/k/v/o biases, rope_scaling linear, separate lm_head
    "llama_linear_bias": dict(model_type="llama", hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
                              intermediate_size=40, num_hidden_layers=2, rope_theta=500.0, rms_norm_eps=1e-6,
                              attention_bias=True, tie_word_embeddings=False,
                              rope_scaling={"type": "linear", "factor": 2.0}),
    # llama: head_dim given explicitly (!= hidden / heads), rope_scaling llama3 with all three bands
    "llama3_scaling": dict(model_type="llama", hidden_size=32, num_attention_heads=2, num_key_value_heads=1,
                           head_dim=24, intermediate_size=48, num_hidden_layers=2, rope_theta=10000.0,
                           rms_norm_eps=1e-5, tie_word_embeddings=True,
                           rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
    # qwen2: q/k/v biases (no o bias), tied embeddings
    "qwen2": dict(model_type="qwen2", hidden_size=32, num_attention_heads=4, num_key_value_heads=4,
                  intermediate_size=40, num_hidden_layers=2, rope_theta=1000000.0, rms_norm_eps=1e-6,
                  tie_word_embeddings=True),
    # mistral: sliding window shorter than the sequence
    "mistral_window": dict(model_type="mistral", hidden_size=32, num_attention_heads=4, num_key_value_heads=1,
                           intermediate_size=40, num_hidden_layers=2, rope_theta=10000.0, rms_norm_eps=1e-5,
                           sliding_window=5, tie_word_embeddings=False),
    # gpt_neox: partial rotary, parallel residual, exact gelu
    "neox_parallel": dict(model_type="gpt_neox", hidden_size=32, num_attention_heads=4, intermediate_size=64,
                          num_hidden_layers=2, rotary_pct=0.5, rotary_emb_base=10000, layer_norm_eps=1e-5,
                          use_parallel_residual=True, hidden_act="gelu", tie_word_embeddings=False),
    # gpt_neox: sequential residual, another rotary fraction
    "neox_sequential": dict(model_type="gpt_neox", hidden_size=32, num_attention_heads=2, intermediate_size=48,
                            num_hidden_layers=2, rotary_pct=0.25, rotary_emb_base=100, layer_norm_eps=1e-5,
                            use_parallel_residual=False, hidden_act="gelu", tie_word_embeddings=False),
    # gpt2 with the "transformer." prefix and scale_attn_by_inverse_layer_idx
    "gpt2_prefixed": dict(model_type="gpt2", n_embd=32, n_head=4, n_layer=2, n_positions=32,
                          layer_norm_epsilon=1e-5, activation_function="gelu_new",
                          scale_attn_by_inverse_layer_idx=True),
}


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    from math import erf
    return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2)))


def silu(x):
    return x / (1 + np.exp(-x))


def rope_inv_freq(rd, theta, scaling):
    inv = 1.0 / theta ** (np.arange(0, rd, 2, dtype=np.float64) / rd)
    if not scaling:
        return inv
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        return inv / scaling["factor"]
    assert kind == "llama3"
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    low_wl, high_wl = old / low, old / high
    out = []
    for f in inv:
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(f)
        elif wl > low_wl:
            out.append(f / factor)
        else:
            s = (old / wl - low) / (high - low)
            out.append((1 - s) * f / factor + s * f)
    return np.array(out)


def apply_rope(x, pos, inv):
    """x: (T, heads, dv); rotate_half on the first 2 * len(inv) dims."""
    rd = 2 * len(inv)
    ang = np.outer(pos, inv)  # (T, rd/2)
    cos = np.concatenate([np.cos(ang)] * 2, -1)[:, None, :]
    sin = np.concatenate([np.sin(ang)] * 2, -1)[:, None, :]
    xr, xp = x[..., :rd], x[..., rd:]
    x1, x2 = xr[..., : rd // 2], xr[..., rd // 2:]
    rot = np.concatenate([-x2, x1], -1)
    return np.concatenate([xr * cos + rot * sin, xp], -1)


def attention(q, k, v, window=0):
    """q: (T, h, dv), k/v: (T, kv, dv); causal, optional sliding window."""
    T, h, dv = q.shape
    rep = h // k.shape[1]
    k = np.repeat(k, rep, axis=1)
    v = np.repeat(v, rep, axis=1)
    out = np.zeros_like(q)
    for i in range(h):
        s = q[:, i, :] @ k[:, i, :].T / math.sqrt(dv)
        for a in range(T):
            for b in range(T):
                if b > a or (window and a - b >= window):
                    s[a, b] = -np.inf
        s = s - s.max(-1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(-1, keepdims=True)
        out[:, i, :] = p @ v[:, i, :]
    return out


def build(cfg, rng):
    """Random weights (float32-representable) in the HF layout of cfg's model_type."""
    t = {}

    def r(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    mt = cfg["model_type"]
    if mt == "gpt2":
        d, L, f = cfg["n_embd"], cfg["n_layer"], 4 * cfg["n_embd"]
        p = "transformer."
        t[p + "wte.weight"] = r(VOCAB, d, scale=0.5)
        t[p + "wpe.weight"] = r(cfg["n_positions"], d, scale=0.3)
        for l in range(L):
            q = f"{p}h.{l}."
            t[q + "ln_1.weight"] = 1 + r(d, scale=0.1)
            t[q + "ln_1.bias"] = r(d, scale=0.1)
            t[q + "attn.c_attn.weight"] = r(d, 3 * d)
            t[q + "attn.c_attn.bias"] = r(3 * d, scale=0.1)
            t[q + "attn.c_proj.weight"] = r(d, d)
            t[q + "attn.c_proj.bias"] = r(d, scale=0.1)
            t[q + "ln_2.weight"] = 1 + r(d, scale=0.1)
            t[q + "ln_2.bias"] = r(d, scale=0.1)
            t[q + "mlp.c_fc.weight"] = r(d, f)
            t[q + "mlp.c_fc.bias"] = r(f, scale=0.1)
            t[q + "mlp.c_proj.weight"] = r(f, d)
            t[q + "mlp.c_proj.bias"] = r(d, scale=0.1)
        t[p + "ln_f.weight"] = 1 + r(d, scale=0.1)
        t[p + "ln_f.bias"] = r(d, scale=0.1)
    elif mt == "gpt_neox":
        d, L, f, h = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"], cfg["num_attention_heads"]
        p = "gpt_neox."
        t[p + "embed_in.weight"] = r(VOCAB, d, scale=0.5)
        for l in range(L):
            q = f"{p}layers.{l}."
            for n in ("input_layernorm", "post_attention_layernorm"):
                t[q + n + ".weight"] = 1 + r(d, scale=0.1)
                t[q + n + ".bias"] = r(d, scale=0.1)
            t[q + "attention.query_key_value.weight"] = r(3 * d, d)
            t[q + "attention.query_key_value.bias"] = r(3 * d, scale=0.1)
            t[q + "attention.dense.weight"] = r(d, d)
            t[q + "attention.dense.bias"] = r(d, scale=0.1)
            t[q + "mlp.dense_h_to_4h.weight"] = r(f, d)
            t[q + "mlp.dense_h_to_4h.bias"] = r(f, scale=0.1)
            t[q + "mlp.dense_4h_to_h.weight"] = r(d, f)
            t[q + "mlp.dense_4h_to_h.bias"] = r(d, scale=0.1)
        t[p + "final_layer_norm.weight"] = 1 + r(d, scale=0.1)
        t[p + "final_layer_norm.bias"] = r(d, scale=0.1)
        t["embed_out.weight"] = r(VOCAB, d, scale=0.5)
    else:
        d, L, f = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
        h, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        dv = cfg.get("head_dim", d // h)
        bias_qkv = mt == "qwen2" or cfg.get("attention_bias", False)
        bias_o = mt != "qwen2" and cfg.get("attention_bias", False)
        p = "model."
        t[p + "embed_tokens.weight"] = r(VOCAB, d, scale=0.5)
        for l in range(L):
            q = f"{p}layers.{l}."
            t[q + "input_layernorm.weight"] = 1 + r(d, scale=0.1)
            t[q + "post_attention_layernorm.weight"] = 1 + r(d, scale=0.1)
            t[q + "self_attn.q_proj.weight"] = r(h * dv, d)
            t[q + "self_attn.k_proj.weight"] = r(kv * dv, d)
            t[q + "self_attn.v_proj.weight"] = r(kv * dv, d)
            t[q + "self_attn.o_proj.weight"] = r(d, h * dv)
            if bias_qkv:
                t[q + "self_attn.q_proj.bias"] = r(h * dv, scale=0.1)
                t[q + "self_attn.k_proj.bias"] = r(kv * dv, scale=0.1)
                t[q + "self_attn.v_proj.bias"] = r(kv * dv, scale=0.1)
            if bias_o:
                t[q + "self_attn.o_proj.bias"] = r(d, scale=0.1)
            t[q + "mlp.gate_proj.weight"] = r(f, d)
            t[q + "mlp.up_proj.weight"] = r(f, d)
            t[q + "mlp.down_proj.weight"] = r(d, f)
        t[p + "norm.weight"] = 1 + r(d, scale=0.1)
        if not cfg.get("tie_word_embeddings", False):
            t["lm_head.weight"] = r(VOCAB, d, scale=0.5)
    return t


def forward(cfg, W, ids):
    """Logits (T, VOCAB) in float64."""
    w = {k: v.astype(np.float64) for k, v in W.items()}
    mt = cfg["model_type"]
    T = len(ids)
    pos = np.arange(T, dtype=np.float64)
    if mt == "gpt2":
        p, d, h = "transformer.", cfg["n_embd"], cfg["n_head"]
        eps = cfg["layer_norm_epsilon"]
        x = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][:T]
        for l in range(cfg["n_layer"]):
            q = f"{p}h.{l}."
            a = layer_norm(x, w[q + "ln_1.weight"], w[q + "ln_1.bias"], eps)
            qkv = a @ w[q + "attn.c_attn.weight"] + w[q + "attn.c_attn.bias"]
            Q, K, V = (m.reshape(T, h, d // h) for m in np.split(qkv, 3, -1))
            # scale_attn_by_inverse_layer_idx divides the scores by (layer + 1) as well
            o = attention(Q / (l + 1) if cfg.get("scale_attn_by_inverse_layer_idx") else Q, K, V).reshape(T, d)
            x = x + o @ w[q + "attn.c_proj.weight"] + w[q + "attn.c_proj.bias"]
            m = layer_norm(x, w[q + "ln_2.weight"], w[q + "ln_2.bias"], eps)
            x = x + gelu_tanh(m @ w[q + "mlp.c_fc.weight"] + w[q + "mlp.c_fc.bias"]) @ w[q + "mlp.c_proj.weight"] \
                + w[q + "mlp.c_proj.bias"]
        x = layer_norm(x, w[p + "ln_f.weight"], w[p + "ln_f.bias"], eps)
        return x @ w[p + "wte.weight"].T
    if mt == "gpt_neox":
        p, d, h = "gpt_neox.", cfg["hidden_size"], cfg["num_attention_heads"]
        dv, eps = d // h, cfg["layer_norm_eps"]
        inv = rope_inv_freq(int(dv * cfg["rotary_pct"]), float(cfg["rotary_emb_base"]), None)
        x = w[p + "embed_in.weight"][ids]
        for l in range(cfg["num_hidden_layers"]):
            q = f"{p}layers.{l}."

            def attn(a):
                qkv = (a @ w[q + "attention.query_key_value.weight"].T + w[q + "attention.query_key_value.bias"])
                qkv = qkv.reshape(T, h, 3 * dv)  # per head [q | k | v]
                Q, K, V = qkv[..., :dv], qkv[..., dv:2 * dv], qkv[..., 2 * dv:]
                o = attention(apply_rope(Q, pos, inv), apply_rope(K, pos, inv), V).reshape(T, d)
                return o @ w[q + "attention.dense.weight"].T + w[q + "attention.dense.bias"]

            def mlp(a):
                return gelu_erf(a @ w[q + "mlp.dense_h_to_4h.weight"].T + w[q + "mlp.dense_h_to_4h.bias"]) \
                    @ w[q + "mlp.dense_4h_to_h.weight"].T + w[q + "mlp.dense_4h_to_h.bias"]

            ln1 = layer_norm(x, w[q + "input_layernorm.weight"], w[q + "input_layernorm.bias"], eps)
            if cfg["use_parallel_residual"]:
                ln2 = layer_norm(x, w[q + "post_attention_layernorm.weight"], w[q + "post_attention_layernorm.bias"], eps)
                x = x + attn(ln1) + mlp(ln2)
            else:
                x = x + attn(ln1)
                x = x + mlp(layer_norm(x, w[q + "post_attention_layernorm.weight"],
                                       w[q + "post_attention_layernorm.bias"], eps))
        x = layer_norm(x, w[p + "final_layer_norm.weight"], w[p + "final_layer_norm.bias"], eps)
        return x @ w["embed_out.weight"].T
    # llama / mistral / qwen2
    p, d = "model.", cfg["hidden_size"]
    h, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    dv, eps = cfg.get("head_dim", d // h), cfg["rms_norm_eps"]
    inv = rope_inv_freq(dv, cfg["rope_theta"], cfg.get("rope_scaling"))
    window = cfg.get("sliding_window", 0) if mt == "mistral" else 0
    x = w[p + "embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        q = f"{p}layers.{l}."

        def lin(a, name):
            y = a @ w[q + name + ".weight"].T
            return y + w[q + name + ".bias"] if q + name + ".bias" in w else y

        a = rms_norm(x, w[q + "input_layernorm.weight"], eps)
        Q = apply_rope(lin(a, "self_attn.q_proj").reshape(T, h, dv), pos, inv)
        K = apply_rope(lin(a, "self_attn.k_proj").reshape(T, kv, dv), pos, inv)
        V = lin(a, "self_attn.v_proj").reshape(T, kv, dv)
        x = x + lin(attention(Q, K, V, window).reshape(T, h * dv), "self_attn.o_proj")
        m = rms_norm(x, w[q + "post_attention_layernorm.weight"], eps)
        x = x + lin(silu(lin(m, "mlp.gate_proj")) * lin(m, "mlp.up_proj"), "mlp.down_proj")
    x = rms_norm(x, w[p + "norm.weight"], eps)
    head = w["lm_head.weight"] if "lm_head.weight" in w else w[p + "embed_tokens.weight"]
    return x @ head.T


def main():
    out_dir, variant = sys.argv[1], sys.argv[2]
    cfg = dict(VARIANTS[variant])
    cfg["vocab_size"] = VOCAB
    if cfg["model_type"] != "gpt2":
        cfg["max_position_embeddings"] = 64
    seed = sum(map(ord, variant))
    rng = np.random.default_rng(seed)
    W = build(cfg, rng)
    ids = [int(i) for i in rng.integers(0, VOCAB, SEQ)]
    write_safetensors(f"{out_dir}/model.safetensors", W)
    with open(f"{out_dir}/config.json", "w") as f:
        json.dump(cfg, f, indent=2)
    logits = forward(cfg, W, np.array(ids))
    lse = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    logprobs = [float(logits[t, ids[t + 1]] - lse[t]) for t in range(SEQ - 1)]
    argmax = [int(a) for a in logits.argmax(-1)]
    with open(f"{out_dir}/reference.json", "w") as f:
        json.dump({"variant": variant, "ids": ids, "logprobs": logprobs, "argmax": argmax}, f)


if __name__ == "__main__":
    main()
