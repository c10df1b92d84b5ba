// tensorllm: the headless command-line face of TensorLLM Studio.
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"
#include "util/allocator.h"

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
                 "  decompose MODEL   Tucker-decompose attention layers; write tables, HDF5 results and\n"
                 "                    denoised or factorised checkpoints\n"
                 "  show FILE.h5      print the results stored in an HDF5 results file (no recomputation)\n"
                 "  compare A B       two results side by side: per-layer and per-head errors, ratios, spectra,\n"
                 "                    evaluation sweeps, and their differences (tables and figures)\n"
                 "  report MODEL      the GUI's figures (PNG, SVG, PDF), their CSV and an index.html, headless\n"
                 "  bench             the standard benchmark set against this machine's measured limits\n"
                 "  evaluate MODEL    perplexity, multiple-choice or last-word accuracy of the model (CPU)\n"
                 "  generate MODEL    greedy continuation of a prompt\n"
                 "  convert MODEL     write a safetensors model as a GGUF file (f32, f16, q8_0, q4_k, ...)\n"
                 "  sweep MODEL       edit layers one at a time (rank choices, LASER) and measure each edit's\n"
                 "                    loss, KL divergence, top-1 agreement and accuracy against the unedited model\n"
                 "\n"
                 "Run 'tensorllm COMMAND --help' for a command's options.\n",
                 TENSORLLM_VERSION);
}
}  // namespace

int main(int argc, char** argv) {
    tllm::util::configure_allocator();
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
        if (cmd == "show") return tllm::cli::cmd_show(args);
        if (cmd == "compare") return tllm::cli::cmd_compare(args);
#ifdef TENSORLLM_HAVE_REPORT
        if (cmd == "report") return tllm::cli::cmd_report(args);
#else
        if (cmd == "report")
            throw std::runtime_error("this build has no GUI library (TENSORLLM_BUILD_GUI=OFF): report is unavailable");
#endif
        if (cmd == "bench") return tllm::cli::cmd_bench(args);
        if (cmd == "evaluate") return tllm::cli::cmd_evaluate(args);
        if (cmd == "sweep") return tllm::cli::cmd_sweep(args);
        if (cmd == "generate") return tllm::cli::cmd_generate(args);
        if (cmd == "convert") return tllm::cli::cmd_convert(args);
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
