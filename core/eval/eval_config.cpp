// config.json of a causal language model read into the forward pass's Config, with the
// Hugging Face field names and defaults of each model_type (eval/forward.h).
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "eval/forward.h"

namespace tllm::eval {
namespace {

using nlohmann::json;

// The first present, non-null key of `keys` in `j`.
const json* field(const json& j, std::initializer_list<const char*> keys) {
    for (const char* k : keys) {
        auto it = j.find(k);
        if (it != j.end() && !it->is_null()) return &*it;
    }
    return nullptr;
}

int int_field(const json& j, std::initializer_list<const char*> keys, int fallback, const std::string& path) {
    const json* v = field(j, keys);
    if (!v) return fallback;
    if (!v->is_number_integer() || v->get<long long>() < 0 || v->get<long long>() > (1ll << 30))
        throw std::runtime_error(path + ": field " + *keys.begin() + ": expected a non-negative integer, got " +
                                 v->dump());
    return int(v->get<long long>());
}

double num_field(const json& j, std::initializer_list<const char*> keys, double fallback, const std::string& path) {
    const json* v = field(j, keys);
    if (!v) return fallback;
    if (!v->is_number())
        throw std::runtime_error(path + ": field " + *keys.begin() + ": expected a number, got " + v->dump());
    return v->get<double>();
}

bool bool_field(const json& j, std::initializer_list<const char*> keys, bool fallback, const std::string& path) {
    const json* v = field(j, keys);
    if (!v) return fallback;
    if (!v->is_boolean())
        throw std::runtime_error(path + ": field " + *keys.begin() + ": expected true or false, got " + v->dump());
    return v->get<bool>();
}

Activation parse_activation(const std::string& s, const std::string& path) {
    if (s == "gelu_new" || s == "gelu_pytorch_tanh" || s == "gelu_fast") return Activation::GeluTanh;
    if (s == "gelu") return Activation::GeluErf;
    if (s == "silu" || s == "swish") return Activation::Silu;
    if (s == "relu") return Activation::Relu;
    throw std::runtime_error(path + ": activation '" + s +
                             "' is not supported by evaluation (gelu_new, gelu_pytorch_tanh, gelu, silu, relu)");
}

void parse_rope_scaling(const json& raw, Config& c, const std::string& path) {
    const json* rs = field(raw, {"rope_scaling"});
    if (!rs) return;
    if (!rs->is_object())
        throw std::runtime_error(path + ": field rope_scaling: expected an object, got " + rs->dump());
    const json* t = field(*rs, {"rope_type", "type"});
    const std::string kind = t && t->is_string() ? t->get<std::string>() : "";
    if (kind == "default") return;
    if (kind == "linear") {
        c.rope_scaling = RopeScaling::Linear;
    } else if (kind == "llama3") {
        c.rope_scaling = RopeScaling::Llama3;
        c.rope_low_freq_factor = num_field(*rs, {"low_freq_factor"}, 1.0, path);
        c.rope_high_freq_factor = num_field(*rs, {"high_freq_factor"}, 4.0, path);
        c.rope_original_max_positions = num_field(*rs, {"original_max_position_embeddings"}, 8192.0, path);
        if (!(c.rope_high_freq_factor > c.rope_low_freq_factor))
            throw std::runtime_error(path + ": rope_scaling: high_freq_factor must exceed low_freq_factor");
    } else {
        throw std::runtime_error(path + ": rope_scaling type '" + kind +
                                 "' is not supported by evaluation (linear, llama3); decomposition is");
    }
    c.rope_factor = num_field(*rs, {"factor"}, 1.0, path);
    if (!(c.rope_factor > 0)) throw std::runtime_error(path + ": rope_scaling.factor must be positive");
}

}  // namespace

const std::vector<std::string>& supported_eval_model_types() {
    static const std::vector<std::string> types{"gpt2", "llama", "mistral", "qwen2", "gpt_neox"};
    return types;
}

Config read_eval_config(const io::ModelConfig& mc) {
    const json& j = mc.raw;
    const std::string path = mc.path.empty() ? std::string("config.json") : mc.path;
    Config c;
    c.model_type = mc.model_type;
    const auto& types = supported_eval_model_types();
    if (std::find(types.begin(), types.end(), c.model_type) == types.end()) {
        std::string list;
        for (const auto& t : types) list += (list.empty() ? "" : ", ") + t;
        throw std::runtime_error("evaluation is not available for model_type " + c.model_type +
                                 "; decomposition is (evaluation supports " + list + ")");
    }
    if (c.model_type == "gpt2") {
        c.family = Family::GPT2;
        c.dim = int_field(j, {"n_embd", "hidden_size"}, 768, path);
        c.n_layers = int_field(j, {"n_layer", "num_hidden_layers"}, 12, path);
        c.n_heads = int_field(j, {"n_head", "num_attention_heads"}, 12, path);
        c.n_kv_heads = c.n_heads;
        c.hidden_dim = int_field(j, {"n_inner"}, 4 * c.dim, path);
        c.vocab_size = int_field(j, {"vocab_size"}, 50257, path);
        c.max_positions = int_field(j, {"n_positions", "max_position_embeddings"}, 1024, path);
        c.norm_eps = float(num_field(j, {"layer_norm_epsilon"}, 1e-5, path));
        c.act = parse_activation(
            field(j, {"activation_function"}) ? j["activation_function"].get<std::string>() : "gelu_new", path);
        c.qkv_bias = c.o_bias = c.mlp_bias = true;
        c.scale_by_inverse_layer = bool_field(j, {"scale_attn_by_inverse_layer_idx"}, false, path);
        if (!bool_field(j, {"scale_attn_weights"}, true, path))
            throw std::runtime_error(path +
                                     ": field scale_attn_weights: false (unscaled attention scores) is not supported "
                                     "by evaluation; decomposition is");
        c.tied_embeddings = bool_field(j, {"tie_word_embeddings"}, true, path);
    } else if (c.model_type == "gpt_neox") {
        c.family = Family::NeoX;
        c.dim = int_field(j, {"hidden_size"}, 6144, path);
        c.n_layers = int_field(j, {"num_hidden_layers"}, 44, path);
        c.n_heads = int_field(j, {"num_attention_heads"}, 64, path);
        c.n_kv_heads = c.n_heads;
        c.hidden_dim = int_field(j, {"intermediate_size"}, 24576, path);
        c.vocab_size = int_field(j, {"vocab_size"}, 50432, path);
        c.max_positions = int_field(j, {"max_position_embeddings"}, 2048, path);
        c.norm_eps = float(num_field(j, {"layer_norm_eps"}, 1e-5, path));
        c.act = parse_activation(field(j, {"hidden_act"}) ? j["hidden_act"].get<std::string>() : "gelu", path);
        c.qkv_bias = c.o_bias = bool_field(j, {"attention_bias"}, true, path);
        c.mlp_bias = true;
        c.rope_theta = num_field(j, {"rope_theta", "rotary_emb_base"}, 10000.0, path);
        const double pct = num_field(j, {"rotary_pct", "partial_rotary_factor"}, 0.25, path);
        c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
        c.rotary_dim = int(c.head_dim * pct);
        c.parallel_residual = bool_field(j, {"use_parallel_residual"}, true, path);
        c.tied_embeddings = bool_field(j, {"tie_word_embeddings"}, false, path);
        parse_rope_scaling(j, c, path);
    } else {  // llama, mistral, qwen2
        c.family = Family::Llama;
        const bool mistral = c.model_type == "mistral", qwen2 = c.model_type == "qwen2";
        c.dim = int_field(j, {"hidden_size"}, 4096, path);
        c.n_layers = int_field(j, {"num_hidden_layers"}, 32, path);
        c.n_heads = int_field(j, {"num_attention_heads"}, 32, path);
        c.n_kv_heads = int_field(j, {"num_key_value_heads"}, c.n_heads, path);
        c.hidden_dim = int_field(j, {"intermediate_size"}, qwen2 ? 22016 : mistral ? 14336 : 11008, path);
        c.vocab_size = int_field(j, {"vocab_size"}, qwen2 ? 151936 : 32000, path);
        c.max_positions = int_field(j, {"max_position_embeddings"}, qwen2 ? 32768 : mistral ? 131072 : 2048, path);
        c.norm_eps = float(num_field(j, {"rms_norm_eps"}, 1e-6, path));
        c.act = parse_activation(field(j, {"hidden_act"}) ? j["hidden_act"].get<std::string>() : "silu", path);
        c.rope_theta = num_field(j, {"rope_theta"}, 10000.0, path);
        if (qwen2) {
            c.qkv_bias = true;
        } else {
            c.qkv_bias = c.o_bias = bool_field(j, {"attention_bias"}, false, path);
            c.mlp_bias = bool_field(j, {"mlp_bias"}, false, path);
            if (c.mlp_bias)
                throw std::runtime_error(path +
                                         ": field mlp_bias: true (biases on gate_proj, up_proj and down_proj) is "
                                         "not supported by evaluation; decomposition is");
        }
        if (mistral) {
            c.sliding_window = int_field(j, {"sliding_window"}, 0, path);
            if (!j.contains("sliding_window")) c.sliding_window = 4096;
        } else if (qwen2 && bool_field(j, {"use_sliding_window"}, false, path)) {
            c.sliding_window = int_field(j, {"sliding_window"}, 4096, path);
            c.sliding_window_from = int_field(j, {"max_window_layers"}, 28, path);
        }
        c.tied_embeddings = bool_field(j, {"tie_word_embeddings"}, false, path);
        c.head_dim = int_field(j, {"head_dim"}, c.n_heads > 0 ? c.dim / c.n_heads : 0, path);
        c.rotary_dim = c.head_dim;
        parse_rope_scaling(j, c, path);
    }
    if (c.head_dim == 0 && c.n_heads > 0) c.head_dim = c.dim / c.n_heads;
    auto bad = [&](const std::string& m) { throw std::runtime_error(path + ": " + m); };
    if (c.dim <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.hidden_dim <= 0 || c.vocab_size <= 0 ||
        c.max_positions <= 0)
        bad("hidden size, layers, heads, MLP width, vocab_size and positions must be positive");
    if (c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads != 0)
        bad("num_attention_heads (" + std::to_string(c.n_heads) + ") must be a multiple of num_key_value_heads (" +
            std::to_string(c.n_kv_heads) + ")");
    if (c.family != Family::Llama && c.dim % c.n_heads != 0)
        bad("hidden size " + std::to_string(c.dim) + " is not divisible by the heads " + std::to_string(c.n_heads));
    if (c.head_dim <= 0) bad("head_dim must be positive");
    if (c.rotary_dim % 2 != 0 || c.rotary_dim > c.head_dim)
        bad("rotary dimension " + std::to_string(c.rotary_dim) + " must be even and at most head_dim");
    if (!(c.norm_eps > 0)) bad("the norm epsilon must be positive");
    return c;
}

}  // namespace tllm::eval
