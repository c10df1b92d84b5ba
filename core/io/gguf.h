#pragma once
// Reader and writer for GGUF (llama.cpp's model format), versions 2 and 3: memory-mapped,
// read-only, validated before any tensor byte is used.
//
// Byte layout (all integers little-endian):
//   u32 magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count times:     string key | u32 value_type | value
//   tensor_count times: string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset
//   padding to `general.alignment` (default 32), then the data section; every tensor's
//   offset is relative to the data section and a multiple of the alignment.
//   string = u64 length + bytes (no terminator); array = u32 element type + u64 count +
//   elements. ne[0] is the contiguous dimension (the reverse of a row-major shape).
//
// Validation, all before any tensor data is touched: magic, version 2 or 3, counts and
// string/array lengths bounded by the bytes left in the file (and by kGgufMax* limits),
// known value types, arrays of arrays refused, general.alignment a power of two, every
// tensor of a known ggml type with ne[0] a multiple of the type's block size, its byte size
// (from ne and the type) not overflowing, its offset aligned and [offset, offset + bytes)
// inside the data section, no two tensors overlapping, names unique.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/mapped_file.h"
#include "io/output_guard.h"

namespace tllm::io {

/// ggml tensor types (ggml.h numbering; gaps are types ggml removed).
enum class GgmlType : std::uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    BF16 = 30,
};

/// Block geometry of a ggml type: `block` elements are stored in `block_bytes` bytes.
struct GgmlTypeInfo {
    const char* name = "";    ///< ggml's spelling: "F32", "Q4_K", ...
    std::uint32_t block = 1;  ///< elements per block
    std::uint32_t block_bytes = 0;
    bool dequantizable = false;  ///< read_f32 supports it (F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K)
    bool quantizable = false;    ///< quantize_row supports it (the same set)
};

/// The type's geometry, or nullptr for a number ggml does not define (or one this reader
/// does not know: the IQ types).
const GgmlTypeInfo* ggml_type_info(std::uint32_t type);
/// ggml_type_info(t)->name, or "type N".
std::string ggml_type_name(std::uint32_t type);
/// Parses "f32", "F16", "q8_0", "Q4_K", ... (case-insensitive); nullopt when unknown.
std::optional<GgmlType> parse_ggml_type(std::string_view s);
/// Bytes of `n` elements of type `t`; throws std::invalid_argument when n is not a multiple
/// of the block size.
std::uint64_t ggml_bytes(GgmlType t, std::uint64_t n);

/// Converts `n` elements (a multiple of the block size) of type `t` at `src` to float32,
/// exactly as ggml's dequantize_row_* functions do. Throws std::invalid_argument for a type
/// that is not dequantizable.
void dequantize_row(GgmlType t, const std::byte* src, std::size_t n, float* dst);
/// Encodes `n` floats (a multiple of the block size) as type `t` at `dst`
/// (ggml_bytes(t, n) bytes), as ggml's reference quantize_row_*_ref functions do.
void quantize_row(GgmlType t, const float* src, std::size_t n, std::byte* dst);

/// GGUF metadata value types.
enum class GgufValueType : std::uint32_t {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
};
/// "u32", "string", "array[string]", ... for messages.
std::string gguf_value_type_name(GgufValueType t);

/// One metadata key/value pair.
struct GgufKV {
    std::string key;
    GgufValueType type = GgufValueType::U8;
    GgufValueType element_type = GgufValueType::U8;  ///< for arrays
    std::uint64_t count = 1;                         ///< array length (1 for scalars)
    /// The pair's bytes in the file, from the key's length field to the end of the value:
    /// a writer copies [begin, end) to carry the pair byte for byte.
    std::uint64_t begin = 0, end = 0;
    /// The decoded value: number, bool, string, or an array of those.
    nlohmann::json value;
};

/// One tensor's entry in a GGUF file.
struct GgufTensorInfo {
    std::string name;
    std::vector<std::uint64_t> ne;  ///< ne[0] contiguous (row length); GGUF order
    GgmlType type = GgmlType::F32;
    std::uint64_t offset = 0;  ///< relative to the data section
    std::uint64_t bytes = 0;   ///< ggml_bytes(type, numel())
    std::uint64_t numel() const;
    /// Elements per row: ne[0] (1 for a 0-dimensional tensor).
    std::uint64_t row_length() const { return ne.empty() ? 1 : ne[0]; }
    std::uint64_t rows() const { return row_length() == 0 ? 0 : numel() / row_length(); }
    /// The row-major shape (ne reversed): what a safetensors file of the same tensor holds.
    std::vector<std::uint64_t> shape() const;
};

/// Largest counts and lengths accepted before they are checked against the file size.
inline constexpr std::uint64_t kGgufMaxStringBytes = 1ull << 30;
inline constexpr std::uint64_t kGgufMaxTensors = 1ull << 24;
inline constexpr std::uint32_t kGgufMaxDims = 4;

/// A validated, memory-mapped GGUF file. Thread-safe for concurrent reads.
class GgufFile {
public:
    /// Maps and validates `path`. Throws std::runtime_error naming the file, the field (the
    /// key, or the tensor and its field) and the offending value.
    explicit GgufFile(const std::string& path);

    const std::string& path() const { return file_.path(); }
    std::uint64_t file_size() const { return file_.size(); }
    std::uint32_t version() const { return version_; }
    std::uint64_t alignment() const { return alignment_; }
    /// Absolute offset of the data section.
    std::uint64_t data_offset() const { return data_offset_; }

