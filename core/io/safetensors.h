#pragma once
// Reader for the safetensors format (memory-mapped, read-only, validated before use).
//
// Byte layout of a .safetensors file:
//   [0, 8)          N: header length, unsigned 64-bit little-endian
//   [8, 8 + N)      header: UTF-8 JSON object, optionally padded with trailing spaces
//                     { "__metadata__": { "key": "string", ... },          (optional)
//                       "<tensor name>": { "dtype": "F32" | "BF16" | ...,
//                                          "shape": [dim0, dim1, ...],   (may be [])
//                                          "data_offsets": [begin, end] }, ... }
//   [8 + N, EOF)    data section: each tensor's bytes at [begin, end) relative to the
//                   start of the data section, row-major (C order), little-endian.
//
// Validation (all of it before any tensor byte is touched): the header length is bounded
// by the file and by kMaxHeaderBytes; the JSON is well-formed, at most kMaxJsonDepth deep,
// and an object; every dtype is known; every shape entry is a non-negative integer and the
// shape product does not overflow; end - begin equals numel * dtype size; offsets lie inside
// the data section; no two tensors overlap.

#include <cstdint>
#include <map>
#include <span>
#include <string>

#include <nlohmann/json.hpp>
#include <unordered_map>
#include <vector>

#include "io/dtype.h"
#include "io/mapped_file.h"
#include "io/tensor_source.h"

namespace tllm::io {

/// Largest header accepted (the format's own reference implementation uses 100 MB).
inline constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;
/// Deepest JSON nesting accepted in any header, index or config file.
inline constexpr int kMaxJsonDepth = 64;

/// A validated, memory-mapped safetensors file. Thread-safe for concurrent reads.
class SafetensorsFile final : public TensorSource {
public:
    /// Maps and validates `path`. Throws std::runtime_error naming the file, the tensor and
    /// the field on any malformed header (see the layout above).
    explicit SafetensorsFile(const std::string& path);

    const std::string& path() const override { return file_.path(); }
    std::uint64_t file_size() const override { return file_.size(); }
    /// Tensors in the order of their data offsets.
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    /// The tensor called `name`, or nullptr.
    const TensorInfo* find(const std::string& name) const;
    /// `__metadata__` entries (empty when absent).
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    /// The raw header bytes [0, 8 + N), e.g. to fingerprint the file.
    std::span<const std::byte> header_bytes() const override { return file_.bytes().first(data_start_); }
    /// Non-fatal findings (gaps in the data section, trailing bytes).
    const std::vector<std::string>& warnings() const { return warnings_; }

    /// The tensor's raw bytes. Throws if the file was truncated since it was opened.
    std::span<const std::byte> raw(const TensorInfo& t) const override;
    /// TensorSource: float dtypes convert; others throw std::runtime_error.
    void release(const TensorInfo& t) const noexcept override;
    void read_f32(const TensorInfo& t, float* dst) const override;
    void read_f32(const TensorInfo& t, std::uint64_t first, std::uint64_t count, float* dst) const override;

private:
    MappedFile file_;
    std::uint64_t data_start_ = 0;
    std::vector<TensorInfo> tensors_;
    std::unordered_map<std::string, std::size_t> index_;
    std::map<std::string, std::string> metadata_;
    std::vector<std::string> warnings_;
};

/// Throws std::runtime_error("<what>: JSON nested deeper than ...") when `text` nests
/// objects/arrays deeper than `max_depth`. Cheap pre-check before a recursive parser.
void check_json_depth(std::string_view text, int max_depth, const std::string& what);

/// Parses JSON `text`, refusing (std::runtime_error naming `what` and the key) an object that
/// holds the same key twice: a header or config with a duplicate entry is ambiguous (which one
/// would a reader take?), not something to resolve silently. Also throws on malformed JSON.
nlohmann::json parse_json_unique(std::string_view text, const std::string& what,
                                 const char* invalid = ": not valid JSON: ");

}  // namespace tllm::io
