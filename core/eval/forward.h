#pragma once
// A CPU forward pass for causal language models, in the shape of llama2.c's run.c: a
// Config read from config.json, per-layer float32 weights (views of converted checkpoint
// tensors), a RunState whose activation buffers and key/value cache are allocated once, and
// a forward pass that reads like the equations. Architecture differences are explicit
// branches on Config fields chosen at load; the semantics follow Hugging Face transformers:
//
//   gpt2      x = wte[t] + wpe[p];  per layer: x += c_proj(attn(ln_1(x)));
//             x += mlp.c_proj(gelu_new(c_fc(ln_2(x))));  logits = ln_f(x) wte^T.
//             LayerNorm, Conv1D weights stored (in, out), fused c_attn = [Q | K | V].
//   llama     x = embed[t];  per layer: x += o(attn(rope(q), rope(k), v)(rms(x)));
//   mistral   x += down(silu(gate(rms(x))) * up(rms(x)));  logits = rms(x) lm_head^T.
//   qwen2     RMSNorm, rotate_half RoPE (rope_theta, rope_scaling linear / llama3),
//             grouped-query attention, optional q/k/v biases, tied or separate lm_head,
//             mistral's (and qwen2's use_sliding_window) sliding window.
//   gpt_neox  fused query_key_value interleaved per head [h][q, k, v][dv], RoPE on the
//             first rotary_pct of each head, parallel residual
//             x += attn(ln1(x)) + mlp(ln2(x)) (or sequential), separate embed_out.
//
// Weights are read through io::Checkpoint (memory-mapped safetensors, F32/F16/BF16,
// sharded) and converted to float32 per layer when the layer is used. Converted layers are
// kept while they fit in ForwardOptions::cache_bytes; layers beyond it are converted again
// on each use into one shared slot, so a model whose float32 weights exceed memory still
// runs. Products go through cblas_sgemm (single-threaded OpenBLAS calls), split into
// blocks whose shapes depend only on the problem size and run in parallel with oneTBB, so
// results are bitwise the same for any thread count.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/model.h"
#include "tensor/tensorize.h"
#include "util/control.h"

