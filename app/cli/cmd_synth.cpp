// tensorllm synth: write a synthetic checkpoint (tests, benchmarks, the small resource model).
#include <cstdio>
#include <string>

#include "args.h"
#include "commands.h"
#include "io/dtype.h"
#include "model/synthetic.h"

namespace tllm::cli {

int cmd_synth(const std::vector<std::string>& argv) {
    Args args(argv, {"help", "no-extras", "tie-embeddings"},
              {"type", "hidden", "heads", "kv-heads", "head-dim", "layers", "rank", "noise", "dtype", "shards", "seed",
               "arch", "vocab", "ffn", "positions"});
    if (args.flag("help") || args.positional().size() != 1) {
        std::fputs(
            "usage: tensorllm synth DIR [--type gpt2] [--hidden 64] [--heads 4] [--kv-heads H]\n"
            "                           [--head-dim D] [--layers 2] [--rank 8] [--noise 0.1]\n"
            "                           [--dtype F32|F16|BF16|F64] [--shards 1] [--seed 1] [--no-extras]\n"
            "                           [--vocab V [--ffn 4*hidden] [--positions P] [--tie-embeddings]]\n"
            "\n"
            "Writes config.json and safetensors weights in the layout of model_type --type: each\n"
            "attention weight is a rank --rank part in a model-wide shared subspace plus Gaussian\n"
            "noise (--noise, relative). --shards > 1 writes an index and that many shards.\n"
            "--no-extras writes only the attention weights (no biases, norms, MLP, embeddings).\n"
            "--vocab V writes a complete model that evaluation runs (--type gpt2 or llama): every\n"
            "norm, the architecture's MLP (--ffn wide, default 4*hidden), V-row embeddings, gpt2's\n"
            "--positions (default 1024; llama's max_position_embeddings, default 2048), the final\n"
            "norm and llama's lm_head (none with --tie-embeddings). MLP and embedding weights are\n"
            "uniform noise of standard deviation 0.02, norm weights 1 + such noise. For example\n"
            "GPT-2-124M: --type gpt2 --hidden 768 --heads 12 --layers 12 --vocab 50257;\n"
            "Llama-3.2-1B: --type llama --hidden 2048 --heads 32 --kv-heads 8 --layers 16\n"
            "--ffn 8192 --vocab 128256 --tie-embeddings.\n",
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
    s.vocab = args.int_value("vocab", 0);
    s.ffn = args.int_value("ffn", 0);
    s.positions = args.int_value("positions", 0);
    s.tied_embeddings = args.flag("tie-embeddings");
    if ((s.ffn || s.positions || s.tied_embeddings) && !s.vocab)
        throw std::invalid_argument(
            "--ffn, --positions and --tie-embeddings describe a complete model: give --vocab too");
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
