// tensorllm synth: write a synthetic checkpoint (tests, benchmarks, the small resource model).
#include <cstdio>
#include <string>

#include "args.h"
#include "commands.h"
#include "io/dtype.h"
#include "model/synthetic.h"

namespace tllm::cli {

int cmd_synth(const std::vector<std::string>& argv) {
    Args args(argv, {"help", "no-extras"},
              {"type", "hidden", "heads", "kv-heads", "head-dim", "layers", "rank", "noise", "dtype", "shards", "seed", "arch"});
    if (args.flag("help") || args.positional().size() != 1) {
        std::fputs(
            "usage: tensorllm synth DIR [--type gpt2] [--hidden 64] [--heads 4] [--kv-heads H]\n"
            "                           [--head-dim D] [--layers 2] [--rank 8] [--noise 0.1]\n"
            "                           [--dtype F32|F16|BF16|F64] [--shards 1] [--seed 1] [--no-extras]\n"
            "\n"
            "Writes config.json and safetensors weights in the layout of model_type --type: each\n"
            "attention weight is a rank --rank part in a model-wide shared subspace plus Gaussian\n"
            "noise (--noise, relative). --shards > 1 writes an index and that many shards.\n"
            "--no-extras writes only the attention weights (no biases, norms, MLP, embeddings).\n",
            args.flag("help") ? stdout : stderr);
        return args.flag("help") ? 0 : 2;
    }
    model::SyntheticSpec s;
    s.model_type = args.value("type").value_or("gpt2");
    s.hidden = args.int_value("hidden", s.hidden);
    s.heads = args.int_value("heads", s.heads);
    s.kv_heads = args.int_value("kv-heads", 0);
    s.head_dim = args.int_value("head-dim", 0);
    s.layers = args.int_value("layers", s.layers);
    s.rank = args.int_value("rank", s.rank);
    s.noise = args.double_value("noise", s.noise);
    s.shards = args.int_value("shards", 1);
    s.seed = static_cast<std::uint64_t>(args.int_value("seed", 1));
    s.extras = !args.flag("no-extras");
    const std::string dt = args.value("dtype").value_or("F32");
    auto parsed = io::parse_dtype(dt);
    if (!parsed || !io::dtype_is_float(*parsed))
        throw std::invalid_argument("--dtype: expected F32, F16, BF16 or F64, got '" + dt + "'");
    s.dtype = *parsed;
    std::vector<model::ArchitectureSpec> extra;
    if (auto a = args.value("arch")) extra = model::read_architectures(*a);
    model::write_synthetic_checkpoint(args.positional().front(), s, extra);
    std::printf("wrote %s\n", args.positional().front().c_str());
    return 0;
}

}  // namespace tllm::cli
