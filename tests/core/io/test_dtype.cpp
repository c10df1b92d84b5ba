#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

#include "io/dtype.h"

using namespace tllm::io;

TEST(DType, ParseAndSizes) {
    EXPECT_EQ(parse_dtype("BF16"), DType::BF16);
    EXPECT_EQ(parse_dtype("F8_E4M3"), DType::F8_E4M3);
    EXPECT_FALSE(parse_dtype("F24").has_value());
    EXPECT_EQ(dtype_size(DType::F64), 8u);
    EXPECT_EQ(dtype_size(DType::BF16), 2u);
    EXPECT_TRUE(dtype_is_float(DType::F16));
    EXPECT_FALSE(dtype_is_float(DType::I32));
}

TEST(DType, Bf16ClosedForms) {
    EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
    EXPECT_EQ(bf16_to_float(0x3F80), 1.0f);
    // 1 + 2^-8 lies exactly halfway between 1 and 1 + 2^-7: ties to even -> 1.
    EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
    // 1 + 3*2^-8 is halfway between 1+2^-7 (odd) and 1+2^-6 (even) -> rounds up to even.
    EXPECT_EQ(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
    // Just above the half-way point rounds up.
    EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3F81);
    EXPECT_EQ(float_to_bf16(-2.0f), 0xC000);
    EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
    EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7F80);
    // Every bf16 value survives a round trip exactly.
    for (std::uint32_t b = 0; b < 0x10000; ++b) {
        const float f = bf16_to_float(static_cast<std::uint16_t>(b));
        if (std::isnan(f)) continue;
        ASSERT_EQ(float_to_bf16(f), b) << b;
    }
}

TEST(DType, HalfClosedForms) {
    EXPECT_EQ(float_to_half(1.0f), 0x3C00);
    EXPECT_EQ(half_to_float(0x3C00), 1.0f);
    EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
    EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
    EXPECT_EQ(float_to_half(65504.0f), 0x7BFF);
    EXPECT_EQ(float_to_half(65520.0f), 0x7C00);  // halfway to 2^16 rounds to even -> inf
    EXPECT_EQ(float_to_half(65519.0f), 0x7BFF);
    EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);         // tie to even (0)
    EXPECT_EQ(float_to_half(3 * std::ldexp(1.0f, -25)), 0x0002);     // 1.5 ulp -> 2 (even)
    EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie to even
    EXPECT_EQ(float_to_half(-0.0f), 0x8000);
    for (std::uint32_t h = 0; h < 0x10000; ++h) {
        const float f = half_to_float(static_cast<std::uint16_t>(h));
        if (std::isnan(f)) continue;
        ASSERT_EQ(float_to_half(f), h) << h;
    }
}

TEST(DType, BulkConversions) {
    const float vals[4] = {1.5f, -2.25f, 0.0f, 1024.0f};
    for (DType t : {DType::F32, DType::F64, DType::F16, DType::BF16}) {
        std::vector<std::byte> buf(4 * dtype_size(t));
        from_float32(t, vals, 4, buf.data());
        float back[4];
        to_float32(t, buf.data(), 4, back);
        for (int i = 0; i < 4; ++i) EXPECT_EQ(back[i], vals[i]) << dtype_name(t);
    }
    EXPECT_THROW(to_float32(DType::I32, nullptr, 0, nullptr), std::invalid_argument);
}
