#include "io/gguf_model.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace tllm::io {
namespace {

struct NameRule {
    const char* gguf;  ///< GGUF name; within a block, the part after "blk.N."
    const char* hf;    ///< Hugging Face name; within a block, the part after the layer prefix
    GgufRowOrder order = GgufRowOrder::Same;
    bool kv = false;  ///< Rotary over the kv heads (K) rather than the query heads (Q)
};

struct ArchMap {
    const char* arch;
    const char* layer_prefix;  ///< Hugging Face prefix of layer N: "model.layers.N."
    bool rotary_reorder;       ///< llama.cpp reordered Q and K rows on conversion
    std::vector<NameRule> global, layer;
};

const std::vector<NameRule> kLlamaGlobal{
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};
const std::vector<NameRule> kLlamaLayer{
    {"attn_norm.weight", "input_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight", GgufRowOrder::Rotary, false},
    {"attn_k.weight", "self_attn.k_proj.weight", GgufRowOrder::Rotary, true},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias", GgufRowOrder::Rotary, false},
    {"attn_k.bias", "self_attn.k_proj.bias", GgufRowOrder::Rotary, true},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"attn_output.bias", "self_attn.o_proj.bias"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
};

const std::vector<ArchMap>& arch_maps() {
    static const std::vector<ArchMap> maps{
        {"llama", "model.layers.", true, kLlamaGlobal, kLlamaLayer},
        {"qwen2", "model.layers.", false, kLlamaGlobal, kLlamaLayer},
        {"gpt2",
         "h.",
         false,
         {
             {"token_embd.weight", "wte.weight"},
             {"position_embd.weight", "wpe.weight"},
             {"output_norm.weight", "ln_f.weight"},
             {"output_norm.bias", "ln_f.bias"},
             {"output.weight", "lm_head.weight"},
         },
         {
             {"attn_norm.weight", "ln_1.weight"},
             {"attn_norm.bias", "ln_1.bias"},
             {"attn_qkv.weight", "attn.c_attn.weight", GgufRowOrder::Transposed},
             {"attn_qkv.bias", "attn.c_attn.bias"},
             {"attn_output.weight", "attn.c_proj.weight", GgufRowOrder::Transposed},
             {"attn_output.bias", "attn.c_proj.bias"},
             {"ffn_norm.weight", "ln_2.weight"},
             {"ffn_norm.bias", "ln_2.bias"},
             {"ffn_up.weight", "mlp.c_fc.weight", GgufRowOrder::Transposed},
             {"ffn_up.bias", "mlp.c_fc.bias"},
             {"ffn_down.weight", "mlp.c_proj.weight", GgufRowOrder::Transposed},
             {"ffn_down.bias", "mlp.c_proj.bias"},
         }},
    };
    return maps;
}

const ArchMap* find_arch(const std::string& arch) {
    for (const auto& a : arch_maps())
        if (arch == a.arch) return &a;
    return nullptr;
}

std::string supported_archs() {
    std::string s;
    for (const auto& a : arch_maps()) s += (s.empty() ? "" : ", ") + std::string(a.arch);
    return s;
}

/// "blk.12.attn_q.weight" -> (12, "attn_q.weight"); (-1, name) when not a block tensor.
std::pair<int, std::string> split_block(const std::string& name) {
    if (name.rfind("blk.", 0) != 0) return {-1, name};
    std::size_t i = 4, n = 0;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9' && n < 9) ++i, ++n;
    if (n == 0 || i >= name.size() || name[i] != '.') return {-1, name};
    return {std::stoi(name.substr(4, n)), name.substr(i + 1)};
}

/// (layer, rest) for a Hugging Face name under `prefix` ("model.layers.").
std::pair<int, std::string> split_hf_layer(const std::string& name, const std::string& prefix) {
    if (name.rfind(prefix, 0) != 0) return {-1, name};
    std::size_t i = prefix.size(), n = 0;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9' && n < 9) ++i, ++n;
    if (n == 0 || i >= name.size() || name[i] != '.') return {-1, name};
    return {std::stoi(name.substr(prefix.size(), n)), name.substr(i + 1)};
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw std::runtime_error(path + ": " + what);
}

}  // namespace

