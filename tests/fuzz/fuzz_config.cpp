// libFuzzer harness: config.json (io::read_model_config: read_json_file's size and depth
// checks, then parse_model_config and ModelConfig::validate).
#include "fuzz_common.h"
#include "io/model_config.h"

using namespace tllm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string path = (fuzz::scratch_dir() / "config.json").string();
    fuzz::write_file(path, data, size);
    fuzz::expect_clean(
        [&] {
            const io::ModelConfig c = io::read_model_config(path);
            // What a successful parse promises to the tensorisation code.
            fuzz::require(c.hidden_size > 0 && c.num_heads > 0 && c.num_kv_heads > 0 && c.head_dim > 0,
                          "positive sizes");
            fuzz::require(c.num_heads % c.num_kv_heads == 0, "heads divisible by kv heads");
            fuzz::require(c.head_dim_explicit || c.hidden_size % c.num_heads == 0, "hidden divisible by heads");
            fuzz::require(c.num_layers >= 0, "non-negative layer count");
            fuzz::require(c.path == path, "config remembers its path");
        },
        path);
    return 0;
}
