#include "eval/forward.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include <cblas.h>
#include <tbb/blocked_range2d.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "eval/kernels.h"
#include "io/dtype.h"
#include "tucker/linalg.h"

namespace tllm::eval {

std::uint64_t LayerWeights::bytes() const {
    std::uint64_t n = 0;
    for (const auto* v : {&ln1_w, &ln1_b, &wq, &wk, &wv, &wo, &bq, &bk, &bv, &bo, &ln2_w, &ln2_b, &w_gate, &w_up, &b_up,
                          &w_down, &b_down})
        n += v->size();
    return n * sizeof(float);
}

// ---------------------------------------------------------------------------------------
// Transformer
// ---------------------------------------------------------------------------------------

namespace {

// The tensor names one layer reads, per family (the prefix is resolved at load).
struct LayerNames {
    std::string ln1_w, ln1_b, q, k, v, qkv, q_b, k_b, v_b, qkv_b, o, o_b, ln2_w, ln2_b, gate, up, up_b, down, down_b;
    std::vector<std::string> all() const {
        std::vector<std::string> r;
        for (const auto* s : {&ln1_w, &ln1_b, &q, &k, &v, &qkv, &q_b, &k_b, &v_b, &qkv_b, &o, &o_b, &ln2_w, &ln2_b,
                              &gate, &up, &up_b, &down, &down_b})
            if (!s->empty()) r.push_back(*s);
        return r;
    }
};

}  // namespace

struct Transformer::Impl {
    const Config& cfg;
    const io::Checkpoint& ckpt;
    tbb::task_arena arena;
    std::string prefix;
    std::vector<LayerNames> names;
    // Global weights (f32, resident).
    std::vector<float> embed, pos_embed, norm_w, norm_b, lm_head_own;
    const float* lm_head = nullptr;
    // Layer weights: cached[l] when it fits the budget, else converted into `slot`.
    std::vector<std::unique_ptr<LayerWeights>> cached;
    std::vector<bool> cacheable;
    LayerWeights slot;
    int slot_layer = -1;
    std::map<int, std::map<std::string, tensor::RebuiltTensor>> overrides;
    std::vector<double> inv_freq;  // rotary frequencies (rotary_dim / 2)

    Impl(const Config& c, const io::Checkpoint& k, int threads)
        : cfg(c), ckpt(k), arena(threads > 0 ? threads : tbb::task_arena::automatic) {}

    const io::TensorInfo& info(const std::string& name) const { return *ckpt.at(name).info; }
    bool has(const std::string& name) const { return ckpt.find(name).has_value(); }

    // Reads tensor `name` (override of `layer` first) as float32, checking its element count.
    std::vector<float> read(const std::string& name, std::uint64_t expect_numel, int layer = -1,
                            bool drop_pages = false) const {
        std::vector<float> out;
        if (layer >= 0) {
            auto lo = overrides.find(layer);
            if (lo != overrides.end()) {
                auto it = lo->second.find(name);
                if (it != lo->second.end()) {
                    const auto& t = it->second;
                    const std::uint64_t n = t.bytes.size() / io::dtype_size(t.dtype);
                    out.resize(n);
                    io::to_float32(t.dtype, t.bytes.data(), n, out.data());
                    return out;
                }
            }
        }
        const io::TensorRef ref = ckpt.at(name);
        if (ref.info->numel() != expect_numel)
            throw std::runtime_error(ckpt.path() + ": tensor " + name + " has " + std::to_string(ref.info->numel()) +
                                     " elements, the config implies " + std::to_string(expect_numel));
        if (!io::dtype_is_readable(ref.info->dtype))
            throw std::runtime_error(ckpt.path() + ": tensor " + name + " has dtype " +
                                     std::string(io::dtype_name(ref.info->dtype)) + ", not a float type");
        out.resize(expect_numel);
        ref.file->read_f32(*ref.info, out.data());
        if (drop_pages) ref.file->release(*ref.info);
        return out;
    }

    // A (rows, cols) matrix stored transposed (Conv1D: (in, out)) read as (out, in).
    std::vector<float> read_transposed(const std::string& name, int in, int out, int layer, bool drop) const {
        const auto t = read(name, std::uint64_t(in) * out, layer, drop);
        std::vector<float> r(t.size());
        for (int i = 0; i < in; ++i)
            for (int o = 0; o < out; ++o) r[std::size_t(o) * in + i] = t[std::size_t(i) * out + o];
        return r;
    }

