// tensorllm convert: a safetensors model as a GGUF file (docs/gguf.md).
#include <cstdio>
#include <string>

#include "args.h"
#include "commands.h"
#include "io/gguf.h"
#include "model/model.h"
#include "util/layer_list.h"
#include "util/resources.h"
#include "writeback/gguf_export.h"

namespace tllm::cli {

io::GgmlType parse_gguf_type(const char* option, const std::string& value) {
    const auto t = io::parse_ggml_type(value);
    const auto* info = t ? io::ggml_type_info(std::uint32_t(*t)) : nullptr;
    if (!info || !info->quantizable)
        throw std::invalid_argument(std::string(option) + ": '" + value +
                                    "' is not a type GGUF output supports (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, "
                                    "q5_1, q4_k, q5_k, q6_k)");
    return *t;
}

int cmd_convert(const std::vector<std::string>& argv) {
    Args args(argv, {"help", "demo"}, {"gguf", "type"});
    if (args.flag("help")) {
        std::fputs(
            "usage: tensorllm convert MODEL|--demo --gguf OUT.gguf [--type f32]\n"
            "\n"
            "Writes a safetensors model (llama, mistral, qwen2 or gpt2 family) as one GGUF file that\n"
            "llama.cpp and the studio open: llama.cpp's metadata keys and tensor names, Q and K rows in\n"
            "llama.cpp's rotary order (llama), GPT-2's Conv1D weights as linear ones, and the\n"
            "tokenizer's vocabulary (tokenizer.model or vocab.json + merges.txt).\n"
            "\n"
            "  --type TYPE   f32 (default), f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k:\n"
            "                the type of every matrix; norms and biases stay f32, and a matrix whose\n"
            "                rows do not fill the type's blocks falls back as llama.cpp does\n"
            "                (q4_k -> q5_0, q5_k -> q5_1, q6_k -> q8_0, then f16)\n"
            "\n"
            "The file is written beside OUT.gguf under a temporary name and renamed when complete; OUT\n"
            "may not be a file of the model or lie in the model's directory.\n",
            stdout);
        return 0;
    }
    const std::string path = resolve_model_path(args.positional(), args.flag("demo"), "convert");
    const auto out = args.value("gguf");
    if (!out) throw std::invalid_argument("give the output: --gguf OUT.gguf");
    exporting::GgufConvertOptions opt;
    if (const auto t = args.value("type")) opt.type = parse_gguf_type("--type", *t);
    const model::Model m(path);
    const auto rep = exporting::convert_to_gguf(*out, m, opt);
    for (const auto& w : rep.warnings) std::fprintf(stderr, "tensorllm convert: %s\n", w.c_str());
    std::string types;
    for (const auto& [t, n] : rep.types) types += (types.empty() ? "" : ", ") + std::to_string(n) + " " + t;
    std::printf("wrote %s (%s; tensors: %s)\n", out->c_str(), util::format_bytes(rep.bytes).c_str(), types.c_str());
    return 0;
}

}  // namespace tllm::cli
