// tensorllm compare: two results side by side, as tables and (with the GUI library) figures.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "args.h"
#include "commands.h"
#include "io/output_guard.h"
#include "io/staging_dir.h"
#include "results/compare.h"
#include "results/results_tables.h"
#ifdef TENSORLLM_HAVE_REPORT
#include "report/compare_figures.h"
#endif

namespace tllm::cli {
namespace {

const char* kHelp =
    "usage: tensorllm compare A B [--out DIR] [--json] [--label-a NAME] [--label-b NAME]\n"
    "\n"
    "Compares two results without recomputing anything. A and B may each be a results set\n"
    "('tensorllm decompose --out DIR': DIR or DIR/results.json), an HDF5 results file\n"
    "('decompose --h5'), a project file saved by TensorLLM Studio (*.tllm.json), a sweep set\n"
    "('tensorllm sweep --out DIR') or an HDF5 sweep ('sweep --h5'); the kind is recognised by\n"
    "content. Layers are matched by index, heads by index, sweep points by (layer, method,\n"
    "edit). Prints per layer both ranks, both relative errors, both compression ratios and both\n"
    "changes in loss (of the sweep point that edited the layer at those ranks, when a sweep is\n"
    "present) with the difference B - A, then the sweep points side by side. Layers present in\n"
    "only one side are listed. Results of different checkpoints (base against fine-tuned) are\n"
    "compared too, and the output says whether the checkpoints are the same (stored header\n"
    "fingerprints), different, or could not be verified.\n"
    "\n"
    "options:\n"
    "  --out DIR        also write compare.csv (per layer), compare_heads.csv (per head),\n"
    "                   compare_sweep.csv (per sweep point), compare.json (everything, with a\n"
    "                   SHA-256 checksum) and the figures as PNG, SVG and PDF with their CSV:\n"
    "                   errors per layer overlaid and their difference, compression ratio per\n"
    "                   layer, mode spectra of both sides with each one's rank cut, and the\n"
    "                   sweeps' change in loss side by side. DIR is written as a whole (a staging\n"
    "                   directory renamed into place) and may not be or contain A or B.\n"
    "  --json           print compare.json's document instead of the table\n"
    "  --label-a NAME   name of A in the table, legends and JSON (default A)\n"
    "  --label-b NAME   name of B (default B)\n"
    "\n"
    "Exit status: 0 compared, 1 unreadable or invalid input, 2 usage error.\n";

}  // namespace

int cmd_compare(const std::vector<std::string>& argv) {
    Args args(argv, {"help", "json"}, {"out", "label-a", "label-b"});
    if (args.flag("help")) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    if (args.positional().size() != 2)
        throw std::invalid_argument("expected two results A and B, got " + std::to_string(args.positional().size()) +
                                    " (see --help)");
    const std::string pa = args.positional()[0], pb = args.positional()[1];
    const std::string la = args.value("label-a").value_or("A"), lb = args.value("label-b").value_or("B");
    if (la.empty() || lb.empty()) throw std::invalid_argument("--label-a and --label-b may not be empty");
    if (la == lb) throw std::invalid_argument("--label-a and --label-b are both '" + la + "'; give distinct names");
    const auto out = args.value("out");
    std::unique_ptr<io::OutputLock> lock;
    if (out) {
        // The inputs are sources: --out may not be one of them nor hold one.
        io::SourceSet src;
        for (const auto& p : {pa, pb}) {
            std::error_code ec;
            if (std::filesystem::is_directory(p, ec))
                src.add_directory(p);
            else
                src.add_file(p);
        }
        io::check_output_dir(src, "--out", *out, exporting::kCompareKind, true);
        lock = std::make_unique<io::OutputLock>(io::normalise_destination(*out));
        for (const auto& note : lock->notes()) std::fprintf(stderr, "tensorllm compare: note: %s\n", note.c_str());
    }
    auto a = exporting::load_compare_side(pa, la);
    auto b = exporting::load_compare_side(pb, lb);
    const auto c = exporting::compare_results(std::move(a), std::move(b));
    if (args.flag("json"))
        std::printf("%s\n", exporting::comparison_json(c).dump(1).c_str());
    else
        std::fputs(exporting::comparison_text(c).c_str(), stdout);
    if (!out) return 0;
    io::prepare_destination(*out);
    io::StagingDir stage(*out);
    const std::filesystem::path dir(stage.path());
    exporting::write_text_file((dir / "compare.csv").string(), exporting::comparison_csv(c));
    if (!c.heads.empty())
        exporting::write_text_file((dir / "compare_heads.csv").string(), exporting::comparison_heads_csv(c));
    if (!c.sweep.empty())
        exporting::write_text_file((dir / "compare_sweep.csv").string(), exporting::comparison_sweep_csv(c));
    exporting::write_text_file((dir / "compare.json").string(), exporting::comparison_json(c).dump(1) + "\n");
    int figures = 0;
#ifdef TENSORLLM_HAVE_REPORT
    figures = ui::write_compare_figures(stage.path(), c, ui::FigureStyle{});
#else
    std::fprintf(stderr, "tensorllm compare: note: this build has no GUI library; tables only, no figures\n");
#endif
    io::write_output_marker(stage.path(), exporting::kCompareKind);
    stage.commit(true);
    if (!args.flag("json"))
        std::printf("\nwrote %s (tables and %d figure%s)\n", out->c_str(), figures, figures == 1 ? "" : "s");
    return 0;
}

}  // namespace tllm::cli
