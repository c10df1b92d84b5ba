#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tllm::io {
enum class GgmlType : std::uint32_t;
}

namespace tllm::cli {
// Each returns the process exit code; errors are thrown as exceptions and printed by main.
int cmd_info(const std::vector<std::string>& args);
int cmd_synth(const std::vector<std::string>& args);
int cmd_decompose(const std::vector<std::string>& args);
int cmd_show(const std::vector<std::string>& args);
int cmd_compare(const std::vector<std::string>& args);
int cmd_report(const std::vector<std::string>& args);
int cmd_bench(const std::vector<std::string>& args);
int cmd_evaluate(const std::vector<std::string>& args);
int cmd_sweep(const std::vector<std::string>& args);
int cmd_generate(const std::vector<std::string>& args);
int cmd_convert(const std::vector<std::string>& args);
/// A GGUF output type given with `option` ("f32", "q8_0", ...); throws std::invalid_argument.
io::GgmlType parse_gguf_type(const char* option, const std::string& value);
/// The model path from positional arguments or --demo (the bundled model in resources/).
std::string resolve_model_path(const std::vector<std::string>& positional, bool demo, const char* command);
/// The bundled default model directory (installed or in the source tree).
std::string bundled_model_dir();
}  // namespace tllm::cli