namespace tllm::eval {

/// Which forward pass a model_type uses.
enum class Family { GPT2, Llama, NeoX };
/// MLP nonlinearity: gelu_new / gelu_pytorch_tanh (tanh form), gelu (erf form), silu, relu.
enum class Activation { GeluTanh, GeluErf, Silu, Relu };
/// rope_scaling kinds: none, `linear` (positions divided by factor), `llama3` (per-frequency).
enum class RopeScaling { None, Linear, Llama3 };
/// The weight matrices of a layer's MLP: up (c_fc, dense_h_to_4h, up_proj), down (c_proj,
/// dense_4h_to_h, down_proj) and gate (gate_proj, llama-family models only).
enum class MlpMatrix { Up, Down, Gate };
/// "up", "down", "gate".
const char* mlp_matrix_name(MlpMatrix m);

/// The model_type values evaluation supports, in the order they are listed in errors.
const std::vector<std::string>& supported_eval_model_types();

/// Hyperparameters of the forward pass, read from config.json with the Hugging Face field
/// names and defaults of each model_type.
struct Config {
    std::string model_type;
    Family family = Family::GPT2;
    int dim = 0;  ///< hidden size d
    int n_layers = 0;
    int n_heads = 0;     ///< query heads h
    int n_kv_heads = 0;  ///< key/value heads (h / n_kv query heads share one)
    int head_dim = 0;    ///< dv
    int hidden_dim = 0;  ///< MLP width
    int vocab_size = 0;
    int max_positions = 0;  ///< n_positions / max_position_embeddings: the longest sequence
    float norm_eps = 1e-5f;
    Activation act = Activation::GeluTanh;
    bool qkv_bias = false, o_bias = false, mlp_bias = false;
    bool scale_by_inverse_layer = false;  ///< gpt2 scale_attn_by_inverse_layer_idx
    int rotary_dim = 0;                   ///< dims of each head rotated (0: learned positions)
    double rope_theta = 10000.0;
    RopeScaling rope_scaling = RopeScaling::None;
    double rope_factor = 1.0, rope_low_freq_factor = 1.0, rope_high_freq_factor = 4.0;
    double rope_original_max_positions = 8192.0;
    int sliding_window = 0;       ///< 0: full causal attention; else keys with q - k < window
    int sliding_window_from = 0;  ///< first layer with the window (qwen2 max_window_layers)
    bool parallel_residual = false;
    bool tied_embeddings = false;  ///< logits use the input embedding
};

/// Reads the Config of `mc` (its raw config.json). Throws std::runtime_error
/// "evaluation is not available for model_type X; decomposition is" for other model_types,
/// and naming the file and field for missing or invalid values.
Config read_eval_config(const io::ModelConfig& mc);

/// Options of a Transformer.
struct ForwardOptions {
    /// Bytes of converted float32 layer weights kept between uses; layers beyond it are
    /// converted again on every use. Default: all layers of models up to 4 GiB of f32.
    std::uint64_t cache_bytes = 4ull << 30;
    /// Worker threads (0: all cores). Results do not depend on it.
    int threads = 0;
};

/// One layer's weights in float32. Every matrix is in nn.Linear orientation (out, in),
/// row-major; empty vectors mean "absent" (no bias, no gate).
struct LayerWeights {
    std::vector<float> ln1_w, ln1_b;    ///< attention norm (LayerNorm weight, bias / RMSNorm weight)
    std::vector<float> wq, wk, wv, wo;  ///< (h*dv, d), (n_kv*dv, d), (n_kv*dv, d), (d, h*dv)
    std::vector<float> bq, bk, bv, bo;
    std::vector<float> ln2_w, ln2_b;    ///< MLP norm
    std::vector<float> w_gate;          ///< SwiGLU gate (ffn, d); empty for gpt2 / gpt_neox
    std::vector<float> w_up, b_up;      ///< (ffn, d): c_fc / dense_h_to_4h / up_proj
    std::vector<float> w_down, b_down;  ///< (d, ffn)
    std::uint64_t bytes() const;
};

/// Activations and key/value cache of one sequence, allocated once (as in run.c).
struct RunState {
    int max_seq = 0;                            ///< cache length: positions 0 .. max_seq-1
    int max_tokens = 0;                         ///< most tokens per call
    std::vector<float> x;                       ///< (max_tokens, d) residual stream
    std::vector<float> xb;                      ///< (max_tokens, d) normed input of a block
    std::vector<float> q;                       ///< (max_tokens, h*dv)
    std::vector<float> att;                     ///< (max_tokens, h*dv) attention output before o_proj
    std::vector<float> hb, hb2;                 ///< (max_tokens, ffn)
    std::vector<float> tmp;                     ///< (max_tokens, d) parallel-residual MLP output
    std::vector<float> logits;                  ///< (kLogitRows, vocab)
    std::vector<float> key_cache, value_cache;  ///< (n_layers, max_seq, n_kv*dv), after RoPE
    /// Rows of logits computed at once (bounds the logits buffer for large vocabularies).
    static constexpr int kLogitRows = 256;
};

/// A causal language model ready to run. Not safe for concurrent calls (the weight slot
/// for uncached layers is shared); one call uses all its threads.
class Transformer {
public:
    /// Reads the config and the global tensors (embeddings, final norm, lm_head) of `m`.
    /// Throws std::runtime_error for unsupported model_types, missing tensors (naming
    /// them) and shapes that disagree with the config.
    explicit Transformer(std::shared_ptr<const model::Model> m, const ForwardOptions& opt = {});
    ~Transformer();
    Transformer(const Transformer&) = delete;
    Transformer& operator=(const Transformer&) = delete;

    const Config& config() const { return cfg_; }
    const model::Model& model() const { return *model_; }

    /// A RunState for sequences of up to `max_seq` positions (<= max_positions) and calls
    /// of up to `max_tokens` tokens. Throws std::invalid_argument for sizes out of range.
    RunState make_state(int max_seq, int max_tokens) const;