std::optional<DType> dtype_of_ggml(GgmlType t) {
    switch (t) {
        case GgmlType::F32: return DType::F32;
        case GgmlType::F16: return DType::F16;
        case GgmlType::BF16: return DType::BF16;
        case GgmlType::F64: return DType::F64;
        case GgmlType::I8: return DType::I8;
        case GgmlType::I16: return DType::I16;
        case GgmlType::I32: return DType::I32;
        case GgmlType::I64: return DType::I64;
        case GgmlType::Q8_0: return DType::Q8_0;
        case GgmlType::Q4_0: return DType::Q4_0;
        case GgmlType::Q4_1: return DType::Q4_1;
        case GgmlType::Q5_0: return DType::Q5_0;
        case GgmlType::Q5_1: return DType::Q5_1;
        case GgmlType::Q4_K: return DType::Q4_K;
        case GgmlType::Q5_K: return DType::Q5_K;
        case GgmlType::Q6_K: return DType::Q6_K;
        default: return std::nullopt;
    }
}

std::optional<GgmlType> ggml_of_dtype(DType t) {
    for (std::uint32_t g = 0; g <= 40; ++g) {
        if (!ggml_type_info(g)) continue;
        const auto d = dtype_of_ggml(GgmlType(g));
        if (d && *d == t) return GgmlType(g);
    }
    return std::nullopt;
}

