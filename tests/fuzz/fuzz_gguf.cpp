// libFuzzer harness: the GGUF reader (io::GgufFile), then every tensor the reader can
// dequantise (io::GgufFile::read_f32, up to 1 Mi elements each) and the typed metadata
// getters on every key. Seeds in corpus/gguf: small valid files of several tensor types.
#include <vector>

#include "fuzz_common.h"
#include "io/gguf.h"

using namespace tllm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string path = (fuzz::scratch_dir() / "input.gguf").string();
    fuzz::write_file(path, data, size);
    fuzz::expect_clean(
        [&] {
            const io::GgufFile f(path);
            const std::uint64_t data_size = f.file_size() - f.data_offset();
            fuzz::require(f.data_offset() <= f.file_size(), "data section inside the file");
            for (const auto& t : f.tensors()) {
                fuzz::require(t.offset % f.alignment() == 0, "tensor " + t.name + " aligned");
                fuzz::require(t.offset <= data_size && t.bytes <= data_size - t.offset,
                              "tensor " + t.name + " inside the data section");
                fuzz::require(t.bytes == io::ggml_bytes(t.type, t.numel()), "tensor " + t.name + " size");
                fuzz::require(f.find(t.name) == &t, "find(" + t.name + ")");
                const auto* info = io::ggml_type_info(static_cast<std::uint32_t>(t.type));
                fuzz::require(info != nullptr, "tensor " + t.name + " of a known type");
                if (info->dequantizable && t.numel() <= (1u << 20)) {
                    std::vector<float> out(t.numel());
                    f.read_f32(t, out.data());
                }
            }
            for (const auto& kv : f.metadata()) {
                fuzz::require(f.find_kv(kv.key) == &kv, "find_kv(" + kv.key + ")");
                fuzz::require(kv.begin < kv.end && kv.end <= f.data_offset(), "metadata pair inside the header");
                (void)kv.value.dump();  // every string is valid UTF-8 after decoding
                // Each getter either answers or throws std::runtime_error naming the file.
                const auto try_get = [&](auto&& get) {
                    try {
                        (void)get();
                    } catch (const std::runtime_error& e) {
                        if (std::string_view(e.what()).find(path) == std::string_view::npos)
                            fuzz::finding(std::string("getter error does not name the file: ") + e.what());
                    }
                };
                try_get([&] { return f.get_int(kv.key); });
                try_get([&] { return f.get_float(kv.key); });
                try_get([&] { return f.get_bool(kv.key); });
                try_get([&] { return f.get_string(kv.key); });
                try_get([&] { return f.get_array(kv.key); });
            }
        },
        path);
    return 0;
}