    LayerWeights load(int l, bool drop) const {
        const LayerNames& n = names[l];
        const int d = cfg.dim, hd = cfg.n_heads * cfg.head_dim, kvd = cfg.n_kv_heads * cfg.head_dim, f = cfg.hidden_dim;
        const auto D = std::uint64_t(d);
        LayerWeights w;
        w.ln1_w = read(n.ln1_w, D, l, drop);
        if (!n.ln1_b.empty()) w.ln1_b = read(n.ln1_b, D, l, drop);
        w.ln2_w = read(n.ln2_w, D, l, drop);
        if (!n.ln2_b.empty()) w.ln2_b = read(n.ln2_b, D, l, drop);
        switch (cfg.family) {
            case Family::GPT2: {
                // c_attn: (d, 3d) Conv1D, columns [Q | K | V].
                const auto all = read_transposed(n.qkv, d, 3 * d, l, drop);
                const auto b = read(n.qkv_b, 3 * D, l, drop);
                w.wq.assign(all.begin(), all.begin() + std::ptrdiff_t(D * d));
                w.wk.assign(all.begin() + std::ptrdiff_t(D * d), all.begin() + std::ptrdiff_t(2 * D * d));
                w.wv.assign(all.begin() + std::ptrdiff_t(2 * D * d), all.end());
                w.bq.assign(b.begin(), b.begin() + d);
                w.bk.assign(b.begin() + d, b.begin() + 2 * d);
                w.bv.assign(b.begin() + 2 * d, b.end());
                w.wo = read_transposed(n.o, d, d, l, drop);
                w.bo = read(n.o_b, D, l, drop);
                w.w_up = read_transposed(n.up, d, f, l, drop);
                w.b_up = read(n.up_b, std::uint64_t(f), l, drop);
                w.w_down = read_transposed(n.down, f, d, l, drop);
                w.b_down = read(n.down_b, D, l, drop);
                break;
            }
            case Family::NeoX: {
                // query_key_value: (3*h*dv, d) Linear, rows [head][q, k, v][dv].
                const int dv = cfg.head_dim;
                const auto all = read(n.qkv, 3 * std::uint64_t(hd) * d, l, drop);
                std::vector<float> b;
                if (!n.qkv_b.empty()) b = read(n.qkv_b, 3 * std::uint64_t(hd), l, drop);
                std::vector<float>* parts[3] = {&w.wq, &w.wk, &w.wv};
                std::vector<float>* biases[3] = {&w.bq, &w.bk, &w.bv};
                for (int t = 0; t < 3; ++t) {
                    parts[t]->resize(std::size_t(hd) * d);
                    if (!b.empty()) biases[t]->resize(std::size_t(hd));
                }
                for (int h = 0; h < cfg.n_heads; ++h)
                    for (int t = 0; t < 3; ++t)
                        for (int c = 0; c < dv; ++c) {
                            const std::size_t src = std::size_t(h) * 3 * dv + std::size_t(t) * dv + c;
                            const std::size_t dst = std::size_t(h) * dv + c;
                            std::copy_n(all.data() + src * d, d, parts[t]->data() + dst * d);
                            if (!b.empty()) (*biases[t])[dst] = b[src];
                        }
                w.wo = read(n.o, D * hd, l, drop);
                if (!n.o_b.empty()) w.bo = read(n.o_b, D, l, drop);
                w.w_up = read(n.up, std::uint64_t(f) * d, l, drop);
                w.b_up = read(n.up_b, std::uint64_t(f), l, drop);
                w.w_down = read(n.down, D * f, l, drop);
                w.b_down = read(n.down_b, D, l, drop);
                break;
            }
            case Family::Llama: {
                w.wq = read(n.q, std::uint64_t(hd) * d, l, drop);
                w.wk = read(n.k, std::uint64_t(kvd) * d, l, drop);
                w.wv = read(n.v, std::uint64_t(kvd) * d, l, drop);
                w.wo = read(n.o, D * hd, l, drop);
                if (!n.q_b.empty()) {
                    w.bq = read(n.q_b, std::uint64_t(hd), l, drop);
                    w.bk = read(n.k_b, std::uint64_t(kvd), l, drop);
                    w.bv = read(n.v_b, std::uint64_t(kvd), l, drop);
                }
                if (!n.o_b.empty()) w.bo = read(n.o_b, D, l, drop);
                w.w_gate = read(n.gate, std::uint64_t(f) * d, l, drop);
                w.w_up = read(n.up, std::uint64_t(f) * d, l, drop);
                w.w_down = read(n.down, D * f, l, drop);
                break;
            }
        }
        return w;
    }

