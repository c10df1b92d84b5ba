#pragma once
// Helpers shared by the BPE readers (bpe_tokenizer.cpp) and the merge loop (bpe_encode.cpp);
// not part of the public interface.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "eval/bpe_tokenizer.h"
#include "eval/unicode_classes.h"

namespace tllm::eval::bpe_detail {

// Words longer than this are encoded without being cached (a long run would fill the cache
// with entries that never repeat).
inline constexpr std::size_t kMaxCachedWordBytes = 256;
// The cache is emptied when it reaches this many words.
inline constexpr std::size_t kMaxCacheEntries = 1 << 16;

inline std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

// The vocabulary spelling of raw bytes (each byte as its table character).
inline std::string bytes_to_spelling(std::string_view bytes) {
    const auto& fwd = gpt2_byte_to_unicode();
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) unicode::append_utf8(out, fwd[static_cast<unsigned char>(c)]);
    return out;
}

inline bool is_word_char(unicode::CharClass c, char32_t cp) {
    return c == unicode::CharClass::Letter || c == unicode::CharClass::Number || cp == U'_';
}

// Start of the code point that ends just before `pos` (pos > 0).
inline std::size_t previous_char_start(std::string_view text, std::size_t pos) {
    std::size_t p = pos - 1;
    for (int k = 0; k < 3 && p > 0 && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80; ++k) --p;
    return unicode::decode_utf8(text, p).len == pos - p ? p : pos - 1;
}

}  // namespace tllm::eval::bpe_detail
