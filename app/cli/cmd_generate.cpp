// tensorllm generate: greedy continuation of a prompt with the key/value cache.
#include <cstdio>
#include <memory>
#include <string>

#include "args.h"
#include "commands.h"
#include "eval/evaluate.h"
#include "eval/forward.h"
#include "eval/tokenizer.h"
#include "job_cli.h"
#include "model/model.h"

namespace tllm::cli {

int cmd_generate(const std::vector<std::string>& argv) {
    std::vector<std::string> a = argv;
    for (auto& s : a)
        if (s == "-n") s = "--n";
    Args args(a, {"help", "demo", "no-stop"}, {"prompt", "n", "threads"});
    if (args.flag("help")) {
        std::fputs(
            "usage: tensorllm generate MODEL|--demo --prompt TEXT [-n N] [--no-stop] [--threads N]\n"
            "\n"
            "Prints the prompt and N (default 64) tokens generated greedily after it (argmax, lowest\n"
            "id on ties), computed with a key/value cache; stops early at the end-of-text token\n"
            "(unless --no-stop) or at the model's last position. The tokenizer's BOS rule applies.\n"
            "Ctrl-C stops the generation (exit 130). Exit status: 0 done, 1 error, 2 usage error.\n",
            stdout);
        return 0;
    }
    const std::string path = resolve_model_path(args.positional(), args.flag("demo"), "generate");
    const auto prompt = args.value("prompt");
    if (!prompt) throw std::invalid_argument("--prompt TEXT is required");
    const int n = args.int_value("n", 64);
    if (n < 0) throw std::invalid_argument("-n: must not be negative");
    eval::ForwardOptions fopt;
    fopt.threads = args.int_value("threads", 0);
    auto model = std::make_shared<const model::Model>(path);
    eval::Transformer t(model, fopt);
    const auto tok = eval::load_tokenizer(model->checkpoint(), t.config().vocab_size);
    const auto ids = tok->encode_with_bos(*prompt);
    InterruptGuard interrupt;
    util::Control ctl;
    ctl.cancel = interrupt.flag();
    std::fputs(prompt->c_str(), stdout);
    std::fflush(stdout);
    // Decode incrementally: print the bytes the text gained with each id.
    std::vector<std::int32_t> out;
    std::string shown;
    try {
        eval::generate_greedy(t, ids, n, args.flag("no-stop") ? -1 : tok->eos_id(), ctl, [&](std::int32_t id) {
            out.push_back(id);
            const std::string text = tok->decode(out);
            if (text.size() > shown.size() && text.compare(0, shown.size(), shown) == 0) {
                std::fwrite(text.data() + shown.size(), 1, text.size() - shown.size(), stdout);
                std::fflush(stdout);
            }
            shown = text;
        });
    } catch (const util::Cancelled&) {
        std::fputc('\n', stdout);
        std::fprintf(stderr, "tensorllm generate: cancelled after %zu tokens\n", out.size());
        return 130;
    }
    std::fputc('\n', stdout);
    return 0;
}

}  // namespace tllm::cli
