#pragma once
// The parts of a Hugging Face config.json that define the attention layout.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace tllm::io {

/// Attention geometry from config.json. Field aliases follow the HF model families:
/// hidden_size | n_embd | d_model; num_attention_heads | n_head; num_hidden_layers | n_layer;
/// num_key_value_heads (default: the query heads; null counts as absent);
/// head_dim (default: hidden_size / heads).
struct ModelConfig {
    std::string path;        ///< the config.json it came from ("" when built by hand)
    std::string model_type;  ///< e.g. "llama", "gpt2"
    int hidden_size = 0;     ///< d
    int num_heads = 0;       ///< h (query heads)
    int num_kv_heads = 0;    ///< n_kv (== h without grouped-query attention)
    int head_dim = 0;        ///< dv
    int num_layers = 0;
    bool head_dim_explicit = false;  ///< head_dim was given in the file
    std::string torch_dtype;         ///< informational
    nlohmann::json raw;              ///< the whole file

    /// Throws std::invalid_argument naming the field and value: positive sizes, heads
    /// divisible by kv heads, hidden_size divisible by heads unless head_dim is explicit.
    void validate() const;
};

/// Reads and validates `path`. Throws std::runtime_error naming the file and field.
ModelConfig read_model_config(const std::string& path);
/// Parses an already loaded JSON document (`path` only names it in errors).
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& path);

/// Reads a small JSON file (at most `max_bytes`, nesting at most kMaxJsonDepth), with errors
/// naming the file.
nlohmann::json read_json_file(const std::string& path, std::uint64_t max_bytes = 64ull << 20);

}  // namespace tllm::io