    const LayerWeights& layer(int l) {
        if (cached[std::size_t(l)]) return *cached[std::size_t(l)];
        if (cacheable[std::size_t(l)]) {
            cached[std::size_t(l)] = std::make_unique<LayerWeights>(load(l, false));
            return *cached[std::size_t(l)];
        }
        if (slot_layer != l) {
            slot_layer = -1;
            slot = load(l, true);
            slot_layer = l;
        }
        return slot;
    }
};

namespace {

// The tensor-name prefix among `candidates` under which `probe` exists.
std::string find_prefix(const io::Checkpoint& ck, std::initializer_list<const char*> candidates,
                        const std::string& probe) {
    for (const char* p : candidates)
        if (ck.find(p + probe)) return p;
    std::string tried;
    for (const char* p : candidates) tried += (tried.empty() ? "" : ", ") + (std::string(p) + probe);
    throw std::runtime_error(ck.path() + ": no embedding tensor (looked for " + tried + ")");
}

std::uint64_t tensor_bytes_f32(const io::Checkpoint& ck, const std::string& name) {
    auto r = ck.find(name);
    return r ? r->info->numel() * sizeof(float) : 0;
}

}  // namespace

Transformer::Transformer(std::shared_ptr<const model::Model> m, const ForwardOptions& opt) : model_(std::move(m)) {
    tucker::init_blas();
    cfg_ = read_eval_config(model_->config());
    const auto& ck = model_->checkpoint();
    impl_ = std::make_unique<Impl>(cfg_, ck, opt.threads);
    Impl& I = *impl_;
    const Config& c = cfg_;
    const auto D = std::uint64_t(c.dim), V = std::uint64_t(c.vocab_size);
    std::string embed_name, pos_name, norm_w, norm_b, head_name;
    I.names.resize(std::size_t(c.n_layers));
    switch (c.family) {
        case Family::GPT2: {
            const std::string p = I.prefix = find_prefix(ck, {"", "transformer."}, "wte.weight");
            embed_name = p + "wte.weight";
            pos_name = p + "wpe.weight";
            norm_w = p + "ln_f.weight";
            norm_b = p + "ln_f.bias";
            head_name = c.tied_embeddings ? embed_name : "lm_head.weight";
            for (int l = 0; l < c.n_layers; ++l) {
                const std::string L = p + "h." + std::to_string(l) + ".";
                auto& n = I.names[std::size_t(l)];
                n.ln1_w = L + "ln_1.weight", n.ln1_b = L + "ln_1.bias";
                n.qkv = L + "attn.c_attn.weight", n.qkv_b = L + "attn.c_attn.bias";
                n.o = L + "attn.c_proj.weight", n.o_b = L + "attn.c_proj.bias";
                n.ln2_w = L + "ln_2.weight", n.ln2_b = L + "ln_2.bias";
                n.up = L + "mlp.c_fc.weight", n.up_b = L + "mlp.c_fc.bias";
                n.down = L + "mlp.c_proj.weight", n.down_b = L + "mlp.c_proj.bias";
            }
            break;
        }
        case Family::NeoX: {
            const std::string p = I.prefix = find_prefix(ck, {"gpt_neox.", ""}, "embed_in.weight");
            embed_name = p + "embed_in.weight";
            norm_w = p + "final_layer_norm.weight";
            norm_b = p + "final_layer_norm.bias";
            head_name = c.tied_embeddings ? embed_name : "embed_out.weight";
            for (int l = 0; l < c.n_layers; ++l) {
                const std::string L = p + "layers." + std::to_string(l) + ".";
                auto& n = I.names[std::size_t(l)];
                n.ln1_w = L + "input_layernorm.weight", n.ln1_b = L + "input_layernorm.bias";
                n.qkv = L + "attention.query_key_value.weight";
                n.o = L + "attention.dense.weight";
                if (c.qkv_bias) n.qkv_b = L + "attention.query_key_value.bias", n.o_b = L + "attention.dense.bias";
                n.ln2_w = L + "post_attention_layernorm.weight", n.ln2_b = L + "post_attention_layernorm.bias";
                n.up = L + "mlp.dense_h_to_4h.weight", n.up_b = L + "mlp.dense_h_to_4h.bias";
                n.down = L + "mlp.dense_4h_to_h.weight", n.down_b = L + "mlp.dense_4h_to_h.bias";
            }
            break;
        }
        case Family::Llama: {
            const std::string p = I.prefix = find_prefix(ck, {"model.", ""}, "embed_tokens.weight");
            embed_name = p + "embed_tokens.weight";
            norm_w = p + "norm.weight";
            head_name = c.tied_embeddings ? embed_name : "lm_head.weight";
            for (int l = 0; l < c.n_layers; ++l) {
                const std::string L = p + "layers." + std::to_string(l) + ".";
                auto& n = I.names[std::size_t(l)];
                n.ln1_w = L + "input_layernorm.weight";
                n.q = L + "self_attn.q_proj.weight", n.k = L + "self_attn.k_proj.weight";
                n.v = L + "self_attn.v_proj.weight", n.o = L + "self_attn.o_proj.weight";
                if (c.qkv_bias)
                    n.q_b = L + "self_attn.q_proj.bias", n.k_b = L + "self_attn.k_proj.bias",
                    n.v_b = L + "self_attn.v_proj.bias";
                if (c.o_bias) n.o_b = L + "self_attn.o_proj.bias";
                n.ln2_w = L + "post_attention_layernorm.weight";
                n.gate = L + "mlp.gate_proj.weight", n.up = L + "mlp.up_proj.weight",
                n.down = L + "mlp.down_proj.weight";
            }
            break;
        }
    }
    // Every tensor the forward pass reads must exist before anything runs.
    std::vector<std::string> required{embed_name, norm_w, head_name};
    if (!pos_name.empty()) required.push_back(pos_name);
    if (!norm_b.empty()) required.push_back(norm_b);
    for (const auto& n : I.names)
        for (const auto& s : n.all()) required.push_back(s);
    for (const auto& s : required)
        if (!ck.find(s))
            throw std::runtime_error(ck.path() + ": tensor " + s + " is missing (model_type " + c.model_type + ", " +
                                     std::to_string(c.n_layers) + " layers)");
    const auto& emb_info = I.info(embed_name);
    if (emb_info.shape.size() != 2 || emb_info.shape[1] != D || emb_info.shape[0] < V)
        throw std::runtime_error(ck.path() + ": tensor " + embed_name + " should be (" + std::to_string(V) + ", " +
                                 std::to_string(D) + ")");
    I.embed = I.read(embed_name, emb_info.numel());
    if (!pos_name.empty()) I.pos_embed = I.read(pos_name, std::uint64_t(c.max_positions) * D);
    I.norm_w = I.read(norm_w, D);
    if (!norm_b.empty()) I.norm_b = I.read(norm_b, D);
    if (head_name == embed_name) {
        I.lm_head = I.embed.data();
    } else {
        const auto& hi = I.info(head_name);
        if (hi.shape.size() != 2 || hi.shape[1] != D || hi.shape[0] < V)
            throw std::runtime_error(ck.path() + ": tensor " + head_name + " should be (" + std::to_string(V) + ", " +
                                     std::to_string(D) + ")");
        I.lm_head_own = I.read(head_name, hi.numel());
        I.lm_head = I.lm_head_own.data();
    }
    // Layers are cached in order while the budget lasts; the rest stream through the slot.
    I.cached.resize(std::size_t(c.n_layers));
    I.cacheable.assign(std::size_t(c.n_layers), false);
    std::uint64_t used = 0;
    for (int l = 0; l < c.n_layers; ++l) {
        std::uint64_t b = 0;
        for (const auto& s : I.names[std::size_t(l)].all()) b += tensor_bytes_f32(ck, s);
        if (used + b > opt.cache_bytes) break;
        used += b;
        I.cacheable[std::size_t(l)] = true;
    }
    // Rotary frequencies: inv_freq[i] = theta^(-2i/rd), then rope_scaling.
    const int half = c.rotary_dim / 2;
    I.inv_freq.resize(std::size_t(half));
    for (int i = 0; i < half; ++i) {
        double f = 1.0 / std::pow(c.rope_theta, double(2 * i) / double(c.rotary_dim));
        if (c.rope_scaling == RopeScaling::Linear) {
            f /= c.rope_factor;
        } else if (c.rope_scaling == RopeScaling::Llama3) {
            const double old = c.rope_original_max_positions;
            const double low_wavelen = old / c.rope_low_freq_factor, high_wavelen = old / c.rope_high_freq_factor;
            const double wavelen = 2.0 * M_PI / f;
            if (wavelen > low_wavelen) {
                f /= c.rope_factor;
            } else if (wavelen >= high_wavelen) {  // medium frequencies: smooth interpolation
                const double smooth =
                    (old / wavelen - c.rope_low_freq_factor) / (c.rope_high_freq_factor - c.rope_low_freq_factor);
                f = (1.0 - smooth) * f / c.rope_factor + smooth * f;
            }
        }
        I.inv_freq[std::size_t(i)] = f;
    }
}

Transformer::~Transformer() = default;

RunState Transformer::make_state(int max_seq, int max_tokens) const {
    const Config& c = cfg_;
    if (max_seq <= 0 || max_seq > c.max_positions)
        throw std::invalid_argument("sequence length " + std::to_string(max_seq) + " is outside 1.." +
                                    std::to_string(c.max_positions) + " (the model's positions)");
    if (max_tokens <= 0 || max_tokens > max_seq)
        throw std::invalid_argument("tokens per call " + std::to_string(max_tokens) + " is outside 1.." +
                                    std::to_string(max_seq));
    RunState s;
    s.max_seq = max_seq;
    s.max_tokens = max_tokens;
    const std::size_t T = std::size_t(max_tokens), hd = std::size_t(c.n_heads) * c.head_dim,
                      kvd = std::size_t(c.n_kv_heads) * c.head_dim;
    s.x.resize(T * c.dim);
    s.xb.resize(T * c.dim);
    s.tmp.resize(T * c.dim);
    s.q.resize(T * hd);
    s.att.resize(T * hd);
    s.hb.resize(T * c.hidden_dim);
    s.hb2.resize(T * c.hidden_dim);
    s.logits.resize(std::size_t(RunState::kLogitRows) * c.vocab_size);
    s.key_cache.resize(std::size_t(c.n_layers) * max_seq * kvd);
    s.value_cache.resize(std::size_t(c.n_layers) * max_seq * kvd);
    return s;
}

void Transformer::embed(std::span<const std::int32_t> tokens, int pos, float* x) const {
    const Config& c = cfg_;
    const Impl& I = *impl_;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        const std::int32_t t = tokens[i];
        if (t < 0 || t >= c.vocab_size)
            throw std::out_of_range("token id " + std::to_string(t) + " is outside the vocabulary 0.." +
                                    std::to_string(c.vocab_size - 1));
        float* xi = x + i * std::size_t(c.dim);
        std::copy_n(I.embed.data() + std::size_t(t) * c.dim, c.dim, xi);
        if (!I.pos_embed.empty()) {
            const float* pe = I.pos_embed.data() + std::size_t(pos + int(i)) * c.dim;
            for (int j = 0; j < c.dim; ++j) xi[j] += pe[j];
        }
    }
}

