#pragma once
// The few Unicode facts the GPT-2 pre-tokeniser needs: UTF-8 decoding that never fails,
// and the letter / number / whitespace classes of a code point.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tllm::eval::unicode {

/// An inclusive range of code points.
struct CodePointRange {
    char32_t first;  ///< first code point of the range
    char32_t last;   ///< last code point of the range (inclusive)
};

/// Unicode version of the generated tables (unicode_tables.cpp).
extern const char* const kUnicodeVersion;
/// Letters (general category L*), sorted disjoint ranges; kLetterRangeCount of them.
extern const CodePointRange kLetterRanges[];
/// Number of entries of kLetterRanges.
extern const std::size_t kLetterRangeCount;
/// Numbers (general category N*), sorted disjoint ranges; kNumberRangeCount of them.
extern const CodePointRange kNumberRanges[];
/// Number of entries of kNumberRanges.
extern const std::size_t kNumberRangeCount;

/// The class of a code point as the GPT-2 pattern sees it.
enum class CharClass : std::uint8_t {
    Letter,      ///< \p{L}
    Number,      ///< \p{N}
    Whitespace,  ///< \s (Unicode White_Space)
    Other,       ///< anything else, including bytes that are not valid UTF-8
};

/// Class of code point `c`.
CharClass classify(char32_t c);

/// One decoded code point: its value and how many bytes of the input it spans.
struct DecodedChar {
    char32_t cp;      ///< the code point, or kInvalid for a byte that is not valid UTF-8
    std::size_t len;  ///< bytes consumed (1 to 4)
};

/// Stand-in code point for a byte that does not start a valid UTF-8 sequence (classified Other).
inline constexpr char32_t kInvalid = 0xFFFFFFFFu;

/// Decodes the code point at `pos` (< text.size()). An invalid, overlong, surrogate or
/// truncated sequence yields kInvalid spanning one byte, so every byte is covered exactly once.
DecodedChar decode_utf8(std::string_view text, std::size_t pos);

/// Appends the UTF-8 encoding of `c` (a valid scalar value) to `out`.
void append_utf8(std::string& out, char32_t c);

}  // namespace tllm::eval::unicode
