#pragma once
// Element types of safetensors files and their conversion to and from float32.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tllm::io {

/// Every dtype the safetensors format defines, then the block-quantised types of GGUF files.
/// The floating types F64, F32, F16 and BF16 convert to float32 element by element; the GGUF
/// block types (Q8_0 ... Q6_K) are read as float32 through their GGUF file (io/gguf.h); the
/// others are carried (copied byte for byte) but not read.
enum class DType {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
    BOOL,
    F8_E4M3,
    F8_E5M2,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q4_K,
    Q5_K,
    Q6_K,
};

/// Parses a safetensors dtype string ("F32", "BF16", ...); nullopt when unknown (the GGUF
/// block types are not safetensors dtypes and are not parsed).
std::optional<DType> parse_dtype(std::string_view s);
/// The safetensors spelling of a dtype.
std::string_view dtype_name(DType t);
/// Bytes per element. Throws std::invalid_argument for a block type (dtype_is_block), whose
/// elements have no size of their own.
std::size_t dtype_size(DType t);
/// True for F64, F32, F16 and BF16: the types read as float32 element by element.
bool dtype_is_float(DType t);
/// True for the GGUF block-quantised types.
bool dtype_is_block(DType t);
/// True for the types a model's weights may have: the float and the block types.
bool dtype_is_readable(DType t);
/// The dtype in which a rewritten tensor of source dtype `t` is held: `t` for a float type,
/// F32 for a block type (a reconstruction is not re-quantised in memory).
DType dtype_for_rewrite(DType t);

/// IEEE binary16 bits -> float (exact).
float half_to_float(std::uint16_t h);
/// float -> IEEE binary16 bits, rounded to nearest even; overflow gives infinity.
std::uint16_t float_to_half(float f);
/// bfloat16 bits -> float (exact).
float bf16_to_float(std::uint16_t b);
/// float -> bfloat16 bits, rounded to nearest even; NaN stays a (quiet) NaN.
std::uint16_t float_to_bf16(float f);

/// Converts `count` little-endian elements of float dtype `t` at `src` to float32.
/// Precondition: dtype_is_float(t). `src` need not be aligned.
void to_float32(DType t, const std::byte* src, std::size_t count, float* dst);
/// Converts `count` float32 values to dtype `t` (F64, F32, F16 or BF16) at `dst`.
void from_float32(DType t, const float* src, std::size_t count, std::byte* dst);

}  // namespace tllm::io