void Transformer::run_layers(RunState& s, float* x, int n, int pos, int first, int last) {
    if (n <= 0 || n > s.max_tokens || pos < 0 || pos + n > s.max_seq)
        throw std::invalid_argument("run_layers: " + std::to_string(n) + " tokens at position " + std::to_string(pos) +
                                    " do not fit the state (" + std::to_string(s.max_tokens) + " tokens, " +
                                    std::to_string(s.max_seq) + " positions)");
    run_stack(s, x, 1, n, pos, first, last);
}

RunState Transformer::make_batch_state(int seq_len, int n_seq) const {
    if (n_seq <= 0 || seq_len <= 0 || seq_len > cfg_.max_positions || std::int64_t(seq_len) * n_seq > (1 << 24))
        throw std::invalid_argument("batch of " + std::to_string(n_seq) + " sequences of " + std::to_string(seq_len) +
                                    " tokens is out of range (1.." + std::to_string(cfg_.max_positions) +
                                    " tokens each)");
    RunState one = make_state(seq_len, seq_len);
    const std::size_t rows = std::size_t(seq_len) * std::size_t(n_seq);
    const Config& c = cfg_;
    const std::size_t hd = std::size_t(c.n_heads) * c.head_dim, kvd = std::size_t(c.n_kv_heads) * c.head_dim;
    one.max_seq = one.max_tokens = int(rows);
    for (auto* v : {&one.x, &one.xb, &one.tmp}) v->resize(rows * c.dim);
    for (auto* v : {&one.q, &one.att}) v->resize(rows * hd);
    for (auto* v : {&one.hb, &one.hb2}) v->resize(rows * c.hidden_dim);
    one.key_cache.resize(std::size_t(c.n_layers) * rows * kvd);
    one.value_cache.resize(std::size_t(c.n_layers) * rows * kvd);
    return one;
}

