#pragma once
// What the engine reads a model's tensors through: a safetensors file (io/safetensors.h) or
// the tensors of a GGUF file as seen under their Hugging Face names (io/gguf_model.h).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "io/dtype.h"

namespace tllm::io {

/// One tensor as the engine sees it: a Hugging Face name, a row-major shape and a dtype.
struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::uint64_t> shape;
    std::uint64_t begin = 0;  ///< byte offset of the stored bytes, relative to the data section
    std::uint64_t end = 0;    ///< one past the last stored byte, relative to the data section
    std::uint64_t numel() const;
    std::uint64_t nbytes() const { return end - begin; }
};

/// A file holding tensors. Thread-safe for concurrent reads.
class TensorSource {
public:
    virtual ~TensorSource() = default;
    virtual const std::string& path() const = 0;
    virtual std::uint64_t file_size() const = 0;
    /// The bytes that identify the file's content layout (header, metadata, tensor table):
    /// what a results file's checkpoint fingerprint hashes.
    virtual std::span<const std::byte> header_bytes() const = 0;
    /// The tensor's stored bytes (a GGUF tensor's in its GGUF layout and type). Throws
    /// std::runtime_error if the file was truncated since it was opened.
    virtual std::span<const std::byte> raw(const TensorInfo& t) const = 0;
    /// Converts the whole tensor to float32 into `dst` (numel() floats).
    /// Throws std::runtime_error naming the file and tensor for a dtype that is not readable.
    virtual void read_f32(const TensorInfo& t, float* dst) const = 0;
    /// Converts `count` consecutive elements (row-major order) starting at element `first`.
    virtual void read_f32(const TensorInfo& t, std::uint64_t first, std::uint64_t count, float* dst) const = 0;
    /// Drops the mapped pages of `t` from the resident set once a caller has converted all of
    /// it (per tensor, not per row: a page refaulted by the next row would map its whole
    /// page-cache folio back).
    virtual void release(const TensorInfo& t) const noexcept = 0;
};

}  // namespace tllm::io
