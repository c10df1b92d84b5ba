// libFuzzer harness: the safetensors header parser (io::SafetensorsFile).
//
// Each input is tried twice:
//   raw     the bytes are the whole file, length field included (exercises the length checks);
//   framed  the bytes up to the first NUL are the header JSON and the rest is the data
//           section; the harness writes the correct 8-byte length in front, so mutations
//           of the JSON reach the field checks instead of failing at the length field.
// Seeds in corpus/safetensors: real files (raw) and "JSON\0data" inputs (framed).
#include <algorithm>
#include <cstring>
#include <vector>

#include "fuzz_common.h"
#include "io/safetensors.h"

using namespace tllm;

namespace {

void exercise(const std::string& path) {
    fuzz::expect_clean(
        [&] {
            const io::SafetensorsFile f(path);
            const std::uint64_t data_size = f.file_size() - f.header_bytes().size();
            std::uint64_t prev_begin = 0;
            for (const auto& t : f.tensors()) {
                fuzz::require(t.begin <= t.end && t.end <= data_size,
                              "tensor '" + t.name + "' inside the data section");
                fuzz::require(t.begin >= prev_begin, "tensors sorted by offset");
                prev_begin = t.begin;
                fuzz::require(t.nbytes() == t.numel() * io::dtype_size(t.dtype), "tensor '" + t.name + "' size");
                fuzz::require(f.find(t.name) == &t, "find('" + t.name + "')");
                const auto bytes = f.raw(t);
                fuzz::require(bytes.size() == t.nbytes(), "raw size of '" + t.name + "'");
                // Touch the first and last byte: an offset outside the mapping faults here.
                if (!bytes.empty()) {
                    volatile std::byte sink = bytes.front();
                    sink = bytes.back();
                    (void)sink;
                }
                if (io::dtype_is_float(t.dtype) && t.numel() <= 4096) {
                    std::vector<float> out(t.numel());
                    f.read_f32(t, out.data());
                }
            }
        },
        path);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string raw_path = (fuzz::scratch_dir() / "raw.safetensors").string();
    static const std::string framed_path = (fuzz::scratch_dir() / "framed.safetensors").string();

    fuzz::write_file(raw_path, data, size);
    exercise(raw_path);

    const auto* nul = static_cast<const std::uint8_t*>(std::memchr(data, 0, size));
    const std::size_t header_len = nul ? static_cast<std::size_t>(nul - data) : size;
    const std::size_t data_len = nul ? size - header_len - 1 : 0;
    std::vector<std::uint8_t> framed(8 + header_len + data_len);
    const std::uint64_t n = header_len;
    std::memcpy(framed.data(), &n, 8);  // little-endian host (checked in io/dtype.cpp)
    if (header_len) std::memcpy(framed.data() + 8, data, header_len);
    if (data_len) std::memcpy(framed.data() + 8 + header_len, nul + 1, data_len);
    fuzz::write_file(framed_path, framed.data(), framed.size());
    exercise(framed_path);
    return 0;
}
