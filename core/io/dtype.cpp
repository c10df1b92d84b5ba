#include "io/dtype.h"

#include <array>
#include <bit>
#include <cstring>
#include <stdexcept>

namespace tllm::io {
namespace {
struct DTypeInfo {
    DType type;
    std::string_view name;
    std::size_t size;
};
constexpr std::array<DTypeInfo, 23> kTypes{{
    {DType::F64, "F64", 8},   {DType::F32, "F32", 4},         {DType::F16, "F16", 2},         {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8},   {DType::I32, "I32", 4},         {DType::I16, "I16", 2},         {DType::I8, "I8", 1},
    {DType::U64, "U64", 8},   {DType::U32, "U32", 4},         {DType::U16, "U16", 2},         {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1}, {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1}, {DType::Q8_0, "Q8_0", 0},
    {DType::Q4_0, "Q4_0", 0}, {DType::Q4_1, "Q4_1", 0},       {DType::Q5_0, "Q5_0", 0},       {DType::Q5_1, "Q5_1", 0},
    {DType::Q4_K, "Q4_K", 0}, {DType::Q5_K, "Q5_K", 0},       {DType::Q6_K, "Q6_K", 0},
}};
constexpr std::size_t kSafetensorsTypes = 15;
static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");
}  // namespace

std::optional<DType> parse_dtype(std::string_view s) {
    for (std::size_t i = 0; i < kSafetensorsTypes; ++i)
        if (kTypes[i].name == s) return kTypes[i].type;
    return std::nullopt;
}
std::string_view dtype_name(DType t) { return kTypes[static_cast<std::size_t>(t)].name; }
std::size_t dtype_size(DType t) {
    if (dtype_is_block(t))
        throw std::invalid_argument("dtype " + std::string(dtype_name(t)) + " is block-quantised: no size per element");
    return kTypes[static_cast<std::size_t>(t)].size;
}
bool dtype_is_float(DType t) { return t == DType::F64 || t == DType::F32 || t == DType::F16 || t == DType::BF16; }
bool dtype_is_block(DType t) { return static_cast<std::size_t>(t) >= kSafetensorsTypes; }
bool dtype_is_readable(DType t) { return dtype_is_float(t) || dtype_is_block(t); }
DType dtype_for_rewrite(DType t) { return dtype_is_block(t) ? DType::F32 : t; }

float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = (h & 0x8000u) << 16;
    std::uint32_t exp = (h >> 10) & 0x1Fu;
    std::uint32_t mant = h & 0x3FFu;
    std::uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            int e = -1;
            do {
                ++e;
                mant <<= 1;
            } while ((mant & 0x400u) == 0);
            bits = sign | (static_cast<std::uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3FFu) << 13);
        }
    } else if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    return std::bit_cast<float>(bits);
}

std::uint16_t float_to_half(float f) {
    const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
    const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
    const std::uint32_t absx = x & 0x7FFFFFFFu;
    if (absx >= 0x7F800000u)  // inf or NaN
        return static_cast<std::uint16_t>(sign | 0x7C00u | (absx > 0x7F800000u ? 0x200u : 0u));
    if (absx >= 0x477FF000u)  // rounds to >= 65520: overflow to infinity
        return static_cast<std::uint16_t>(sign | 0x7C00u);
    if (absx < 0x38800000u) {  // below the smallest normal half: subnormal or zero
        // Value in units of 2^-24, rounded to nearest even.
        const float a = std::bit_cast<float>(absx);
        const float scaled = a * 16777216.0f;  // exact (power of two)
        std::uint32_t q = static_cast<std::uint32_t>(scaled);
        const float rem = scaled - static_cast<float>(q);
        if (rem > 0.5f || (rem == 0.5f && (q & 1u))) ++q;
        return static_cast<std::uint16_t>(sign | q);
    }
    // Normal: rebias exponent, round mantissa from 23 to 10 bits (nearest even).
    std::uint32_t r = absx - ((127u - 15u) << 23);
    const std::uint32_t lsb = (r >> 13) & 1u;
    r += 0xFFFu + lsb;
    return static_cast<std::uint16_t>(sign | (r >> 13));
}

float bf16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

std::uint16_t float_to_bf16(float f) {
    std::uint32_t x = std::bit_cast<std::uint32_t>(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u)  // NaN: keep sign, force quiet bit
        return static_cast<std::uint16_t>((x >> 16) | 0x40u);
    const std::uint32_t lsb = (x >> 16) & 1u;
    x += 0x7FFFu + lsb;
    return static_cast<std::uint16_t>(x >> 16);
}

void to_float32(DType t, const std::byte* src, std::size_t count, float* dst) {
    switch (t) {
        case DType::F32:
            // memcpy with a null pointer is undefined even for 0 bytes, and an empty tensor's
            // destination (an empty vector's data()) may be null.
            if (count != 0) std::memcpy(dst, src, count * 4);
            return;
        case DType::F64:
            for (std::size_t i = 0; i < count; ++i) {
                double v;
                std::memcpy(&v, src + 8 * i, 8);
                dst[i] = static_cast<float>(v);
            }
            return;
        case DType::F16:
            for (std::size_t i = 0; i < count; ++i) {
                std::uint16_t v;
                std::memcpy(&v, src + 2 * i, 2);
                dst[i] = half_to_float(v);
            }
            return;
        case DType::BF16:
            for (std::size_t i = 0; i < count; ++i) {
                std::uint16_t v;
                std::memcpy(&v, src + 2 * i, 2);
                dst[i] = bf16_to_float(v);
            }
            return;
        default:
            throw std::invalid_argument("to_float32: dtype " + std::string(dtype_name(t)) + " is not a floating type");
    }
}

void from_float32(DType t, const float* src, std::size_t count, std::byte* dst) {
    switch (t) {
        case DType::F32:
            if (count != 0) std::memcpy(dst, src, count * 4);  // see to_float32
            return;
        case DType::F64:
            for (std::size_t i = 0; i < count; ++i) {
                const double v = src[i];
                std::memcpy(dst + 8 * i, &v, 8);
            }
            return;
        case DType::F16:
            for (std::size_t i = 0; i < count; ++i) {
                const std::uint16_t v = float_to_half(src[i]);
                std::memcpy(dst + 2 * i, &v, 2);
            }
            return;
        case DType::BF16:
            for (std::size_t i = 0; i < count; ++i) {
                const std::uint16_t v = float_to_bf16(src[i]);
                std::memcpy(dst + 2 * i, &v, 2);
            }
            return;
        default:
            throw std::invalid_argument("from_float32: dtype " + std::string(dtype_name(t)) +
                                        " is not a floating type");
    }
}

}  // namespace tllm::io
