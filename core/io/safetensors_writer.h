#pragma once
// Writes safetensors files (layout documented in io/safetensors.h) atomically.

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "io/dtype.h"

namespace tllm::io {

/// One tensor to write. Either `data` holds exactly numel * dtype size bytes, or `fill` is
/// called once with a buffer of that size to produce them (streaming large tensors).
struct TensorToWrite {
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::uint64_t> shape;
    std::span<const std::byte> data;
    std::function<void(std::span<std::byte>)> fill;
};

/// Writes `tensors` in the given order to `path` (via a temporary file + rename).
/// The header is padded with spaces so the data section starts 8-byte aligned.
/// Throws std::invalid_argument for inconsistent sizes or duplicate names, and
/// std::runtime_error for I/O failures (no partial file is left behind).
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

/// Convenience: a float32 tensor converted to `dtype` on write.
TensorToWrite make_tensor(std::string name, DType dtype, std::vector<std::uint64_t> shape, std::vector<float> values);

}  // namespace tllm::io
