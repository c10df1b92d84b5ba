// libFuzzer harness: the sharded-checkpoint index (io::Checkpoint on a directory holding a
// fuzzed model.safetensors.index.json).
//
// The directory is set up once with two valid shards, one shard with a broken header and a
// subdirectory, so fuzzed weight maps can name present, missing, broken and non-file
// shards. There is no config.json: only the index and the shards it names are read.
#include <algorithm>
#include <cstring>
#include <string>

#include "fuzz_common.h"
#include "io/checkpoint.h"

using namespace tllm;

namespace {

void write_shard(const std::filesystem::path& path, const std::string& header, std::size_t data_len) {
    std::string bytes(8, '\0');
    const std::uint64_t n = header.size();
    std::memcpy(bytes.data(), &n, 8);
    bytes += header;
    bytes.append(data_len, '\x01');
    fuzz::write_file(path.string(), bytes.data(), bytes.size());
}

const std::filesystem::path& checkpoint_dir() {
    static const std::filesystem::path dir = [] {
        const auto d = fuzz::scratch_dir() / "ckpt";
        std::filesystem::create_directories(d / "sub");
        write_shard(d / "model-00001-of-00002.safetensors",
                    R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                    R"("b":{"dtype":"BF16","shape":[2,2],"data_offsets":[8,16]}})",
                    16);
        write_shard(d / "model-00002-of-00002.safetensors",
                    R"({"__metadata__":{"format":"pt"},"c":{"dtype":"F16","shape":[],"data_offsets":[0,2]}})", 2);
        write_shard(d / "broken.safetensors", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", 4);
        return d;
    }();
    return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& dir = checkpoint_dir();
    static const std::string index = (dir / "model.safetensors.index.json").string();
    fuzz::write_file(index, data, size);
    // Errors name the index or the shard: both lie in `dir`.
    fuzz::expect_clean(
        [&] {
            const io::Checkpoint ck(dir.string());
            fuzz::require(ck.sharded(), "an index makes the checkpoint sharded");
            const auto& names = ck.tensor_names();
            fuzz::require(std::is_sorted(names.begin(), names.end()), "tensor names sorted");
            for (const auto& name : names) {
                const auto ref = ck.at(name);
                fuzz::require(ref.file && ref.info && ref.info->name == name, "ref of '" + name + "'");
            }
        },
        dir.string());
    return 0;
}
