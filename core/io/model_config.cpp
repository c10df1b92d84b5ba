#include "io/model_config.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "io/mapped_file.h"
#include "io/safetensors.h"

namespace tllm::io {
namespace {

// First present, non-null key among `keys`; returns its integer value or `fallback`.
int int_field(const nlohmann::json& j, std::initializer_list<const char*> keys, int fallback, const std::string& path,
              bool* found = nullptr) {
    for (const char* k : keys) {
        auto it = j.find(k);
        if (it == j.end() || it->is_null()) continue;
        if (!it->is_number_integer() || it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > (1ll << 30))
            throw std::runtime_error(path + ": field '" + k + "' must be a non-negative integer, got " + it->dump());
        if (found) *found = true;
        return static_cast<int>(it->get<std::int64_t>());
    }
    if (found) *found = false;
    return fallback;
}

}  // namespace

nlohmann::json read_json_file(const std::string& path, std::uint64_t max_bytes) {
    const std::string text = read_regular_file(path, max_bytes, "a JSON file");
    check_json_depth(text, kMaxJsonDepth, path);
    return parse_json_unique(text, path);
}

void ModelConfig::validate() const {
    const std::string where = path.empty() ? "config" : path;
    auto bad = [&](const std::string& msg) { throw std::invalid_argument(where + ": " + msg); };
    if (hidden_size <= 0) bad("hidden_size must be positive, got " + std::to_string(hidden_size));
    if (num_heads <= 0) bad("num_attention_heads must be positive, got " + std::to_string(num_heads));
    if (num_kv_heads <= 0) bad("num_key_value_heads must be positive, got " + std::to_string(num_kv_heads));
    if (num_kv_heads > num_heads || num_heads % num_kv_heads != 0)
        bad("num_attention_heads (" + std::to_string(num_heads) + ") must be a multiple of num_key_value_heads (" +
            std::to_string(num_kv_heads) + ")");
    if (!head_dim_explicit && hidden_size % num_heads != 0)
        bad("hidden_size (" + std::to_string(hidden_size) + ") is not divisible by num_attention_heads (" +
            std::to_string(num_heads) + ") and head_dim is not given");
    if (head_dim <= 0) bad("head_dim must be positive, got " + std::to_string(head_dim));
    if (num_layers < 0) bad("num_hidden_layers must be non-negative, got " + std::to_string(num_layers));
}

ModelConfig parse_model_config(const nlohmann::json& j, const std::string& path) {
    if (!j.is_object()) throw std::runtime_error(path + ": config is not a JSON object");
    ModelConfig c;
    c.path = path;
    c.raw = j;
    auto mt = j.find("model_type");
    if (mt == j.end() || !mt->is_string())
        throw std::runtime_error(path + ": field 'model_type' missing or not a string");
    c.model_type = mt->get<std::string>();
    c.hidden_size = int_field(j, {"hidden_size", "n_embd", "d_model"}, 0, path);
    c.num_heads = int_field(j, {"num_attention_heads", "n_head"}, 0, path);
    c.num_kv_heads = int_field(j, {"num_key_value_heads"}, c.num_heads, path);
    c.num_layers = int_field(j, {"num_hidden_layers", "n_layer"}, 0, path);
    bool explicit_hd = false;
    c.head_dim = int_field(j, {"head_dim"}, 0, path, &explicit_hd);
    c.head_dim_explicit = explicit_hd;
    if (!explicit_hd && c.num_heads > 0) c.head_dim = c.hidden_size / c.num_heads;
    if (auto td = j.find("torch_dtype"); td != j.end() && td->is_string()) c.torch_dtype = td->get<std::string>();
    try {
        c.validate();
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(e.what());
    }
    return c;
}

ModelConfig read_model_config(const std::string& path) {
    return parse_model_config(read_json_file(path, 16ull << 20), path);
}

}  // namespace tllm::io
