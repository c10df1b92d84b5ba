// Code point classes (binary search in the generated tables) and a lenient UTF-8 decoder.
#include "eval/unicode_classes.h"

#include <algorithm>

namespace tllm::eval::unicode {

namespace {

bool in_ranges(const CodePointRange* ranges, std::size_t n, char32_t c) {
    const CodePointRange* end = ranges + n;
    // First range whose last code point is >= c.
    const CodePointRange* it =
        std::lower_bound(ranges, end, c, [](const CodePointRange& r, char32_t v) { return r.last < v; });
    return it != end && it->first <= c;
}

// The Unicode White_Space property (PropList.txt): what \s matches in the Python regex
// module that GPT-2's encoder uses.
bool is_white_space(char32_t c) {
    switch (c) {
        case 0x09:
        case 0x0A:
        case 0x0B:
        case 0x0C:
        case 0x0D:
        case 0x20:
        case 0x85:
        case 0xA0:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x202F:
        case 0x205F:
        case 0x3000: return true;
        default: return c >= 0x2000 && c <= 0x200A;
    }
}

}  // namespace

CharClass classify(char32_t c) {
    if (c < 0x80) {  // ASCII without the tables
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return CharClass::Letter;
        if (c >= '0' && c <= '9') return CharClass::Number;
        if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return CharClass::Whitespace;
        return CharClass::Other;
    }
    if (c == kInvalid) return CharClass::Other;
    if (is_white_space(c)) return CharClass::Whitespace;
    if (in_ranges(kLetterRanges, kLetterRangeCount, c)) return CharClass::Letter;
    if (in_ranges(kNumberRanges, kNumberRangeCount, c)) return CharClass::Number;
    return CharClass::Other;
}

DecodedChar decode_utf8(std::string_view text, std::size_t pos) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char b0 = byte(pos);
    if (b0 < 0x80) return {b0, 1};
    std::size_t len;
    char32_t cp, min;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return {kInvalid, 1};
    }
    if (pos + len > text.size()) return {kInvalid, 1};
    for (std::size_t i = 1; i < len; ++i) {
        const unsigned char b = byte(pos + i);
        if ((b & 0xC0) != 0x80) return {kInvalid, 1};
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {kInvalid, 1};
    return {cp, len};
}

void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

}  // namespace tllm::eval::unicode