bool is_gguf_file(const std::string& path) {
    // Only a regular file is opened: opening a FIFO would block until a writer appears.
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return false;
    std::ifstream f(path, std::ios::binary);
    char magic[4] = {};
    return f.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

GgufModel::GgufModel(const std::string& path) : file_(std::make_unique<GgufFile>(path)) {
    const GgufFile& f = *file_;
    const auto arch = f.get_string("general.architecture");
    if (!arch) fail(path, "metadata key general.architecture is missing");
    arch_ = *arch;
    const ArchMap* map = find_arch(arch_);
    if (!map)
        fail(path, "general.architecture = '" + arch_ + "' is not supported (supported: " + supported_archs() + ")");

    const std::string a = arch_ + ".";
    auto need_int = [&](const std::string& key) -> std::int64_t {
        const auto v = f.get_int(key);
        if (!v) fail(path, "metadata key " + key + " is missing");
        if (*v <= 0 || *v > (1ll << 30))
            fail(path, "metadata key " + key + " = " + std::to_string(*v) + " is out of range");
        return *v;
    };
    const std::int64_t n_embd = need_int(a + "embedding_length");
    const std::int64_t n_layer = need_int(a + "block_count");
    const std::int64_t n_head = need_int(a + "attention.head_count");
    const std::int64_t n_kv = f.get_int(a + "attention.head_count_kv").value_or(n_head);
    if (n_kv <= 0 || n_kv > n_head || n_head % n_kv != 0)
        fail(path, "metadata key " + a + "attention.head_count_kv = " + std::to_string(n_kv) + " does not divide " + a +
                       "attention.head_count = " + std::to_string(n_head));
    const std::int64_t n_ff = need_int(a + "feed_forward_length");
    const auto ctx = f.get_int(a + "context_length");
    const auto key_length = f.get_int(a + "attention.key_length");

    // Tensors under their Hugging Face names.
    for (const auto& g : f.tensors()) {
        const auto dtype = dtype_of_ggml(g.type);
        if (!dtype) {
            warnings_.push_back(path + ": tensor " + g.name + " has ggml type " +
                                ggml_type_name(std::uint32_t(g.type)) + ", which the engine cannot read; left out");
            continue;
        }
        GgufMappedTensor m;
        m.source = &g;
        m.info.dtype = *dtype;
        m.info.begin = g.offset;
        m.info.end = g.offset + g.bytes;
        m.info.name = g.name;
        const NameRule* rule = nullptr;
        const auto [layer, rest] = split_block(g.name);
        for (const auto& r : layer >= 0 ? map->layer : map->global)
            if (rest == r.gguf) rule = &r;
        if (rule) {
            m.info.name = layer >= 0 ? map->layer_prefix + std::to_string(layer) + "." + rule->hf : rule->hf;
            m.order = rule->order;
            if (m.order == GgufRowOrder::Rotary && !map->rotary_reorder) m.order = GgufRowOrder::Same;
            if (m.order == GgufRowOrder::Rotary) m.heads = int(rule->kv ? n_kv : n_head);
        }
        m.info.shape.assign(g.ne.rbegin(), g.ne.rend());
        if (m.order == GgufRowOrder::Transposed) {
            if (g.ne.size() != 2)
                fail(path, "tensor " + g.name + ": expected 2 dimensions, found " + std::to_string(g.ne.size()));
            m.info.shape = g.ne;
        }
        if (m.order == GgufRowOrder::Rotary) {
            const std::uint64_t rows = m.info.shape.empty() ? 1 : m.info.shape[0];
            if (rows % std::uint64_t(m.heads) != 0 || (rows / std::uint64_t(m.heads)) % 2 != 0)
                fail(path, "tensor " + g.name + ": " + std::to_string(rows) + " rows do not split into " +
                               std::to_string(m.heads) + " heads of even size");
        }
        if (by_gguf_.count(g.name) || std::any_of(tensors_.begin(), tensors_.end(), [&](const GgufMappedTensor& t) {
                return t.info.name == m.info.name;
            }))
            fail(path, "tensor " + g.name + ": its name " + m.info.name + " is taken by another tensor");
        by_gguf_.emplace(g.name, tensors_.size());
        tensors_.push_back(std::move(m));
    }
    for (std::size_t i = 0; i < tensors_.size(); ++i) by_info_.emplace(&tensors_[i].info, i);

    // config.json from the metadata.
    std::int64_t vocab = 0;
    if (const auto v = f.get_int(a + "vocab_size")) vocab = *v;
    if (vocab <= 0)
        if (const nlohmann::json* toks = f.get_array("tokenizer.ggml.tokens")) vocab = std::int64_t(toks->size());
    if (vocab <= 0)
        if (const GgufTensorInfo* e = f.find("token_embd.weight"); e && e->ne.size() == 2)
            vocab = std::int64_t(e->ne[1]);
    const bool tied = f.find("output.weight") == nullptr;
    nlohmann::json c;
    c["tensorllm_source"] = "GGUF metadata of " + path;
    if (arch_ == "gpt2") {
        c["model_type"] = "gpt2";
        c["architectures"] = {"GPT2LMHeadModel"};
        c["n_embd"] = n_embd;
        c["n_layer"] = n_layer;
        c["n_head"] = n_head;
        c["n_inner"] = n_ff;
        if (ctx) c["n_positions"] = *ctx;
        c["layer_norm_epsilon"] = f.get_float(a + "attention.layer_norm_epsilon").value_or(1e-5);
        c["activation_function"] = "gelu_new";
    } else {
        c["model_type"] = arch_;
        c["architectures"] = {arch_ == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
        c["hidden_size"] = n_embd;
        c["num_hidden_layers"] = n_layer;
        c["num_attention_heads"] = n_head;
        c["num_key_value_heads"] = n_kv;
        c["intermediate_size"] = n_ff;
        if (ctx) c["max_position_embeddings"] = *ctx;
        c["rms_norm_eps"] = f.get_float(a + "attention.layer_norm_rms_epsilon").value_or(1e-5);
        c["rope_theta"] = f.get_float(a + "rope.freq_base").value_or(10000.0);
        c["hidden_act"] = "silu";
        if (key_length && *key_length != n_embd / n_head) c["head_dim"] = *key_length;
        if (const auto rdim = f.get_int(a + "rope.dimension_count"); rdim && key_length && *rdim != *key_length)
            warnings_.push_back(path + ": " + a + "rope.dimension_count = " + std::to_string(*rdim) +
                                " (partial rotary) is not read; the forward pass rotates whole heads");
        const auto scaling = f.get_string(a + "rope.scaling.type");
        if (scaling && *scaling == "linear") {
            c["rope_scaling"] = {{"rope_type", "linear"},
                                 {"factor", f.get_float(a + "rope.scaling.factor").value_or(1.0)}};
        } else if (scaling && *scaling != "none") {
            warnings_.push_back(path + ": " + a + "rope.scaling.type = '" + *scaling +
                                "' is not read; the forward pass uses unscaled rotary positions");
        }
        if (f.find("rope_freqs.weight"))
            warnings_.push_back(path +
                                ": tensor rope_freqs.weight (Llama 3 rotary frequency factors) is not read; "
                                "the forward pass uses unscaled rotary positions");
        if (arch_ == "qwen2") c["attention_bias"] = f.find("blk.0.attn_q.bias") != nullptr;
    }
    if (vocab > 0) c["vocab_size"] = vocab;
    c["tie_word_embeddings"] = tied;
    if (const auto dt = f.get_int("general.file_type")) c["gguf_file_type"] = *dt;
    config_ = std::move(c);
}

const GgufMappedTensor& GgufModel::mapping(const TensorInfo& info) const {
    auto it = by_info_.find(&info);
    if (it == by_info_.end())
        throw std::invalid_argument(path() + ": tensor '" + info.name + "' does not belong to this GGUF model");
    return tensors_[it->second];
}

const GgufMappedTensor* GgufModel::find_gguf(const std::string& gguf_name) const {
    auto it = by_gguf_.find(gguf_name);
    return it == by_gguf_.end() ? nullptr : &tensors_[it->second];
}

std::uint64_t GgufModel::gguf_row(const GgufMappedTensor& m, std::uint64_t hf_row) {
    if (m.order != GgufRowOrder::Rotary) return hf_row;
    const std::uint64_t rows = m.info.shape.empty() ? 1 : m.info.shape[0];
    const std::uint64_t dv = rows / std::uint64_t(m.heads), half = dv / 2;
    const std::uint64_t head = hf_row / dv, i = hf_row % dv;
    return head * dv + 2 * (i % half) + i / half;
}

std::shared_ptr<const std::vector<float>> GgufModel::dequantised(const GgufMappedTensor& m) const {
    const std::size_t key = std::size_t(&m - tensors_.data());
    {
        std::lock_guard lock(cache_mutex_);
        for (const auto& [k, v] : cache_)
            if (k == key) return v;
    }
    auto full = std::make_shared<std::vector<float>>(m.source->numel());
    file_->read_f32(*m.source, full->data());
    std::lock_guard lock(cache_mutex_);
    cache_.insert(cache_.begin(), {key, full});
    if (cache_.size() > 4) cache_.pop_back();
    return full;
}

void GgufModel::read_f32(const TensorInfo& t, float* dst) const { read_f32(t, 0, t.numel(), dst); }

void GgufModel::read_f32(const TensorInfo& t, std::uint64_t first, std::uint64_t count, float* dst) const {
    const GgufMappedTensor& m = mapping(t);
    if (!dtype_is_readable(t.dtype))
        fail(path(), "tensor '" + m.source->name + "': type " + std::string(dtype_name(t.dtype)) +
                         " cannot be read as float32");
    const std::uint64_t n = t.numel();
    if (first > n || count > n - first)
        throw std::out_of_range(path() + ": tensor '" + t.name + "': element range out of bounds");
    if (count == 0) return;
    const GgufTensorInfo& g = *m.source;
    const std::uint64_t row_len = g.row_length();

    if (m.order == GgufRowOrder::Transposed) {
        // Hugging Face element (i, o) of [ne0, ne1] is GGUF element o * ne0 + i.
        const auto full = dequantised(m);
        const std::uint64_t ne1 = g.ne[1];
        for (std::uint64_t e = first; e < first + count; ++e) dst[e - first] = (*full)[(e % ne1) * row_len + e / ne1];
        return;
    }
    if (m.order == GgufRowOrder::Rotary && g.ne.size() < 2) {
        const auto full = dequantised(m);
        for (std::uint64_t e = first; e < first + count; ++e) dst[e - first] = (*full)[gguf_row(m, e)];
        return;
    }
    // Row by row (GGUF rows are Hugging Face rows, possibly reordered).
    std::vector<float> row;
    std::uint64_t e = first;
    const std::uint64_t stop = first + count;
    while (e < stop) {
        const std::uint64_t r = e / row_len, col = e % row_len;
        const std::uint64_t take = std::min(row_len - col, stop - e);
        if (m.order == GgufRowOrder::Same && col == 0 && take == row_len) {
            // Whole rows in place: as many as the range covers.
            const std::uint64_t rows = (stop - e) / row_len;
            file_->read_rows_f32(g, r, rows, dst + (e - first));
            e += rows * row_len;
            continue;
        }
        if (col == 0 && take == row_len) {
            file_->read_rows_f32(g, gguf_row(m, r), 1, dst + (e - first));
        } else {
            row.resize(row_len);
            file_->read_rows_f32(g, gguf_row(m, r), 1, row.data());
            std::copy_n(row.data() + col, take, dst + (e - first));
        }
        e += take;
    }
}

void GgufModel::release(const TensorInfo& t) const noexcept {
    auto it = by_info_.find(&t);
    if (it == by_info_.end()) return;
    file_->release(*tensors_[it->second].source);
    std::lock_guard lock(cache_mutex_);
    std::erase_if(cache_, [&](const auto& kv) { return kv.first == it->second; });
}

std::optional<GgufNameMapping> gguf_mapping_for(const std::string& arch, const std::string& hf_name) {
    const ArchMap* map = find_arch(arch);
    if (!map) return std::nullopt;
    const auto [layer, rest] = split_hf_layer(hf_name, map->layer_prefix);
    for (const auto& r : layer >= 0 ? map->layer : map->global)
        if (rest == r.hf) {
            GgufNameMapping g;
            g.gguf_name = layer >= 0 ? "blk." + std::to_string(layer) + "." + r.gguf : r.gguf;
            g.order = r.order == GgufRowOrder::Rotary && !map->rotary_reorder ? GgufRowOrder::Same : r.order;
            g.kv = r.kv;
            return g;
        }
    return std::nullopt;
}

bool gguf_architecture_supported(const std::string& arch) { return find_arch(arch) != nullptr; }

std::vector<std::uint64_t> gguf_ne(GgufRowOrder order, const std::vector<std::uint64_t>& shape) {
    if (order == GgufRowOrder::Transposed) return shape;
    return {shape.rbegin(), shape.rend()};
}

void to_gguf_layout(GgufRowOrder order, int heads, const std::vector<std::uint64_t>& shape, const float* hf,
                    float* out) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    if (order == GgufRowOrder::Same) {
        std::copy_n(hf, n, out);
    } else if (order == GgufRowOrder::Transposed) {
        // Hugging Face [a, b] row-major -> GGUF rows of length a: out[o * a + i] = hf[i * b + o].
        const std::uint64_t a = shape.at(0), b = shape.at(1);
        for (std::uint64_t i = 0; i < a; ++i)
            for (std::uint64_t o = 0; o < b; ++o) out[o * a + i] = hf[i * b + o];
    } else {
        GgufMappedTensor m;
        m.info.shape = shape;
        m.order = order;
        m.heads = heads;
        const std::uint64_t rows = shape.empty() ? 1 : shape[0], len = n / std::max<std::uint64_t>(rows, 1);
        for (std::uint64_t r = 0; r < rows; ++r) std::copy_n(hf + r * len, len, out + GgufModel::gguf_row(m, r) * len);
    }
}

GgmlType gguf_storage_type(GgmlType wanted, const std::vector<std::uint64_t>& ne) {
    const auto fits = [&](GgmlType t) { return ne.at(0) % ggml_type_info(std::uint32_t(t))->block == 0; };
    if (ne.size() < 2) return GgmlType::F32;
    if (fits(wanted)) return wanted;
    GgmlType next = GgmlType::F16;
    if (wanted == GgmlType::Q4_K) next = GgmlType::Q5_0;
    if (wanted == GgmlType::Q5_K) next = GgmlType::Q5_1;
    if (wanted == GgmlType::Q6_K) next = GgmlType::Q8_0;
    return fits(next) ? next : GgmlType::F16;
}

}  // namespace tllm::io