void Transformer::run_layers_batch(RunState& s, float* x, int n_seq, int n, int first, int last) {
    if (n_seq <= 0 || n <= 0 || n > cfg_.max_positions || std::int64_t(n_seq) * n > s.max_tokens ||
        std::int64_t(n_seq) * n > s.max_seq)
        throw std::invalid_argument("run_layers_batch: " + std::to_string(n_seq) + " x " + std::to_string(n) +
                                    " tokens do not fit the state (" + std::to_string(s.max_tokens) + " tokens)");
    run_stack(s, x, n_seq, n, 0, first, last);
}

// Layers [first, last) on n_seq sequences of n tokens stacked in x (rows = n_seq * n), each
// at positions pos.., its keys and values at cache rows j*n + pos... The dense products run
// over all rows at once; RoPE and attention per sequence.
void Transformer::run_stack(RunState& s, float* x, int n_seq, int n, int pos, int first, int last) {
    const Config& c = cfg_;
    if (first < 0 || last > c.n_layers || first > last)
        throw std::invalid_argument("run_layers: layers [" + std::to_string(first) + ", " + std::to_string(last) +
                                    ") outside 0.." + std::to_string(c.n_layers));
    Impl& I = *impl_;
    const int d = c.dim, dv = c.head_dim, hd = c.n_heads * dv, kvd = c.n_kv_heads * dv, f = c.hidden_dim;
    const int rows = n_seq * n;
    // cos/sin of every (token, frequency), shared by all layers and sequences.
    const int half = c.rotary_dim / 2;
    std::vector<float> cosv(std::size_t(n) * half), sinv(std::size_t(n) * half);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < half; ++j) {
            const double a = double(pos + i) * I.inv_freq[std::size_t(j)];
            cosv[std::size_t(i) * half + j] = float(std::cos(a));
            sinv[std::size_t(i) * half + j] = float(std::sin(a));
        }
    I.arena.execute([&] {
        for (int l = first; l < last; ++l) {
            control_.check();
            const LayerWeights& w = I.layer(l);
            float* kc = s.key_cache.data() + std::size_t(l) * s.max_seq * kvd;
            float* vc = s.value_cache.data() + std::size_t(l) * s.max_seq * kvd;
            const bool layer_norm = c.family != Family::Llama;

            // attention(norm1(x))
            if (layer_norm)
                kernels::layernorm(s.xb.data(), x, w.ln1_w.data(), w.ln1_b.data(), rows, d, c.norm_eps);
            else
                kernels::rmsnorm(s.xb.data(), x, w.ln1_w.data(), rows, d, c.norm_eps);
            kernels::matmul(s.q.data(), s.xb.data(), w.wq.data(), w.bq.empty() ? nullptr : w.bq.data(), rows, d, hd);
            kernels::matmul(kc + std::size_t(pos) * kvd, s.xb.data(), w.wk.data(), w.bk.empty() ? nullptr : w.bk.data(),
                            rows, d, kvd);
            kernels::matmul(vc + std::size_t(pos) * kvd, s.xb.data(), w.wv.data(), w.bv.empty() ? nullptr : w.bv.data(),
                            rows, d, kvd);
            float scale = 1.0f / std::sqrt(float(dv));
            if (c.scale_by_inverse_layer) scale /= float(l + 1);
            const int window = (c.sliding_window > 0 && l >= c.sliding_window_from) ? c.sliding_window : 0;
            auto one_sequence = [&](int j) {
                const std::size_t r = std::size_t(j) * n;
                float* kj = kc + r * kvd;
                if (half > 0) {
                    kernels::rope(s.q.data() + r * hd, n, c.n_heads, dv, half, cosv.data(), sinv.data());
                    kernels::rope(kj + std::size_t(pos) * kvd, n, c.n_kv_heads, dv, half, cosv.data(), sinv.data());
                }
                kernels::attention(s.att.data() + r * hd, s.q.data() + r * hd, kj, vc + r * kvd, n, pos, c.n_heads,
                                   c.n_kv_heads, dv, scale, window);
            };
            if (n_seq == 1)
                one_sequence(0);
            else
                tbb::parallel_for(0, n_seq, one_sequence);
            kernels::matmul(s.xb.data(), s.att.data(), w.wo.data(), w.bo.empty() ? nullptr : w.bo.data(), rows, hd, d);

            // MLP(norm2(.)): of x + attention (sequential) or of x itself (parallel residual).
            float* mlp_in = s.tmp.data();
            if (c.parallel_residual) {
                kernels::layernorm(mlp_in, x, w.ln2_w.data(), w.ln2_b.data(), rows, d, c.norm_eps);
            } else {
                kernels::add(x, s.xb.data(), std::size_t(rows) * d);
                if (layer_norm)
                    kernels::layernorm(mlp_in, x, w.ln2_w.data(), w.ln2_b.data(), rows, d, c.norm_eps);
                else
                    kernels::rmsnorm(mlp_in, x, w.ln2_w.data(), rows, d, c.norm_eps);
            }
            if (!w.w_gate.empty()) {
                kernels::matmul(s.hb.data(), mlp_in, w.w_gate.data(), nullptr, rows, d, f);
                kernels::matmul(s.hb2.data(), mlp_in, w.w_up.data(), nullptr, rows, d, f);
                kernels::activate_mul(s.hb.data(), s.hb2.data(), std::size_t(rows) * f, c.act);
            } else {
                kernels::matmul(s.hb.data(), mlp_in, w.w_up.data(), w.b_up.empty() ? nullptr : w.b_up.data(), rows, d,
                                f);
                kernels::activate(s.hb.data(), std::size_t(rows) * f, c.act);
            }
            kernels::matmul(s.tmp.data(), s.hb.data(), w.w_down.data(), w.b_down.empty() ? nullptr : w.b_down.data(),
                            rows, f, d);
            if (c.parallel_residual) {
                // hidden = mlp_output + attn_output + hidden (GPTNeoXLayer)
                const std::size_t m = std::size_t(rows) * d;
                for (std::size_t i = 0; i < m; ++i) x[i] = (s.tmp[i] + s.xb[i]) + x[i];
            } else {
                kernels::add(x, s.tmp.data(), std::size_t(rows) * d);
            }
        }
    });
}

