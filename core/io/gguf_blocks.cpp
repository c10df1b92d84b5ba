// ggml's tensor block formats: geometry of every type ggml defines, and conversion to and
// from float32 for F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K.
//
// The layouts are those of ggml-common.h (all fields little-endian, fp16 scales):
//   Q4_0  32 el, 18 B: fp16 d | u8 qs[16]            x = (q - 8) * d, q = 4 bits
//   Q4_1  32 el, 20 B: fp16 d, fp16 m | u8 qs[16]    x = q * d + m
//   Q5_0  32 el, 22 B: fp16 d | u8 qh[4] | u8 qs[16] x = (q - 16) * d, q = 4 low bits | 1 high bit
//   Q5_1  32 el, 24 B: fp16 d, fp16 m | qh[4] | qs[16]  x = q * d + m
//   Q8_0  32 el, 34 B: fp16 d | i8 qs[32]            x = q * d
//   Q4_K 256 el, 144 B: fp16 d, fp16 dmin | u8 scales[12] (8 pairs of 6-bit scale and min) | u8 qs[128]
//   Q5_K 256 el, 176 B: fp16 d, fp16 dmin | u8 scales[12] | u8 qh[32] | u8 qs[128]
//   Q6_K 256 el, 210 B: u8 ql[128] | u8 qh[64] | i8 scales[16] | fp16 d
// In the 32-element types element j of a block is the low nibble of qs[j] and element j + 16
// the high nibble. The K types split the 256 elements into sub-blocks (8 of 32 for Q4_K and
// Q5_K, 16 of 16 for Q6_K), each with its own quantised scale (and min).
//
// The quantizers follow ggml's reference quantize_row_*_ref (no importance weights), so the
// bytes they produce are those llama.cpp's own reference path produces from the same floats.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "io/dtype.h"
#include "io/gguf.h"

