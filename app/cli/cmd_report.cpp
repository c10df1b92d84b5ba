// tensorllm report: the GUI's figures, rendered headless, with their data and an index.html.

#include <QString>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "analysis/compression.h"
#include "commands.h"
#include "results/hdf5_results.h"
#include "results/results_reader_process.h"
#include "io/mapped_file.h"
#include "util/json_checksum.h"
#include "results/sweep_tables.h"
#include "results/sweep_hdf5.h"
#include "io/staging_dir.h"
#include "io/output_guard.h"
#include "job_cli.h"
#include "report/figure_files.h"
#include "report/report.h"
#include "util/resources.h"

namespace tllm::cli {
namespace {
// Marker kind of a report directory (io::write_output_marker).
constexpr const char* kReportKind = "report";
}  // namespace

int cmd_report(const std::vector<std::string>& argv) {
    auto opts = job_option_names();
    for (const char* o : {"out", "arch", "width-mm", "height-mm", "dpi", "font-pt", "from", "sweep"}) opts.insert(o);
    Args args(argv, {"help", "demo", "quiet"}, opts);
    if (args.flag("help")) {
        std::printf(
            "usage: tensorllm report MODEL|--demo [rank choice and options] --out DIR\n"
            "       tensorllm report --from RESULTS.h5 --out DIR\n"
            "                        [--width-mm 160] [--height-mm 100] [--dpi 300] [--font-pt 9]\n"
            "                        [--sweep DIR/results.json | --sweep SWEEP.h5]\n"
            "\n"
            "Decomposes the selected layers and renders, offscreen (no display needed), the same\n"
            "figures as the GUI through the same chart code: errors per layer, per-head error and\n"
            "compression heatmaps, compression per layer, HOOI convergence, and per layer the mode\n"
            "spectra, the slice spectra of its worst head and the rank explorer. Each as PNG, SVG and\n"
            "PDF with the CSV behind it, and an index.html showing them with the run's settings.\n"
            "Without a rank option the ranks are (d/4, head_dim/2, 4). --from draws the report of an\n"
            "HDF5 results file (tensorllm decompose --h5) without recomputing or opening the model.\n"
            "--sweep adds the figures of an evaluation sweep (tensorllm sweep --out DIR writes\n"
            "DIR/results.json, --h5 FILE an HDF5 sweep): the delta-loss heatmap, quality against\n"
            "compression and delta loss beside the weight error per layer.\n\n%s",
            job_options_help());
        return 0;
    }
    const auto out = args.value("out");
    if (!out) throw std::invalid_argument("--out DIR is required");
    ui::FigureStyle style;
    style.width_mm = args.double_value("width-mm", style.width_mm);
    style.height_mm = args.double_value("height-mm", style.height_mm);
    style.dpi = args.int_value("dpi", style.dpi);
    style.font_pt = args.double_value("font-pt", style.font_pt);
    if (!(style.width_mm >= 20 && style.width_mm <= 1000))
        throw std::invalid_argument("--width-mm: must be in 20..1000");
    if (!(style.height_mm >= 20 && style.height_mm <= 1000))
        throw std::invalid_argument("--height-mm: must be in 20..1000");
    if (style.dpi < 50 || style.dpi > 2400) throw std::invalid_argument("--dpi: must be in 50..2400");

    ui::ReportInput in;
    jobs::JobOptions opt;
    std::shared_ptr<const jobs::JobSummary> summary;
    model::AttentionShape S;
    std::string model_type, arch;
    int mapped_layers = 0;
    std::unique_ptr<io::OutputLock> lock;
    // The output may not be or hold what the report reads; it is locked for the whole run.
    auto guard = [&](io::SourceSet src) {
        if (auto sw = args.value("sweep")) src.add_file(*sw);
        io::check_output_dir(src, "--out", *out, kReportKind, true);
        lock = std::make_unique<io::OutputLock>(io::normalise_destination(*out));
        for (const auto& note : lock->notes()) std::fprintf(stderr, "tensorllm report: note: %s\n", note.c_str());
    };
    if (auto from = args.value("from")) {
        if (!args.positional().empty() || args.flag("demo"))
            throw std::invalid_argument("give either --from or a MODEL, not both");
        io::SourceSet src;
        src.add_file(*from);
        guard(src);
        exporting::Hdf5ReadOptions ro;
        ro.factors = false;
        auto f = exporting::read_results_isolated(*from, ro);
        opt = f.meta.options;
        S = f.meta.shape;
        model_type = f.meta.model_type;
        arch = f.meta.architecture;
        mapped_layers = int(f.meta.mapped_layers.size());
        in.model_path = QString::fromStdString(f.meta.source.path);
        summary = std::make_shared<const jobs::JobSummary>(std::move(f.summary));
    } else {
        const std::string path = resolve_model_path(args.positional(), args.flag("demo"), "report");
        std::vector<model::ArchitectureSpec> extra;
        if (auto a = args.value("arch")) extra = model::read_architectures(*a);
        auto model = std::make_shared<const model::Model>(path, extra);
        opt = parse_job_options(args, *model, true);
        io::SourceSet src = model->checkpoint().sources();
        if (auto a = args.value("arch")) src.add_file(*a);
        guard(src);
        InterruptGuard interrupt;
        summary = run_job(model, opt, args.flag("quiet"), *interrupt.flag());
        if (summary->cancelled) {
            std::fprintf(stderr, "tensorllm report: cancelled; nothing written to %s\n", out->c_str());
            return 130;
        }
        S = model->shape();
        model_type = model->config().model_type;
        arch = model->architecture().name;
        mapped_layers = int(model->layers().size());
        in.model_path = QString::fromStdString(path);
    }
    if (auto sw = args.value("sweep")) {
        // A sweep set's results.json (checksum verified) or an HDF5 sweep (read in the helper).
        if (sw->size() > 3 && sw->compare(sw->size() - 3, 3, ".h5") == 0) {
            in.sweep = exporting::read_sweep_hdf5(*sw);
        } else {
            const auto doc = nlohmann::json::parse(io::read_regular_file(*sw, 1ull << 30), nullptr, false);
            if (doc.is_discarded()) throw std::runtime_error(*sw + ": not valid JSON");
            util::verify_json_checksum(doc, *sw);
            in.sweep = exporting::sweep_from_json(doc, *sw);
        }
    }
    in.model_summary =
        QStringLiteral("%1 (architecture %2), %3 attention layers, d = %4, %5 heads (%6 kv), head_dim %7")
            .arg(QString::fromStdString(model_type), QString::fromStdString(arch))
            .arg(mapped_layers)
            .arg(S.d)
            .arg(S.h)
            .arg(S.n_kv)
            .arg(S.dv);
    in.results.shape = S;
    int failed = 0;
    for (const auto& r : summary->layers) {
        if (r.complete())
            in.results.layers[r.layer] = std::make_shared<const jobs::LayerResult>(r);
        else {
            ++failed;
            std::fprintf(stderr, "tensorllm report: %s\n", r.message.c_str());
        }
    }
    // describe() names the rule itself ("ranks 32,16,4", "tolerance 0.2"): the row's label is
    // the rule's, not "ranks" again.
    in.settings = {
        {QStringLiteral("rank choice"), QString::fromStdString(opt.ranks.describe())},
        {QStringLiteral("method"), QString::fromLatin1(tucker::method_name(opt.tucker.method))},
        {QStringLiteral("HOOI initialisation"), QString::fromLatin1(tucker::method_name(opt.tucker.init))},
        {QStringLiteral("HOOI max iterations / tolerance"),
         QStringLiteral("%1 / %2").arg(opt.tucker.max_iterations).arg(opt.tucker.tolerance)},
        {QStringLiteral("layers"), QString::number(summary->layers.size())},
        {QStringLiteral("run time"), QStringLiteral("%1 s").arg(summary->seconds, 0, 'f', 2)},
        {QStringLiteral("figure size"), QStringLiteral("%1 × %2 mm, %3 dpi, %4 pt")
                                            .arg(style.width_mm)
                                            .arg(style.height_mm)
                                            .arg(style.dpi)
                                            .arg(style.font_pt)},
        {QStringLiteral("tool"), QStringLiteral("TensorLLM Studio %1").arg(QStringLiteral(TENSORLLM_VERSION))}};

    // Offscreen: no display is needed (and none is used even when present).
    const auto app = ui::offscreen_application();
    // All or nothing: the report is drawn into a staging directory that replaces --out (an
    // earlier report, or nothing) only when complete.
    io::prepare_destination(*out);
    io::StagingDir stage(*out);
    const QStringList files = ui::write_report(QString::fromStdString(stage.path()), in, style);
    io::write_output_marker(stage.path(), kReportKind);
    stage.commit(true);
    std::printf("wrote %lld files to %s; open %s/index.html\n", static_cast<long long>(files.size()), out->c_str(),
                out->c_str());
    return failed ? 3 : 0;
}

}  // namespace tllm::cli
