// tensorllm show: prints the results stored in an HDF5 results file, without recomputing.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "results/hdf5_results.h"
#include "results/results_reader_process.h"
#include "results/results_tables.h"
#include "util/layer_list.h"
#include "util/resources.h"

namespace tllm::cli {
namespace {

const char* kHelp =
    "usage: tensorllm show FILE.h5 [--json] [--layers LIST] [--heads]\n"
    "\n"
    "Prints the results stored in an HDF5 results file (written by 'tensorllm decompose\n"
    "--h5 FILE'): model layout, source checkpoint and its fingerprint, the options used, and\n"
    "per layer the status, ranks, errors (layer and per Q/K/V/O), compression ratio, HOOI\n"
    "iterations and time. Nothing is recomputed; the file is validated as it is read.\n"
    "\n"
    "options:\n"
    "  --json           everything as one JSON document on stdout: the above plus per-head\n"
    "                   errors, HOOI traces, captured energy, timings, mode spectra and\n"
    "                   per-head singular values (factors and cores are left out)\n"
    "  --layers LIST    only these layers, e.g. 0-3,7 (default: all in the file)\n"
    "  --heads          also print the error of every head and type (text output)\n"
    "\n"
    "Exit status: 0 shown, 1 unreadable or invalid file, 2 usage error.\n";

const char* kTypes[4] = {"Q", "K", "V", "O"};

nlohmann::ordered_json to_json(const exporting::ResultsFile& f) {
    const auto& M = f.meta;
    nlohmann::ordered_json j;
    j["file"] = f.path;
    j["format"] = std::string(exporting::kHdf5Format) + "/" + std::to_string(M.format_version);
    j["tool_version"] = M.tool_version;
    j["created_utc"] = M.created_utc;
    j["model"] = {{"architecture", M.architecture},
                  {"model_type", M.model_type},
                  {"hidden_size", M.shape.d},
                  {"head_dim", M.shape.dv},
                  {"num_heads", M.shape.h},
                  {"num_kv_heads", M.shape.n_kv},
                  {"num_layers", M.num_layers},
                  {"kv_head_of_head", M.kv_head_of_head},
                  {"mapped_layers", M.mapped_layers}};
    j["source"] = {{"path", M.source.path},
                   {"total_bytes", M.source.total_bytes},
                   {"header_sha256", M.source.header_sha256},
                   {"shard_files", M.source.shard_files},
                   {"shard_bytes", M.source.shard_bytes}};
    const auto& O = M.options;
    nlohmann::ordered_json per = nlohmann::ordered_json::object();
    for (const auto& [l, r] : O.ranks.per_layer) per[std::to_string(l)] = r;
    j["options"] = {{"ranks", O.ranks.describe()},
                    {"fixed_ranks", O.ranks.ranks},
                    {"per_layer_ranks", per},
                    {"method", tucker::method_name(O.tucker.method)},
                    {"init", tucker::method_name(O.tucker.init)},
                    {"mode_order", O.tucker.mode_order},
                    {"max_iterations", O.tucker.max_iterations},
                    {"tolerance", O.tucker.tolerance},
                    {"threads", O.threads},
                    {"spectra", O.spectra},
                    {"slice_spectra", O.slice_spectra},
                    {"allow_nonfinite", O.allow_nonfinite},
                    {"background_priority", O.background_priority},
                    {"layers", O.layers}};
    j["cancelled"] = f.summary.cancelled;
    j["failed_layers"] = f.summary.failed;
    j["seconds"] = f.summary.seconds;
    j["layers"] = nlohmann::ordered_json::array();
    for (std::size_t k = 0; k < f.summary.layers.size(); ++k) {
        const auto& r = f.summary.layers[k];
        const auto& lay = M.layouts[k];
        nlohmann::ordered_json l = exporting::layer_result_json(r);
        l["tensors"] = {{"Q", lay.part_tensors[0]}, {"K", lay.part_tensors[1]}, {"V", lay.part_tensors[2]},
                        {"O", lay.part_tensors[3]}};
        l["dtype"] = lay.dtype;
        l["seconds"] = exporting::seconds_json(r);
        j["layers"].push_back(std::move(l));
    }
    return j;
}

void print_text(const exporting::ResultsFile& f, bool heads) {
    const auto& M = f.meta;
    const auto& S = M.shape;
    std::printf("file        %s (%s v%d, tensorllm %s, %s)\n", f.path.c_str(), exporting::kHdf5Format, M.format_version,
                M.tool_version.c_str(), M.created_utc.empty() ? "no date" : M.created_utc.c_str());
    std::printf("model       %s (architecture %s), %d layers\n", M.model_type.c_str(), M.architecture.c_str(),
                M.num_layers);
    std::printf("attention   d %d, head_dim %d, %d query heads, %d key/value heads\n", S.d, S.dv, S.h, S.n_kv);
    std::printf("source      %s (%zu shard%s, %s)\n", M.source.path.c_str(), M.source.shard_files.size(),
                M.source.shard_files.size() == 1 ? "" : "s", util::format_bytes(M.source.total_bytes).c_str());
    std::printf("fingerprint SHA-256 of headers %s\n", M.source.header_sha256.c_str());
    const auto& O = M.options;
    std::printf("options     %s; method %s", O.ranks.describe().c_str(), tucker::method_name(O.tucker.method));
    if (O.tucker.method == tucker::Method::HOOI)
        std::printf(" (init %s, at most %d sweeps, tolerance %g)", tucker::method_name(O.tucker.init),
                    O.tucker.max_iterations, O.tucker.tolerance);
    std::printf("; threads %d\n", O.threads);
    std::printf("run         %zu layer%s, %d failed%s, %.2fs\n\n", f.summary.layers.size(),
                f.summary.layers.size() == 1 ? "" : "s", f.summary.failed, f.summary.cancelled ? ", cancelled" : "",
                f.summary.seconds);
    std::printf("layer  status         R1    R2  R3  rel_error  error_Q  error_K  error_V  error_O     ratio  iters  seconds\n");
    for (const auto& r : f.summary.layers) {
        if (!r.complete()) {
            std::printf("%-6d %-13s  %s\n", r.layer, tucker::status_name(r.status), r.message.c_str());
            continue;
        }
        const auto& X = r.measures;
        std::printf("%-6d %-13s %4d %5d %3d  %9.5f  %7.4f  %7.4f  %7.4f  %7.4f  %8.2f  %5d  %7.2f\n", r.layer,
                    tucker::status_name(r.status), r.ranks[0], r.ranks[1], r.ranks[2], X.rel_error, X.type_error[0],
                    X.type_error[1], X.type_error[2], X.type_error[3], X.ratio, r.tucker.iterations, r.seconds_total);
    }
    if (!heads) return;
    for (const auto& r : f.summary.layers) {
        if (!r.complete()) continue;
        std::printf("\nlayer %d per head:\n  head  error    ", r.layer);
        for (const char* t : kTypes) std::printf(" error_%s", t);
        std::printf("\n");
        for (std::size_t i = 0; i < r.measures.head_type_error.size(); ++i) {
            std::printf("  %-4zu  %7.4f  ", i, r.measures.head_error[i]);
            for (int t = 0; t < 4; ++t) std::printf(" %7.4f", r.measures.head_type_error[i][std::size_t(t)]);
            std::printf("\n");
        }
    }
}

}  // namespace

int cmd_show(const std::vector<std::string>& argv) {
    Args args(argv, {"help", "json", "heads"}, {"layers"});
    if (args.flag("help")) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    if (args.positional().size() != 1) throw std::invalid_argument("expected one FILE.h5 (see --help)");
    exporting::Hdf5ReadOptions ro;
    ro.factors = false;
    ro.layers = util::parse_layer_list(args.value("layers").value_or(""));
    const auto f = exporting::read_results_isolated(args.positional()[0], ro);
    if (args.flag("json")) std::printf("%s\n", to_json(f).dump(1).c_str());
    else print_text(f, args.flag("heads"));
    return 0;
}

}  // namespace tllm::cli