namespace tllm::io {
namespace {

constexpr std::uint32_t kQK = 32;    // elements per block of the 32-element types
constexpr std::uint32_t kQKK = 256;  // elements per super-block of the K types

struct TypeEntry {
    std::uint32_t id;
    GgmlTypeInfo info;
};

constexpr std::array<TypeEntry, 20> kTypeTable{{
    {0, {"F32", 1, 4, true, true}},         {1, {"F16", 1, 2, true, true}},
    {2, {"Q4_0", kQK, 18, true, true}},     {3, {"Q4_1", kQK, 20, true, true}},
    {6, {"Q5_0", kQK, 22, true, true}},     {7, {"Q5_1", kQK, 24, true, true}},
    {8, {"Q8_0", kQK, 34, true, true}},     {9, {"Q8_1", kQK, 36, false, false}},
    {10, {"Q2_K", kQKK, 84, false, false}}, {11, {"Q3_K", kQKK, 110, false, false}},
    {12, {"Q4_K", kQKK, 144, true, true}},  {13, {"Q5_K", kQKK, 176, true, true}},
    {14, {"Q6_K", kQKK, 210, true, true}},  {15, {"Q8_K", kQKK, 292, false, false}},
    {24, {"I8", 1, 1, false, false}},       {25, {"I16", 1, 2, false, false}},
    {26, {"I32", 1, 4, false, false}},      {27, {"I64", 1, 8, false, false}},
    {28, {"F64", 1, 8, false, false}},      {30, {"BF16", 1, 2, true, true}},
}};

// ggml type numbers this reader knows by name only (their block layouts are not read).
std::string other_type_name(std::uint32_t t) {
    switch (t) {
        case 16: return "IQ2_XXS";
        case 17: return "IQ2_XS";
        case 18: return "IQ3_XXS";
        case 19: return "IQ1_S";
        case 20: return "IQ4_NL";
        case 21: return "IQ3_S";
        case 22: return "IQ2_S";
        case 23: return "IQ4_XS";
        case 29: return "IQ1_M";
        case 34: return "TQ1_0";
        case 35: return "TQ2_0";
        case 39: return "MXFP4";
        default: return {};
    }
}

float fp16(const std::byte* p) {
    std::uint16_t h;
    std::memcpy(&h, p, 2);
    return half_to_float(h);
}
void put_fp16(std::byte* p, float v) {
    const std::uint16_t h = float_to_half(v);
    std::memcpy(p, &h, 2);
}
std::uint8_t u8(const std::byte* p) { return static_cast<std::uint8_t>(*p); }

// ggml's nearest_int: round to nearest, ties to even, through the float mantissa (valid for
// |v| < 2^22; larger or non-finite values give some integer, never undefined behaviour).
int nearest_int(float v) {
    const float shifted = v + 12582912.f;
    std::int32_t i;
    std::memcpy(&i, &shifted, 4);
    return (i & 0x007fffff) - 0x00400000;
}

// C's float-to-integer conversion (truncation) for values that fit; NaN and values beyond
// the int8 range (only reachable from non-finite input) give the nearest bound or 0.
int trunc_int(float v) {
    if (!(v == v)) return 0;
    if (v >= 127.f) return 127;
    if (v <= -128.f) return -128;
    return static_cast<int>(v);
}

void check_n(GgmlType t, std::size_t n) {
    const auto* info = ggml_type_info(static_cast<std::uint32_t>(t));
    if (!info) throw std::invalid_argument("unknown ggml type " + std::to_string(static_cast<std::uint32_t>(t)));
    if (n % info->block != 0)
        throw std::invalid_argument(std::string(info->name) + ": " + std::to_string(n) +
                                    " elements are not a multiple of the block size " + std::to_string(info->block));
}

// ---- 32-element types ----

void deq_q4_0(const std::byte* b, float* y) {
    const float d = fp16(b);
    for (std::uint32_t j = 0; j < kQK / 2; ++j) {
        const int q = u8(b + 2 + j);
        y[j] = static_cast<float>((q & 0x0F) - 8) * d;
        y[j + kQK / 2] = static_cast<float>((q >> 4) - 8) * d;
    }
}

void deq_q4_1(const std::byte* b, float* y) {
    const float d = fp16(b), m = fp16(b + 2);
    for (std::uint32_t j = 0; j < kQK / 2; ++j) {
        const int q = u8(b + 4 + j);
        y[j] = static_cast<float>(q & 0x0F) * d + m;
        y[j + kQK / 2] = static_cast<float>(q >> 4) * d + m;
    }
}

// Q5_0/Q5_1: the fifth bit of element j is bit j of the 32-bit qh.
void deq_q5_0(const std::byte* b, float* y) {
    const float d = fp16(b);
    std::uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    for (std::uint32_t j = 0; j < kQK / 2; ++j) {
        const int q = u8(b + 6 + j);
        const int h0 = static_cast<int>((qh >> j) & 1u) << 4;
        const int h1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
        y[j] = static_cast<float>(((q & 0x0F) | h0) - 16) * d;
        y[j + kQK / 2] = static_cast<float>(((q >> 4) | h1) - 16) * d;
    }
}

void deq_q5_1(const std::byte* b, float* y) {
    const float d = fp16(b), m = fp16(b + 2);
    std::uint32_t qh;
    std::memcpy(&qh, b + 4, 4);
    for (std::uint32_t j = 0; j < kQK / 2; ++j) {
        const int q = u8(b + 8 + j);
        const int h0 = static_cast<int>((qh >> j) & 1u) << 4;
        const int h1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
        y[j] = static_cast<float>((q & 0x0F) | h0) * d + m;
        y[j + kQK / 2] = static_cast<float>((q >> 4) | h1) * d + m;
    }
}

void deq_q8_0(const std::byte* b, float* y) {
    const float d = fp16(b);
    for (std::uint32_t j = 0; j < kQK; ++j) y[j] = static_cast<float>(static_cast<std::int8_t>(u8(b + 2 + j))) * d;
}

// The value of largest magnitude (its sign kept) and that magnitude.
void signed_absmax(const float* x, std::uint32_t n, float& amax, float& max) {
    amax = 0.f;
    max = 0.f;
    for (std::uint32_t j = 0; j < n; ++j)
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
}

void q_q4_0(const float* x, std::byte* b) {
    float amax, max;
    signed_absmax(x, kQK, amax, max);
    const float d = max / -8.f;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    put_fp16(b, d);
    for (std::uint32_t j = 0; j < kQK / 2; ++j) {
        const int q0 = std::min(15, trunc_int(x[j] * id + 8.5f));
        const int q1 = std::min(15, trunc_int(x[j + kQK / 2] * id + 8.5f));
        b[2 + j] = static_cast<std::byte>((q0 & 0x0F) | (q1 << 4));
    }
}

void q_q4_1(const float* x, std::byte* b) {
    float min = x[0], max = x[0];
    for (std::uint32_t j = 1; j < kQK; ++j) {
        min = std::min(min, x[j]);
        max = std::max(max, x[j]);
    }
    const float d = (max - min) / 15.f;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    put_fp16(b, d);
    put_fp16(b + 2, min);
    for (std::uint32_t j = 0; j < kQK / 2; ++j) {
        const int q0 = std::clamp(trunc_int((x[j] - min) * id + 0.5f), 0, 15);
        const int q1 = std::clamp(trunc_int((x[j + kQK / 2] - min) * id + 0.5f), 0, 15);
        b[4 + j] = static_cast<std::byte>(q0 | (q1 << 4));
    }
}

void q_q5_0(const float* x, std::byte* b) {
    float amax, max;
    signed_absmax(x, kQK, amax, max);
    const float d = max / -16.f;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    put_fp16(b, d);
    std::uint32_t qh = 0;
    for (std::uint32_t j = 0; j < kQK / 2; ++j) {
        const int q0 = std::clamp(trunc_int(x[j] * id + 16.5f), 0, 31);
        const int q1 = std::clamp(trunc_int(x[j + kQK / 2] * id + 16.5f), 0, 31);
        b[6 + j] = static_cast<std::byte>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
        qh |= static_cast<std::uint32_t>(q0 >> 4) << j;
        qh |= static_cast<std::uint32_t>(q1 >> 4) << (j + 16);
    }
    std::memcpy(b + 2, &qh, 4);
}

void q_q5_1(const float* x, std::byte* b) {
    float min = x[0], max = x[0];
    for (std::uint32_t j = 1; j < kQK; ++j) {
        min = std::min(min, x[j]);
        max = std::max(max, x[j]);
    }
    const float d = (max - min) / 31.f;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    put_fp16(b, d);
    put_fp16(b + 2, min);
    std::uint32_t qh = 0;
    for (std::uint32_t j = 0; j < kQK / 2; ++j) {
        const int q0 = std::clamp(trunc_int((x[j] - min) * id + 0.5f), 0, 31);
        const int q1 = std::clamp(trunc_int((x[j + kQK / 2] - min) * id + 0.5f), 0, 31);
        b[8 + j] = static_cast<std::byte>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
        qh |= static_cast<std::uint32_t>(q0 >> 4) << j;
        qh |= static_cast<std::uint32_t>(q1 >> 4) << (j + 16);
    }
    std::memcpy(b + 4, &qh, 4);
}

void q_q8_0(const float* x, std::byte* b) {
    float amax = 0.f;
    for (std::uint32_t j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    put_fp16(b, d);
    for (std::uint32_t j = 0; j < kQK; ++j) {
        const float r = std::round(x[j] * id);
        b[2 + j] = static_cast<std::byte>(static_cast<std::int8_t>(trunc_int(r)));
    }
}

// ---- K types ----

// The 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes: sub-blocks 0-3 keep
// theirs in the low 6 bits of bytes j and j + 4; sub-blocks 4-7 in the nibbles of byte j + 4,
// with their top two bits in the high bits of bytes j - 4 (scale) and j (min).
void scale_min_k4(int j, const std::byte* q, int& sc, int& m) {
    if (j < 4) {
        sc = u8(q + j) & 63;
        m = u8(q + j + 4) & 63;
    } else {
        sc = (u8(q + j + 4) & 0x0F) | ((u8(q + j - 4) >> 6) << 4);
        m = (u8(q + j + 4) >> 4) | ((u8(q + j) >> 6) << 4);
    }
}

void deq_q4_k(const std::byte* b, float* y) {
    const float d = fp16(b), dmin = fp16(b + 2);
    const std::byte* scales = b + 4;
    const std::byte* q = b + 16;
    for (int j = 0; j < 4; ++j) {  // 64 elements: two sub-blocks sharing 32 bytes of nibbles
        int sc, m;
        scale_min_k4(2 * j, scales, sc, m);
        const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
        scale_min_k4(2 * j + 1, scales, sc, m);
        const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
        for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(u8(q + l) & 0x0F) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(u8(q + l) >> 4) - m2;
        q += 32;
    }
}

void deq_q5_k(const std::byte* b, float* y) {
    const float d = fp16(b), dmin = fp16(b + 2);
    const std::byte* scales = b + 4;
    const std::byte* qh = b + 16;
    const std::byte* ql = b + 48;
    int u1 = 1, u2 = 2;
    for (int j = 0; j < 4; ++j) {
        int sc, m;
        scale_min_k4(2 * j, scales, sc, m);
        const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
        scale_min_k4(2 * j + 1, scales, sc, m);
        const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
        for (int l = 0; l < 32; ++l)
            *y++ = d1 * static_cast<float>((u8(ql + l) & 0x0F) + ((u8(qh + l) & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; ++l)
            *y++ = d2 * static_cast<float>((u8(ql + l) >> 4) + ((u8(qh + l) & u2) ? 16 : 0)) - m2;
        ql += 32;
        u1 <<= 2;
        u2 <<= 2;
    }
}

void deq_q6_k(const std::byte* b, float* y) {
    const std::byte* ql = b;
    const std::byte* qh = b + 128;
    const std::byte* sc = b + 192;
    const float d = fp16(b + 208);
    for (int n = 0; n < 2; ++n) {  // two halves of 128 elements
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int h = u8(qh + l);
            const int q1 = ((u8(ql + l) & 0x0F) | (((h >> 0) & 3) << 4)) - 32;
            const int q2 = ((u8(ql + l + 32) & 0x0F) | (((h >> 2) & 3) << 4)) - 32;
            const int q3 = ((u8(ql + l) >> 4) | (((h >> 4) & 3) << 4)) - 32;
            const int q4 = ((u8(ql + l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32;
            const auto s = [&](int k) { return static_cast<float>(static_cast<std::int8_t>(u8(sc + k))); };
            y[l + 0] = d * s(is + 0) * static_cast<float>(q1);
            y[l + 32] = d * s(is + 2) * static_cast<float>(q2);
            y[l + 64] = d * s(is + 4) * static_cast<float>(q3);
            y[l + 96] = d * s(is + 6) * static_cast<float>(q4);
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

// ggml's make_qkx2_quants: an asymmetric nmax-level quantisation of n values with a scale and
// a (non-positive) offset, chosen among nstep + 1 candidate scales by the weighted error.
// Returns the scale; *the_min receives minus the offset.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, float* the_min,
                       std::uint8_t* Laux, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = static_cast<float>(nmax) / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = static_cast<std::uint8_t>(std::clamp(l, 0, nmax));
        const float diff = scale * L[i] + min - x[i];
        best_error += weights[i] * diff * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = static_cast<std::uint8_t>(l);
            const float w = weights[i];
            sum_l += w * static_cast<float>(l);
            sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
            sum_xl += w * static_cast<float>(l) * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                const float diff = this_scale * Laux[i] + this_min - x[i];
                cur_error += weights[i] * diff * diff;
            }
            if (cur_error < best_error) {
                std::memcpy(L, Laux, static_cast<std::size_t>(n));
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// ggml's make_qx_quants with rmse_type 1 and no importance weights: a symmetric quantisation
// to [-nmax, nmax - 1] (stored plus nmax), the scale refined over 19 candidates by the
// x^2-weighted least-squares fit. Returns the scale.
float make_qx_quants(int n, int nmax, const float* x, std::int8_t* L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < 1e-15f) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = static_cast<float>(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = static_cast<std::int8_t>(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * static_cast<float>(l);
        suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    float scale = suml2 != 0.f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * static_cast<float>(l);
            suml2 += w * static_cast<float>(l) * static_cast<float>(l);
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i)
                L[i] = static_cast<std::int8_t>(nmax + std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Q4_K and Q5_K share their scale search and packing; nmax is 15 or 31.
void q_qk_asym(const float* x, std::byte* b, int nmax, std::uint8_t* L) {
    std::uint8_t Laux[32];
    float weights[32], mins[8], scales[8];
    float max_scale = 0, max_min = 0;
    const float rmin = nmax == 15 ? -1.f : -0.5f;
    const int nstep = nmax == 15 ? 20 : 15;
    for (int j = 0; j < 8; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        scales[j] = make_qkx2_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep);
        max_scale = std::max(max_scale, scales[j]);
        max_min = std::max(max_min, mins[j]);
    }
    std::byte* sc = b + 4;
    std::memset(sc, 0, 12);
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; ++j) {
        const int ls = std::min(63, static_cast<int>(static_cast<std::uint8_t>(nearest_int(inv_scale * scales[j]))));
        const int lm = std::min(63, static_cast<int>(static_cast<std::uint8_t>(nearest_int(inv_min * mins[j]))));
        if (j < 4) {
            sc[j] = static_cast<std::byte>(ls);
            sc[j + 4] = static_cast<std::byte>(lm);
        } else {
            sc[j + 4] = static_cast<std::byte>((ls & 0x0F) | ((lm & 0x0F) << 4));
            sc[j - 4] |= static_cast<std::byte>((ls >> 4) << 6);
            sc[j] |= static_cast<std::byte>((lm >> 4) << 6);
        }
    }
    put_fp16(b, max_scale / 63.f);
    put_fp16(b + 2, max_min / 63.f);
    const float d_all = fp16(b), dmin_all = fp16(b + 2);
    for (int j = 0; j < 8; ++j) {
        int s, m;
        scale_min_k4(j, sc, s, m);
        const float d = d_all * static_cast<float>(s);
        if (d == 0.f) continue;
        const float dm = dmin_all * static_cast<float>(m);
        for (int i = 0; i < 32; ++i)
            L[32 * j + i] = static_cast<std::uint8_t>(std::clamp(nearest_int((x[32 * j + i] + dm) / d), 0, nmax));
    }
}

void q_q4_k(const float* x, std::byte* b) {
    std::uint8_t L[kQKK];
    q_qk_asym(x, b, 15, L);
    std::byte* q = b + 16;
    for (int j = 0; j < 256; j += 64) {
        for (int l = 0; l < 32; ++l) q[l] = static_cast<std::byte>(L[j + l] | (L[j + l + 32] << 4));
        q += 32;
    }
}

void q_q5_k(const float* x, std::byte* b) {
    std::uint8_t L[kQKK];
    q_qk_asym(x, b, 31, L);
    std::byte* qh = b + 16;
    std::byte* ql = b + 48;
    std::memset(qh, 0, 32);
    int m1 = 1, m2 = 2;
    for (int n = 0; n < 256; n += 64) {
        for (int j = 0; j < 32; ++j) {
            int l1 = L[n + j];
            if (l1 > 15) {
                l1 -= 16;
                qh[j] |= static_cast<std::byte>(m1);
            }
            int l2 = L[n + j + 32];
            if (l2 > 15) {
                l2 -= 16;
                qh[j] |= static_cast<std::byte>(m2);
            }
            ql[j] = static_cast<std::byte>(l1 | (l2 << 4));
        }
        m1 <<= 2;
        m2 <<= 2;
        ql += 32;
    }
}

void q_q6_k(const float* x, std::byte* b) {
    std::int8_t L[kQKK];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
        scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
        if (std::fabs(scales[ib]) > max_abs_scale) {
            max_abs_scale = std::fabs(scales[ib]);
            max_scale = scales[ib];
        }
    }
    std::memset(b, 0, 210);
    if (max_abs_scale < 1e-15f) return;  // all zero: d = 0 and every quant 0
    const float iscale = -128.f / max_scale;
    put_fp16(b + 208, 1 / iscale);
    std::byte* sc = b + 192;
    for (int ib = 0; ib < 16; ++ib)
        sc[ib] = static_cast<std::byte>(static_cast<std::int8_t>(std::min(127, nearest_int(iscale * scales[ib]))));
    const float d_all = fp16(b + 208);
    for (int j = 0; j < 16; ++j) {
        const float d = d_all * static_cast<float>(static_cast<std::int8_t>(sc[j]));
        if (d == 0.f) continue;
        for (int i = 0; i < 16; ++i)
            L[16 * j + i] = static_cast<std::int8_t>(std::clamp(nearest_int(x[16 * j + i] / d), -32, 31) + 32);
    }
    std::byte* ql = b;
    std::byte* qh = b + 128;
    for (int j = 0; j < 256; j += 128) {
        for (int l = 0; l < 32; ++l) {
            const int a = L[j + l], c = L[j + l + 32], e = L[j + l + 64], g = L[j + l + 96];
            ql[l] = static_cast<std::byte>((a & 0x0F) | ((e & 0x0F) << 4));
            ql[l + 32] = static_cast<std::byte>((c & 0x0F) | ((g & 0x0F) << 4));
            qh[l] = static_cast<std::byte>((a >> 4) | ((c >> 4) << 2) | ((e >> 4) << 4) | ((g >> 4) << 6));
        }
        ql += 64;
        qh += 32;
    }
}

using DeqBlock = void (*)(const std::byte*, float*);
using QBlock = void (*)(const float*, std::byte*);

template <DeqBlock F>
void deq_blocks(const std::byte* src, std::size_t n, float* dst, std::uint32_t block, std::uint32_t bytes) {
    for (std::size_t i = 0; i < n / block; ++i) F(src + i * bytes, dst + i * block);
}
template <QBlock F>
void q_blocks(const float* src, std::size_t n, std::byte* dst, std::uint32_t block, std::uint32_t bytes) {
    for (std::size_t i = 0; i < n / block; ++i) F(src + i * block, dst + i * bytes);
}

}  // namespace

const GgmlTypeInfo* ggml_type_info(std::uint32_t type) {
    for (const auto& e : kTypeTable)
        if (e.id == type) return &e.info;
    return nullptr;
}

std::string ggml_type_name(std::uint32_t type) {
    if (const auto* info = ggml_type_info(type)) return info->name;
    const std::string other = other_type_name(type);
    return other.empty() ? "type " + std::to_string(type) : other;
}

std::optional<GgmlType> parse_ggml_type(std::string_view s) {
    std::string upper(s);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const auto& e : kTypeTable)
        if (upper == e.info.name) return static_cast<GgmlType>(e.id);
    return std::nullopt;
}

std::uint64_t ggml_bytes(GgmlType t, std::uint64_t n) {
    const auto* info = ggml_type_info(static_cast<std::uint32_t>(t));
    if (!info) throw std::invalid_argument("unknown ggml type " + std::to_string(static_cast<std::uint32_t>(t)));
    if (n % info->block != 0)
        throw std::invalid_argument(std::string(info->name) + ": " + std::to_string(n) +
                                    " elements are not a multiple of the block size " + std::to_string(info->block));
    return n / info->block * info->block_bytes;
}

void dequantize_row(GgmlType t, const std::byte* src, std::size_t n, float* dst) {
    check_n(t, n);
    const auto* info = ggml_type_info(static_cast<std::uint32_t>(t));
    const std::uint32_t blk = info->block, bb = info->block_bytes;
    switch (t) {
        case GgmlType::F32: std::memcpy(dst, src, n * 4); return;
        case GgmlType::F16: to_float32(DType::F16, src, n, dst); return;
        case GgmlType::BF16: to_float32(DType::BF16, src, n, dst); return;
        case GgmlType::Q4_0: deq_blocks<deq_q4_0>(src, n, dst, blk, bb); return;
        case GgmlType::Q4_1: deq_blocks<deq_q4_1>(src, n, dst, blk, bb); return;
        case GgmlType::Q5_0: deq_blocks<deq_q5_0>(src, n, dst, blk, bb); return;
        case GgmlType::Q5_1: deq_blocks<deq_q5_1>(src, n, dst, blk, bb); return;
        case GgmlType::Q8_0: deq_blocks<deq_q8_0>(src, n, dst, blk, bb); return;
        case GgmlType::Q4_K: deq_blocks<deq_q4_k>(src, n, dst, blk, bb); return;
        case GgmlType::Q5_K: deq_blocks<deq_q5_k>(src, n, dst, blk, bb); return;
        case GgmlType::Q6_K: deq_blocks<deq_q6_k>(src, n, dst, blk, bb); return;
        default: break;
    }
    throw std::invalid_argument(std::string("ggml type ") + info->name + " cannot be converted to float32");
}

void quantize_row(GgmlType t, const float* src, std::size_t n, std::byte* dst) {
    check_n(t, n);
    const auto* info = ggml_type_info(static_cast<std::uint32_t>(t));
    const std::uint32_t blk = info->block, bb = info->block_bytes;
    switch (t) {
        case GgmlType::F32: std::memcpy(dst, src, n * 4); return;
        case GgmlType::F16: from_float32(DType::F16, src, n, dst); return;
        case GgmlType::BF16: from_float32(DType::BF16, src, n, dst); return;
        case GgmlType::Q4_0: q_blocks<q_q4_0>(src, n, dst, blk, bb); return;
        case GgmlType::Q4_1: q_blocks<q_q4_1>(src, n, dst, blk, bb); return;
        case GgmlType::Q5_0: q_blocks<q_q5_0>(src, n, dst, blk, bb); return;
        case GgmlType::Q5_1: q_blocks<q_q5_1>(src, n, dst, blk, bb); return;
        case GgmlType::Q8_0: q_blocks<q_q8_0>(src, n, dst, blk, bb); return;
        case GgmlType::Q4_K: q_blocks<q_q4_k>(src, n, dst, blk, bb); return;
        case GgmlType::Q5_K: q_blocks<q_q5_k>(src, n, dst, blk, bb); return;
        case GgmlType::Q6_K: q_blocks<q_q6_k>(src, n, dst, blk, bb); return;
        default: break;
    }
    throw std::invalid_argument(std::string("ggml type ") + info->name + " cannot be written from float32");
}

}  // namespace tllm::io
