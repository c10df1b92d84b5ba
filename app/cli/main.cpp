// tensorllm: the headless command-line face of TensorLLM Studio.
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"

namespace {
void usage(std::FILE* out) {
    std::fprintf(out,
                 "tensorllm %s: shared-factor Tucker decomposition of transformer attention (TensorLLM)\n"
                 "\n"
                 "usage: tensorllm COMMAND [options]\n"
                 "\n"
                 "commands:\n"
                 "  info MODEL        architecture, layers, heads and attention tensors of a checkpoint\n"
                 "  synth DIR         write a synthetic checkpoint in any supported layout\n"
                 "\n"
                 "Run 'tensorllm COMMAND --help' for a command's options.\n",
                 TENSORLLM_VERSION);
}
}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        usage(args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version") {
        std::printf("tensorllm %s\n", TENSORLLM_VERSION);
        return 0;
    }
    const std::string cmd = args[0];
    args.erase(args.begin());
    try {
        if (cmd == "info") return tllm::cli::cmd_info(args);
        if (cmd == "synth") return tllm::cli::cmd_synth(args);
        if (cmd == "decompose") return tllm::cli::cmd_decompose(args);
        std::fprintf(stderr, "tensorllm: unknown command '%s' (see tensorllm --help)\n", cmd.c_str());
        return 2;
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "tensorllm %s: %s\n", cmd.c_str(), e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tensorllm %s: %s\n", cmd.c_str(), e.what());
        return 1;
    }
}
