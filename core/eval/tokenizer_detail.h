#pragma once
// Helpers shared by the tokenizer readers (not part of the public interface): bounded file
// reads and one-line error messages that quote a value safely.

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tllm::eval::detail {

/// Largest tokenizer file read into memory (vocab.json, merges.txt, tokenizer.json,
/// tokenizer.model); real ones are at most a few tens of MB.
inline constexpr std::uint64_t kMaxTokenizerFileBytes = 64ull << 20;

/// `value` in single quotes for an error message: quotes and backslashes escaped, control
/// characters and bytes that are not UTF-8 as \xNN, cut after about `max` bytes (whole
/// characters), so that the message stays one readable line.
std::string quote(std::string_view value, std::size_t max = 48);

/// A JSON value for an error message: its dump, quoted and cut as above.
std::string quote_json(const nlohmann::json& value);

/// The whole of `path`, at most `max_bytes` (else std::runtime_error naming the file and
/// both sizes); std::runtime_error naming the file when it cannot be read.
std::string read_file_bounded(const std::string& path, std::uint64_t max_bytes = kMaxTokenizerFileBytes);

/// A token name of tokenizer_config.json: a string, or an object with a string "content"
/// (AddedToken's serialisation); "" for null or absent. Anything else throws
/// std::runtime_error naming `path` and `field`.
std::string config_token(const nlohmann::json& config, const char* field, const std::string& path);

}  // namespace tllm::eval::detail