void Transformer::logits(RunState& s, const float* x, int n, float* out) {
    const Config& c = cfg_;
    Impl& I = *impl_;
    I.arena.execute([&] {
        for (int r0 = 0; r0 < n; r0 += RunState::kLogitRows) {
            const int nr = std::min(RunState::kLogitRows, n - r0);
            float* xb = s.xb.data();
            if (c.family == Family::Llama)
                kernels::rmsnorm(xb, x + std::size_t(r0) * c.dim, I.norm_w.data(), nr, c.dim, c.norm_eps);
            else
                kernels::layernorm(xb, x + std::size_t(r0) * c.dim, I.norm_w.data(), I.norm_b.data(), nr, c.dim,
                                   c.norm_eps);
            kernels::matmul(out + std::size_t(r0) * c.vocab_size, xb, I.lm_head, nullptr, nr, c.dim, c.vocab_size);
        }
    });
}

void Transformer::score(RunState& s, const float* x, int n, std::span<const std::int32_t> targets, double* out,
                        std::int32_t* argmax) {
    const Config& c = cfg_;
    if (targets.size() != std::size_t(n)) throw std::invalid_argument("score: one target per row is needed");
    if (n > s.max_tokens) throw std::invalid_argument("score: more rows than the state holds");
    const int V = c.vocab_size;
    for (int r0 = 0; r0 < n; r0 += RunState::kLogitRows) {
        const int nr = std::min(RunState::kLogitRows, n - r0);
        logits(s, x + std::size_t(r0) * c.dim, nr, s.logits.data());
        impl_->arena.execute([&] {
            tbb::parallel_for(0, nr, [&](int i) {
                const float* z = s.logits.data() + std::size_t(i) * V;
                int best = 0;
                for (int v = 1; v < V; ++v)
                    if (z[v] > z[best]) best = v;
                if (argmax) argmax[r0 + i] = best;
                const std::int32_t t = targets[std::size_t(r0 + i)];
                if (t < 0) return;
                if (t >= V) throw std::out_of_range("target id " + std::to_string(t) + " is outside the vocabulary");
                const float mx = z[best];
                const double sum = kernels::sum_exp(z, V, mx);
                out[r0 + i] = double(z[t] - mx) - std::log(sum);
            });
        });
    }
}

