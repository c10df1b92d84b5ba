// tensorllm show: prints the results stored in an HDF5 results file or sweep file, without
// recomputing.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "results/hdf5_results.h"
#include "results/results_reader_process.h"
#include "results/results_tables.h"
#include "results/sweep_hdf5.h"
#include "results/sweep_tables.h"
#include "util/format.h"
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
    "A sweep file (written by 'tensorllm sweep --h5 FILE') is recognised by its format and\n"
    "printed as its table: the inputs and options, the unedited baseline, then one row per\n"
    "point (layer, edit, status, ranks, errors, compression, mean NLL and its change with\n"
    "standard error, KL mean and 99th percentile, top-1 agreement, accuracy change, time);\n"
    "'-' marks a value the point does not have (NaN in the file). --json prints it as the\n"
    "sweep's results.json does; --layers keeps the points of those layers.\n"
    "\n"
    "options:\n"
    "  --json           everything as one JSON document on stdout: the above plus per-head\n"
    "                   errors, HOOI traces, captured energy, timings, mode spectra and\n"
    "                   per-head singular values (factors and cores are left out)\n"
    "  --layers LIST    only these layers, e.g. 0-3,7 (default: all in the file)\n"
    "  --heads          also print the error of every head and type (text output; results\n"
    "                   files only)\n"
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
    j["model"] = {{"architecture", M.architecture},  {"model_type", M.model_type},
                  {"hidden_size", M.shape.d},        {"head_dim", M.shape.dv},
                  {"num_heads", M.shape.h},          {"num_kv_heads", M.shape.n_kv},
                  {"num_layers", M.num_layers},      {"kv_head_of_head", M.kv_head_of_head},
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
        l["tensors"] = {{"Q", lay.part_tensors[0]},
                        {"K", lay.part_tensors[1]},
                        {"V", lay.part_tensors[2]},
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
    std::printf(
        "layer  status         R1    R2  R3  rel_error  error_Q  error_K  error_V  error_O     ratio  iters  "
        "seconds\n");
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

void print_sweep(const std::string& path, const edits::SweepResult& r, const std::vector<edits::SweepPoint>& pts) {
    const auto& o = r.options;
    const auto& b = r.baseline.ppl;
    std::printf("file        %s (%s)\n", path.c_str(), exporting::kSweepHdf5Format);
    std::printf("model       %s (%s, %llu parameters)\n", r.model_path.c_str(), r.model_type.c_str(),
                static_cast<unsigned long long>(r.model_params));
    std::printf("text        %s: %lld tokens, windows of %d every %d, %lld scored\n", r.text_source.c_str(),
                static_cast<long long>(b.n_tokens), b.ctx, b.stride, static_cast<long long>(b.n_scored));
    if (!r.mc_source.empty()) std::printf("mc          %s\n", r.mc_source.c_str());
    std::string choices, laser;
    for (const auto& c : o.choices) choices += (choices.empty() ? "" : " | ") + c.describe();
    for (const auto& l : o.laser) laser += (laser.empty() ? "" : ", ") + l.describe();
    std::printf("options     method %s", tucker::method_name(o.tucker.method));
    if (o.tucker.method == tucker::Method::HOOI)
        std::printf(" (init %s, at most %d sweeps, tolerance %g)", tucker::method_name(o.tucker.init),
                    o.tucker.max_iterations, o.tucker.tolerance);
    std::printf("\n            choices %s; LASER %s%s\n", choices.empty() ? "none" : choices.c_str(),
                laser.empty() ? "none" : laser.c_str(), o.combine ? "; pairs combined" : "");
    std::size_t failed = 0;
    for (const auto& p : r.points) failed += !p.ran();
    std::printf(
        "run         %zu of %zu points, %zu failed%s, %.2fs; prefix cache %s of %s, %zu layer%s kept, "
        "%.2fs saved\n",
        r.points.size(), r.grid_size, failed, r.cancelled ? ", cancelled" : "", r.seconds,
        util::format_bytes(r.prefix.used_bytes).c_str(), util::format_bytes(r.prefix.budget_bytes).c_str(),
        r.prefix.layers.size(), r.prefix.layers.size() == 1 ? "" : "s", r.prefix.seconds_saved);
    std::printf("baseline    mean NLL %.5f +- %.5f nats/token, perplexity %.4g, %.4f bits/byte", b.mean_nll,
                b.mean_nll_stderr, b.perplexity, b.bits_per_byte);
    if (r.baseline.mc)
        std::printf("; accuracy %.4f +- %.4f (normalised %.4f +- %.4f) on %zu items", r.baseline.mc->acc,
                    r.baseline.mc->acc_stderr, r.baseline.mc->acc_norm, r.baseline.mc->acc_norm_stderr,
                    r.baseline.mc->items.size());
    std::printf("\n\n");
    std::size_t lw = 5;
    for (const auto& p : pts) lw = std::max(lw, p.label.size());
    const bool mc = r.baseline.mc.has_value() ||
                    std::any_of(pts.begin(), pts.end(), [](const auto& p) { return p.mc.has_value(); });
    std::printf(
        "layer  %-*s  status          R1    R2  R3  w_error  laser_err  layer_x  model_x  mean_nll  delta_nll  "
        "stderr    kl_mean    kl_p99    top1",
        int(lw), "edit");
    if (mc) std::printf("   d_acc   d_acc_norm");
    std::printf("  seconds\n");
    for (const auto& p : pts) {
        std::printf("%-6d %-*s  %-13s", p.spec.layer, int(lw), p.label.c_str(), tucker::status_name(p.status));
        if (!p.ran()) {
            std::printf("  %s\n", p.message.c_str());
            continue;
        }
        if (p.spec.choice >= 0)
            std::printf(" %4d %5d %3d", p.ranks[0], p.ranks[1], p.ranks[2]);
        else
            std::printf(" %4s %5s %3s", "-", "-", "-");
        std::printf(" %s %s %s %s %s %s %s %s %s %s", util::fixed_or_dash(p.weight_error, 8, 5).c_str(),
                    util::fixed_or_dash(p.laser_error, 10, 5).c_str(), util::fixed_or_dash(p.layer_ratio, 8, 2).c_str(),
                    util::fixed_or_dash(p.model_ratio, 8, 4).c_str(), util::fixed_or_dash(p.mean_nll, 9, 5).c_str(),
                    util::fixed_or_dash(p.delta_nll, 10, 5).c_str(),
                    util::fixed_or_dash(p.delta_nll_stderr, 7, 5).c_str(),
                    util::fixed_or_dash(p.kl_mean, 10, 6).c_str(), util::fixed_or_dash(p.kl_p99, 9, 5).c_str(),
                    util::fixed_or_dash(p.top1_agreement, 7, 4).c_str());
        if (mc)
            std::printf(" %s %s", util::fixed_or_dash(p.mc ? p.mc->delta_acc : NAN, 7, 4).c_str(),
                        util::fixed_or_dash(p.mc ? p.mc->delta_acc_norm : NAN, 12, 4).c_str());
        std::printf(" %8.2f\n", p.seconds_decompose + p.seconds_eval);
    }
}

int show_sweep(const std::string& path, edits::SweepResult r, const Args& args) {
    if (args.flag("heads")) throw std::invalid_argument("--heads applies to results files, not to sweep files");
    const auto want = util::parse_layer_list(args.value("layers").value_or(""));
    for (int l : want)
        if (std::none_of(r.points.begin(), r.points.end(), [&](const auto& p) { return p.spec.layer == l; }))
            throw std::runtime_error(path + ": layer " + std::to_string(l) + " has no point in the sweep");
    if (!want.empty())
        std::erase_if(r.points,
                      [&](const auto& p) { return std::find(want.begin(), want.end(), p.spec.layer) == want.end(); });
    if (args.flag("json")) {
        auto j = exporting::sweep_json(r);
        j["file"] = path;
        std::printf("%s\n", j.dump(1).c_str());
    } else {
        print_sweep(path, r, r.points);
    }
    return 0;
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
    auto contents = exporting::read_hdf5_isolated(args.positional()[0], ro);
    if (contents.sweep) return show_sweep(args.positional()[0], std::move(*contents.sweep), args);
    const auto& f = *contents.results;
    if (args.flag("json"))
        std::printf("%s\n", to_json(f).dump(1).c_str());
    else
        print_text(f, args.flag("heads"));
    return 0;
}

}  // namespace tllm::cli