    /// Metadata in file order.
    const std::vector<GgufKV>& metadata() const { return kvs_; }
    const GgufKV* find_kv(const std::string& key) const;
    /// Typed lookups: nullopt when the key is absent; std::runtime_error naming the file, the
    /// key and both types when present with another type (any integer type is accepted by
    /// get_int, any float or integer type by get_float).
    std::optional<std::int64_t> get_int(const std::string& key) const;
    std::optional<double> get_float(const std::string& key) const;
    std::optional<bool> get_bool(const std::string& key) const;
    std::optional<std::string> get_string(const std::string& key) const;
    /// Array value (the decoded json array); nullopt when absent; throws when not an array.
    const nlohmann::json* get_array(const std::string& key) const;

    /// Tensors in file order.
    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find(const std::string& name) const;

    /// The bytes [0, data_offset()): header, metadata and tensor infos (a fingerprint).
    std::span<const std::byte> header_bytes() const { return file_.bytes().first(data_offset_); }
    /// The raw bytes of `t`. Throws if the file was truncated since it was opened.
    std::span<const std::byte> raw(const GgufTensorInfo& t) const;
    /// Converts rows [row, row + count) of `t` (row_length() elements each) to float32, in
    /// parallel over rows for large reads (oneTBB; the result does not depend on the threads).
    /// Throws std::runtime_error naming the tensor and type when the type is not dequantizable.
    void read_rows_f32(const GgufTensorInfo& t, std::uint64_t row, std::uint64_t count, float* dst) const;
    /// The whole tensor as float32 (numel() floats).
    void read_f32(const GgufTensorInfo& t, float* dst) const;
    /// Drops the tensor's mapped pages from the resident set (MappedFile::drop_pages).
    void release(const GgufTensorInfo& t) const noexcept;
    /// Non-fatal findings (gaps between tensors, trailing bytes).
    const std::vector<std::string>& warnings() const { return warnings_; }

private:
    MappedFile file_;
    std::uint32_t version_ = 0;
    std::uint64_t alignment_ = 32;
    std::uint64_t data_offset_ = 0;
    std::vector<GgufKV> kvs_;
    std::unordered_map<std::string, std::size_t> kv_index_;
    std::vector<GgufTensorInfo> tensors_;
    std::unordered_map<std::string, std::size_t> index_;
    std::vector<std::string> warnings_;
};

/// Builds and writes a GGUF version 3 file. Metadata is written in the order added; tensors
/// in the order added, each at the next multiple of the alignment.
class GgufWriter {
public:
    /// Appends a pair copied byte for byte from `source` (GgufKV::begin/end of a file read by
    /// GgufFile): key, type and value are carried exactly.
    void add_raw_kv(const GgufFile& source, const GgufKV& kv);
    void add_string(const std::string& key, const std::string& value);
    void add_u32(const std::string& key, std::uint32_t value);
    void add_i32(const std::string& key, std::int32_t value);
    void add_u64(const std::string& key, std::uint64_t value);
    void add_f32(const std::string& key, float value);
    void add_bool(const std::string& key, bool value);
    void add_string_array(const std::string& key, const std::vector<std::string>& values);
    void add_f32_array(const std::string& key, const std::vector<float>& values);
    void add_i32_array(const std::string& key, const std::vector<std::int32_t>& values);
    /// general.alignment to use (must be a power of two); the pair itself is written only
    /// when added with add_u32 or add_raw_kv, as in any other metadata.
    void set_alignment(std::uint64_t alignment);

    /// Fills `dst` (exactly the tensor's bytes) when the file is written.
    using Fill = std::function<void(std::span<std::byte> dst)>;
    /// A tensor of `type` and GGUF shape `ne` (ne[0] contiguous) whose bytes `fill` writes.
    /// Throws std::invalid_argument on a duplicate name or ne[0] not a multiple of the block.
    void add_tensor(const std::string& name, GgmlType type, std::vector<std::uint64_t> ne, Fill fill);
    /// A tensor copied byte for byte from `source` (same name unless `name` is given).
    /// `source` and `t` must outlive write().
    void add_tensor_copy(const GgufFile& source, const GgufTensorInfo& t, const std::string& name = {});

    /// Size in bytes of the file write() produces (for a free-space check before writing).
    std::uint64_t file_size() const;

    /// Writes the file atomically (a temporary file in the same directory, renamed over
    /// `path` only when complete). Fill functions run in tensor order, once each. Every
    /// tensor's data, the last one's included, is followed by zero padding to the alignment,
    /// as ggml writes it. The caller guards `path` (io::check_output_file, io::OutputLock).
    void write(const std::string& path) const;
    /// The same after refusing (io::UnsafeOutput) a `path` that is or would shadow one of
    /// `sources` (io::check_output_file with option "GGUF output"), holding io::OutputLock
    /// on `path` while writing.
    void write(const std::string& path, const SourceSet& sources) const;

private:
    void begin_kv(const std::string& key, GgufValueType type);
    struct Tensor {
        std::string name;
        GgmlType type;
        std::vector<std::uint64_t> ne;
        std::uint64_t bytes;
        Fill fill;
    };
    std::vector<std::byte> kv_bytes_;
    std::uint64_t kv_count_ = 0;
    std::unordered_set<std::string> keys_;
    std::uint64_t alignment_ = 32;
    std::vector<Tensor> tensors_;
    std::unordered_map<std::string, std::size_t> names_;
};

}  // namespace tllm::io