void Transformer::forward(RunState& s, std::span<const std::int32_t> tokens, int pos) {
    const int n = int(tokens.size());
    if (n <= 0 || n > s.max_tokens || pos < 0 || pos + n > s.max_seq)
        throw std::invalid_argument("forward: " + std::to_string(n) + " tokens at position " + std::to_string(pos) +
                                    " do not fit the state (" + std::to_string(s.max_tokens) + " tokens, " +
                                    std::to_string(s.max_seq) + " positions)");
    embed(tokens, pos, s.x.data());
    run_layers(s, s.x.data(), n, pos, 0, cfg_.n_layers);
}

std::vector<std::string> Transformer::layer_tensor_names(int layer) const {
    if (layer < 0 || layer >= cfg_.n_layers)
        throw std::invalid_argument("layer " + std::to_string(layer) + " is outside 0.." +
                                    std::to_string(cfg_.n_layers - 1));
    return impl_->names[std::size_t(layer)].all();
}

void Transformer::set_layer_override(int layer, std::vector<tensor::RebuiltTensor> tensors) {
    const auto names = layer_tensor_names(layer);
    std::map<std::string, tensor::RebuiltTensor> m;
    for (auto& t : tensors) {
        if (std::find(names.begin(), names.end(), t.name) == names.end())
            throw std::invalid_argument("override of layer " + std::to_string(layer) + ": tensor " + t.name +
                                        " is not one the layer reads");
        const auto& info = impl_->info(t.name);
        if (t.shape != info.shape)
            throw std::invalid_argument("override of " + t.name + ": shape differs from the checkpoint's");
        if (!io::dtype_is_float(t.dtype) || t.bytes.size() != info.numel() * io::dtype_size(t.dtype))
            throw std::invalid_argument("override of " + t.name + ": dtype or byte count does not match its shape");
        std::string name = t.name;
        m[name] = std::move(t);
    }
    impl_->overrides[layer] = std::move(m);
    impl_->cached[std::size_t(layer)].reset();
    if (impl_->slot_layer == layer) impl_->slot_layer = -1;
}

