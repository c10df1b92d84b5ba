// tensorllm info: what a checkpoint holds and how its attention maps to W_all.
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "model/model.h"
#include "util/resources.h"

namespace tllm::cli {
namespace {

const char* kInfoHelp =
    "usage: tensorllm info MODEL [--json] [--arch FILE]\n"
    "       tensorllm info --demo [--json]\n"
    "\n"
    "Prints the architecture, the mapped attention layers (index, dtype, tensors, shapes,\n"
    "parameters), heads, kv heads, head_dim, and every tensor not part of the attention\n"
    "tensor with the reason.\n"
    "\n"
    "  MODEL        checkpoint directory, .safetensors file or .safetensors.index.json\n"
    "  --demo       use the bundled demo model\n"
    "  --json       machine-readable output on stdout\n"
    "  --arch FILE  extra architecture layouts (format: docs/architectures.md)\n"
    "\n"
    "Exit status: 0 on success, 1 on a load error, 2 on a usage error.\n";

std::string shape_str(const std::vector<std::uint64_t>& s) {
    std::string r = "[";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

}  // namespace

std::string bundled_model_dir() { return util::default_model_dir(); }

std::string resolve_model_path(const std::vector<std::string>& positional, bool demo, const char* command) {
    if (demo) {
        if (!positional.empty()) throw std::invalid_argument("give either MODEL or --demo, not both");
        return bundled_model_dir();
    }
    if (positional.size() != 1)
        throw std::invalid_argument(std::string("expected one MODEL path (see tensorllm ") + command + " --help)");
    return positional.front();
}

int cmd_info(const std::vector<std::string>& argv) {
    Args args(argv, {"json", "demo", "help"}, {"arch"});
    if (args.flag("help")) {
        std::fputs(kInfoHelp, stdout);
        return 0;
    }
    const std::string path = resolve_model_path(args.positional(), args.flag("demo"), "info");
    std::vector<model::ArchitectureSpec> extra;
    if (auto a = args.value("arch")) extra = model::read_architectures(*a);
    const model::Model m(path, extra);
    const auto& S = m.shape();
    const auto& ck = m.checkpoint();

    std::map<std::string, int> dtypes;
    for (const auto& name : ck.tensor_names()) dtypes[std::string(io::dtype_name(ck.at(name).info->dtype))]++;

    // Group unmapped tensors by name with the layer number wildcarded.
    std::map<std::pair<std::string, std::string>, int> groups;
    for (const auto& u : m.unmapped()) groups[{model::layer_wildcard(u.name), u.reason}]++;

    if (args.flag("json")) {
        nlohmann::ordered_json j;
        j["path"] = path;
        j["model_type"] = m.config().model_type;
        j["architecture"] = m.architecture().name;
        j["architecture_source"] = m.architecture().source;
        j["hidden_size"] = S.d;
        j["num_heads"] = S.h;
        j["num_kv_heads"] = S.n_kv;
        j["head_dim"] = S.dv;
        j["config_layers"] = m.config().num_layers;
        j["sharded"] = ck.sharded();
        j["files"] = nlohmann::json::array();
        for (const auto* f : ck.files()) j["files"].push_back({{"path", f->path()}, {"bytes", f->file_size()}});
        if (const auto* g = ck.gguf())
            j["gguf"] = {{"version", g->file().version()},
                         {"architecture", g->architecture()},
                         {"alignment", g->file().alignment()},
                         {"metadata_keys", g->file().metadata().size()}};
        j["dtypes"] = dtypes;
        j["tensor_shape"] = {S.d, S.dv, 4, S.h};
        j["layers"] = nlohmann::json::array();
        for (const auto& L : m.layers()) {
            nlohmann::ordered_json l;
            l["index"] = L.index;
            l["dtype"] = std::string(io::dtype_name(L.dtype));
            l["attention_params"] = S.original_params();
            l["tensors"] = nlohmann::json::array();
            for (const auto& n : L.tensors)
                l["tensors"].push_back({{"name", n},
                                        {"shape", ck.at(n).info->shape},
                                        {"dtype", std::string(io::dtype_name(ck.at(n).info->dtype))}});
            j["layers"].push_back(l);
        }
        j["unmapped"] = nlohmann::json::array();
        for (const auto& u : m.unmapped()) j["unmapped"].push_back({{"name", u.name}, {"reason", u.reason}});
        j["warnings"] = m.warnings();
        for (const auto& w : ck.warnings()) j["warnings"].push_back(w);
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }

    std::printf("model         %s\n", path.c_str());
    for (const auto* f : ck.files())
        std::printf("file          %s (%s)\n", f->path().c_str(), util::format_bytes(f->file_size()).c_str());
    if (const auto* g = ck.gguf())
        std::printf("format        GGUF version %u, architecture '%s', %zu metadata keys\n", g->file().version(),
                    g->architecture().c_str(), g->file().metadata().size());
    std::printf("model_type    %s (architecture '%s', %s)\n", m.config().model_type.c_str(),
                m.architecture().name.c_str(), m.architecture().source.c_str());
    std::string layer_list;
    for (const auto& L : m.layers()) layer_list += (layer_list.empty() ? "" : ",") + std::to_string(L.index);
    std::printf("layers        %zu mapped (%s); config says %d\n", m.layers().size(),
                layer_list.empty() ? "none" : layer_list.c_str(), m.config().num_layers);
    std::printf("heads         %d query, %d key/value%s\n", S.h, S.n_kv,
                S.n_kv < S.h ? (" (grouped-query, " + std::to_string(S.group()) + " per group)").c_str() : "");
    std::printf("head_dim      %d\n", S.dv);
    std::printf("hidden_size   %d\n", S.d);
    std::string dl;
    for (const auto& [k, v] : dtypes) dl += (dl.empty() ? "" : ", ") + k + " (" + std::to_string(v) + " tensors)";
    std::printf("dtypes        %s\n", dl.c_str());
    std::printf("W_all         %d x %d x 4 x %d per layer (d x head_dim x QKVO x heads)\n", S.d, S.dv, S.h);
    std::printf("\n%-6s %-6s %-12s %s\n", "layer", "dtype", "attn params", "tensors");
    for (const auto& L : m.layers()) {
        std::string ts;
        for (const auto& n : L.tensors) ts += (ts.empty() ? "" : "  ") + n + " " + shape_str(ck.at(n).info->shape);
        std::printf("%-6d %-6s %-12llu %s\n", L.index, std::string(io::dtype_name(L.dtype)).c_str(),
                    static_cast<unsigned long long>(S.original_params()), ts.c_str());
    }
    std::printf("\nnot mapped    %zu tensors\n", m.unmapped().size());
    for (const auto& [key, n] : groups) std::printf("  %s (%d): %s\n", key.first.c_str(), n, key.second.c_str());
    for (const auto& w : m.warnings()) std::printf("warning: %s\n", w.c_str());
    for (const auto& w : ck.warnings()) std::printf("warning: %s\n", w.c_str());
    return 0;
}

}  // namespace tllm::cli
