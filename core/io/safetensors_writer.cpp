#include "io/safetensors_writer.h"

#include <memory>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"

namespace tllm::io {

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    std::set<std::string> names;
    for (const auto& t : tensors) {
        if (!names.insert(t.name).second)
            throw std::invalid_argument(path + ": duplicate tensor name '" + t.name + "'");
        std::uint64_t n = 1;
        for (auto d : t.shape) n *= d;
        const std::uint64_t nbytes = n * dtype_size(t.dtype);
        if (!t.fill && t.data.size() != nbytes)
            throw std::invalid_argument(path + ": tensor '" + t.name + "' has " + std::to_string(t.data.size()) +
                                        " bytes, shape needs " + std::to_string(nbytes));
        header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                          {"shape", t.shape},
                          {"data_offsets", {offset, offset + nbytes}}};
        offset += nbytes;
    }
    std::string text = header.dump();
    while ((8 + text.size()) % 8 != 0) text.push_back(' ');

    AtomicFile out(path);
    const std::uint64_t n = text.size();
    out.write(&n, 8);
    out.write(text.data(), text.size());
    std::vector<std::byte> buf;
    for (const auto& t : tensors) {
        if (!t.fill) {
            out.write(t.data);
            continue;
        }
        std::uint64_t numel = 1;
        for (auto d : t.shape) numel *= d;
        buf.resize(numel * dtype_size(t.dtype));
        t.fill(buf);
        out.write(buf);
    }
    out.commit();
}

TensorToWrite make_tensor(std::string name, DType dtype, std::vector<std::uint64_t> shape, std::vector<float> values) {
    TensorToWrite t;
    t.name = std::move(name);
    t.dtype = dtype;
    t.shape = std::move(shape);
    auto vals = std::make_shared<std::vector<float>>(std::move(values));
    t.fill = [vals, dtype](std::span<std::byte> dst) {
        if (dst.size() != vals->size() * dtype_size(dtype))
            throw std::invalid_argument("make_tensor: value count does not match the shape");
        from_float32(dtype, vals->data(), vals->size(), dst.data());
    };
    return t;
}

}  // namespace tllm::io