void Transformer::clear_layer_override(int layer) {
    if (layer < 0) {
        impl_->overrides.clear();
        for (auto& c : impl_->cached) c.reset();
        impl_->slot_layer = -1;
        return;
    }
    layer_tensor_names(layer);  // range check
    impl_->overrides.erase(layer);
    impl_->cached[std::size_t(layer)].reset();
    if (impl_->slot_layer == layer) impl_->slot_layer = -1;
}

const char* mlp_matrix_name(MlpMatrix m) {
    switch (m) {
        case MlpMatrix::Up: return "up";
        case MlpMatrix::Down: return "down";
        case MlpMatrix::Gate: return "gate";
    }
    return "?";
}

std::string Transformer::mlp_tensor_name(int layer, MlpMatrix which) const {
    layer_tensor_names(layer);  // range check
    const auto& n = impl_->names[std::size_t(layer)];
    const std::string& name = which == MlpMatrix::Up ? n.up : which == MlpMatrix::Down ? n.down : n.gate;
    if (name.empty())
        throw std::invalid_argument(std::string("model_type ") + cfg_.model_type + " has no " + mlp_matrix_name(which) +
                                    " matrix in its MLP");
    return name;
}

bool Transformer::preload() {
    Impl& I = *impl_;
    bool all = true;
    for (int l = 0; l < cfg_.n_layers; ++l) {
        if (I.cacheable[std::size_t(l)])
            I.layer(l);
        else
            all = false;
    }
    return all;
}

void Transformer::execute(const std::function<void()>& f) { impl_->arena.execute(f); }

std::uint64_t Transformer::cached_bytes() const {
    std::uint64_t b = 0;
    for (const auto& c : impl_->cached)
        if (c) b += c->bytes();
    return b;
}

}  // namespace tllm::eval