    /// x (n, d) = embeddings of `tokens` at positions pos, pos+1, ... Throws
    /// std::out_of_range naming a token id outside the vocabulary.
    void embed(std::span<const std::int32_t> tokens, int pos, float* x) const;
    /// Runs layers [first, last) on the hidden states x (n, d) of positions pos .. pos+n-1,
    /// in place, reading the cache of positions < pos and writing those positions' keys and
    /// values. Running layers [0, L) after embed() is the forward pass; the input of layer l
    /// captured once can be run again from layer l with different weights (prefix reuse).
    void run_layers(RunState& s, float* x, int n, int pos, int first, int last);
    /// A RunState for run_layers_batch(): `n_seq` sequences of up to `seq_len` tokens.
    RunState make_batch_state(int seq_len, int n_seq) const;
    /// Runs layers [first, last) on `n_seq` independent sequences of `n` tokens each, at
    /// positions 0..n-1, stacked in x (n_seq*n, d): for each sequence what run_layers(x_j, n,
    /// 0, first, last) computes, with the dense products over all rows at once (larger
    /// matrix products, better use of the cores for short windows). The state's cache then
    /// holds sequence j's keys at rows j*n...
    void run_layers_batch(RunState& s, float* x, int n_seq, int n, int first, int last);
    /// Final norm and lm_head on the hidden states x (n, d) (after the last layer; x is left
    /// unchanged): out[i] = log p(targets[i] | position i), in float64 from a float32 softmax
    /// with the max subtracted. targets[i] < 0 leaves out[i] untouched. When `argmax` is
    /// given, argmax[i] is the most likely id of row i (lowest id on ties).
    void score(RunState& s, const float* x, int n, std::span<const std::int32_t> targets, double* out,
               std::int32_t* argmax = nullptr);
    /// Logits (n, vocab) of the hidden states x into `out` (final norm and lm_head).
    void logits(RunState& s, const float* x, int n, float* out);

    /// embed + every layer for `tokens` at positions pos..; the last layer's hidden states
    /// are left in s.x (n, d).
    void forward(RunState& s, std::span<const std::int32_t> tokens, int pos);

    /// Uses `tensors` instead of the checkpoint's tensors of the same names for layer
    /// `layer` (as tensor::detensorize() returns them: stored name, shape and dtype), e.g.
    /// a layer's attention reconstructed from a decomposition. Replaces earlier overrides of
    /// that layer. Throws std::invalid_argument for an unknown layer, a name the layer does
    /// not read, or a shape or dtype that differs from the checkpoint's.
    void set_layer_override(int layer, std::vector<tensor::RebuiltTensor> tensors);
    /// Back to the checkpoint's weights for `layer` (all layers when layer < 0).
    void clear_layer_override(int layer = -1);

    /// Cancel token checked before each layer by run_layers() (throws util::Cancelled).
    void set_control(const util::Control& ctl) { control_ = ctl; }

    /// Checkpoint tensor names the layer reads (for overrides and error messages).
    std::vector<std::string> layer_tensor_names(int layer) const;
    /// Checkpoint name of MLP matrix `which` of `layer`. Throws std::invalid_argument for a
    /// layer out of range or a matrix the architecture does not have (gate outside llama).
    std::string mlp_tensor_name(int layer, MlpMatrix which) const;

    /// Converts every layer that fits the cache budget now. Returns true when all layers are
    /// cached: then run_layers(), logits() and score() may run concurrently on distinct
    /// RunStates (no call converts weights), until the next set/clear_layer_override().
    bool preload();
    /// Runs `f` inside this Transformer's thread arena, so that parallel work in `f` and in
    /// the calls it makes shares the arena's threads.
    void execute(const std::function<void()>& f);
    /// Bytes of converted layer weights currently cached.
    std::uint64_t cached_bytes() const;

private:
    void run_stack(RunState& s, float* x, int n_seq, int n, int pos, int first, int last);
    struct Impl;
    std::shared_ptr<const model::Model> model_;
    Config cfg_;
    util::Control control_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tllm::eval
