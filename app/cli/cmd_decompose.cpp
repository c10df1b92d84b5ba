// tensorllm decompose: shared-factor Tucker decomposition of selected layers, headless.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <optional>
#include <tuple>
#include <utility>

#include <sys/resource.h>

#include "analysis/measures.h"
#include "args.h"
#include "commands.h"
#include "writeback/denoised_checkpoint.h"
#include "writeback/gguf_export.h"
#include "results/hdf5_results.h"
#include "results/results_tables.h"
#include "io/staging_dir.h"
#include "io/output_guard.h"
#include "job_cli.h"
#include "jobs/job_runner.h"
#include "model/model.h"
#include "util/layer_list.h"

namespace tllm::cli {
namespace {

const char* kHelp =
    "usage: tensorllm decompose MODEL|--demo (--ranks R1,R2,R3 | --tol EPS | --ratio CR | --params N)\n"
    "                           (--out DIR | --h5 FILE | --denoised DIR | --factorised DIR)... [options]\n"
    "\n"
    "Decomposes the attention of the selected layers (W_all, d x head_dim x 4 x heads) by a\n"
    "Tucker decomposition with factors shared across heads, and writes the outputs asked for.\n"
    "\n"
    "outputs (at least one; any combination):\n"
    "  --out DIR            results.json and CSV tables (layers.csv, heads.csv, spectra.csv,\n"
    "                       head_spectra.csv, trace.csv)\n"
    "  --h5 FILE            every result in one HDF5 file: factors U1, U2, U3 and cores, errors\n"
    "                       (layer, type, head x type), traces, timings, captured energy,\n"
    "                       parameter counts, spectra, the model layout, a fingerprint of the\n"
    "                       source checkpoint and all options (docs/hdf5-schema.md). Read it\n"
    "                       with 'tensorllm show FILE', h5py or any HDF5 tool\n"
    "  --denoised DIR       the model as a checkpoint with the decomposed layers' Q, K, V and O\n"
    "                       weights replaced by their reconstructions: same tensor names, shapes,\n"
    "                       dtypes, shards and index; every other tensor byte-identical;\n"
    "                       config.json and tokenizer files copied (docs/denoised-checkpoint.md)\n"
    "  --factorised DIR     the same checkpoint but with the decomposed layers' dense Q, K, V, O\n"
    "                       replaced by float32 tensors tensorllm.layers.L.{U1,U2,U3,core}\n"
    "  --denoised FILE.gguf, --factorised FILE.gguf\n"
    "                       for a GGUF model: one GGUF file, every metadata pair and every other\n"
    "                       tensor copied byte for byte (docs/gguf.md)\n"
    "  --gguf-type TYPE     type of the rewritten GGUF tensors: f32 (default), f16, bf16, q8_0,\n"
    "                       q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, or source (each tensor's own)\n"
    "  --overwrite          replace an earlier --denoised/--factorised output of this tool (the\n"
    "                       old content stays until the new checkpoint is complete); a\n"
    "                       directory this tool did not write is never replaced\n"
    "\n"
    "%s"  // rank choice and method options (job_cli.cpp)
    "  --no-spectra         skip the mode spectra (faster with --ranks)\n"
    "  --arch FILE          extra architecture layouts (docs/architectures.md)\n"
    "  --quiet              no progress bar\n"
    "\n"
    "No output may be, replace or contain a file of the model (refused with exit 2). Every output\n"
    "is written to a temporary file or directory beside it and moved into place only when\n"
    "complete: a failure (e.g. a full disk) leaves no partial output and any previous file or\n"
    "directory untouched; --out replaces an earlier results set as a whole. Two runs cannot\n"
    "write the same output at once (the second stops with an error). Outputs are written in the order --out, --h5, "
    "--denoised,\n"
    "--factorised. Ctrl-C during the decomposition writes nothing; during the writing it stops\n"
    "the output in progress (nothing partial is left) and skips the rest.\n"
    "Layers that failed keep their original weights in --denoised/--factorised.\n"
    "Exit status: 0 all layers done, 1 error, 2 usage error, 3 some layers failed (see\n"
    "layers.csv or 'tensorllm show'), 130 cancelled.\n";

// Refuses, before any computation, outputs that would touch the source or could only fail at
// the end (io::UnsafeOutput, exit 2), then locks every output for the rest of the run.
std::vector<std::unique_ptr<io::OutputLock>> check_and_lock_destinations(const io::SourceSet& src,
                                                                         const std::optional<std::string>& out,
                                                                         const std::optional<std::string>& h5,
                                                                         const std::optional<std::string>& denoised,
                                                                         const std::optional<std::string>& factorised,
                                                                         bool overwrite, bool gguf, const char* prog) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (gguf) {
        // A GGUF model's denoised form is one GGUF file.
        for (const auto& [name, v] : {std::pair{"--denoised", denoised}, std::pair{"--factorised", factorised}}) {
            if (!v) continue;
            if (!v->ends_with(".gguf"))
                throw std::invalid_argument(std::string(name) + " " + *v +
                                            ": the model is a GGUF file, so this output is a .gguf file");
            io::check_output_file(src, name, *v);
        }
    }
    if (out) io::check_output_dir(src, "--out", *out, exporting::kResultsKind, true);
    if (h5) {
        io::check_output_file(src, "--h5", *h5);
        const fs::path parent = fs::path(*h5).parent_path();
        if (!parent.empty() && !fs::is_directory(parent, ec))
            throw std::invalid_argument("--h5 " + *h5 + ": directory " + parent.string() + " does not exist");
    }
    if (denoised && !gguf) io::check_output_dir(src, "--denoised", *denoised, "denoised", overwrite);
    if (factorised && !gguf) io::check_output_dir(src, "--factorised", *factorised, "factorised", overwrite);
    std::vector<std::pair<std::string, std::string>> given;
    for (const auto& [name, v] : {std::pair{"--out", out}, std::pair{"--h5", h5}, std::pair{"--denoised", denoised},
                                  std::pair{"--factorised", factorised}})
        if (v) given.emplace_back(name, fs::weakly_canonical(fs::absolute(io::normalise_destination(*v)), ec).string());
    for (std::size_t i = 0; i < given.size(); ++i)
        for (std::size_t j = i + 1; j < given.size(); ++j)
            if (given[i].second == given[j].second)
                throw std::invalid_argument(given[i].first + " and " + given[j].first + " name the same path");
    std::vector<std::unique_ptr<io::OutputLock>> locks;
    for (const auto& v : {out, h5, denoised, factorised}) {
        if (!v) continue;
        locks.push_back(std::make_unique<io::OutputLock>(io::normalise_destination(*v)));
        for (const auto& note : locks.back()->notes()) std::fprintf(stderr, "%s: note: %s\n", prog, note.c_str());
    }
    return locks;
}

// Writes the requested outputs in order; false when cancelled (Ctrl-C) part-way.
bool write_outputs(const model::Model& m, const jobs::JobOptions& opt, const jobs::JobSummary& s,
                   const std::optional<std::string>& out, const std::optional<std::string>& h5,
                   const std::optional<std::string>& denoised, const std::optional<std::string>& factorised,
                   bool overwrite, std::optional<io::GgmlType> gguf_type, const std::atomic<bool>* interrupt,
                   const char* prog) {
    util::Control ctl;
    ctl.cancel = interrupt;
    const char* current = "";
    try {
        if (out) {
            current = "--out";
            exporting::write_results(*out, m, opt, s, ctl);
            std::printf("wrote %s/{results.json,layers.csv,heads.csv,spectra.csv,head_spectra.csv,trace.csv}\n",
                        out->c_str());
        }
        if (h5) {
            current = "--h5";
            exporting::write_results_hdf5(*h5, m, opt, s, {}, ctl);
            std::printf("wrote %s (HDF5 results)\n", h5->c_str());
        }
        for (const auto& [name, dir, form] :
             {std::tuple{"--denoised", denoised, exporting::CheckpointForm::Dense},
              std::tuple{"--factorised", factorised, exporting::CheckpointForm::Factorised}}) {
            if (!dir) continue;
            current = name;
            if (std::none_of(s.layers.begin(), s.layers.end(), [](const auto& r) { return r.complete(); })) {
                std::fprintf(stderr, "%s: %s %s skipped: no layer was decomposed\n", prog, name, dir->c_str());
                continue;
            }
            if (m.checkpoint().gguf()) {
                const auto rep = exporting::write_denoised_gguf(*dir, m, opt, s, {form, gguf_type}, ctl);
                for (const auto& w : rep.warnings) std::fprintf(stderr, "%s: %s: %s\n", prog, name, w.c_str());
                std::printf("wrote %s (%s GGUF: layers %s, %zu tensors rewritten)\n", dir->c_str(),
                            exporting::checkpoint_form_name(form), util::format_layer_list(rep.layers).c_str(),
                            rep.replaced_tensors.size());
                continue;
            }
            exporting::DenoisedOptions d;
            d.form = form;
            d.overwrite = overwrite;
            const auto rep = exporting::write_denoised_checkpoint(*dir, m, opt, s, d, ctl);
            for (const auto& w : rep.warnings) std::fprintf(stderr, "%s: %s: %s\n", prog, name, w.c_str());
            std::printf("wrote %s (%s checkpoint: layers %s, %zu files)\n", dir->c_str(),
                        exporting::checkpoint_form_name(form), util::format_layer_list(rep.layers).c_str(),
                        rep.files.size());
        }
    } catch (const util::Cancelled&) {
        std::fprintf(stderr,
                     "%s: cancelled while writing %s; that output was not written, and the ones after it were "
                     "skipped\n",
                     prog, current);
        return false;
    }
    return true;
}

}  // namespace

int cmd_decompose(const std::vector<std::string>& argv) { return decompose_command(argv, DecomposeHooks{}); }

int decompose_command(const std::vector<std::string>& argv, const DecomposeHooks& hooks) {
    const char* prog = hooks.prog;
    auto names = job_option_names();
    for (const char* o : {"out", "arch", "h5", "denoised", "factorised", "gguf-type"}) names.insert(o);
    Args args(argv, {"help", "demo", "no-spectra", "quiet", "overwrite"}, names);
    if (args.flag("help")) {
        std::printf(kHelp, job_options_help());
        return 0;
    }
    const std::string path = resolve_model_path(args.positional(), args.flag("demo"), "decompose");
    const auto out = args.value("out");
    const auto h5 = args.value("h5");
    const auto denoised = args.value("denoised");
    const auto factorised = args.value("factorised");
    if (!out && !h5 && !denoised && !factorised)
        throw std::invalid_argument(
            "give at least one output: --out DIR, --h5 FILE, --denoised DIR or --factorised DIR");

    std::vector<model::ArchitectureSpec> extra;
    const auto arch = args.value("arch");
    if (arch) extra = model::read_architectures(*arch);
    auto model = std::make_shared<const model::Model>(path, extra);
    io::SourceSet sources = model->checkpoint().sources();
    if (arch) sources.add_file(*arch);
    std::optional<io::GgmlType> gguf_type = io::GgmlType::F32;
    if (const auto t = args.value("gguf-type")) {
        if (!model->checkpoint().gguf())
            throw std::invalid_argument("--gguf-type applies to a GGUF model; " + path + " is not one");
        gguf_type = *t == "source" ? std::optional<io::GgmlType>() : parse_gguf_type("--gguf-type", *t);
    }
    std::vector<std::unique_ptr<io::OutputLock>> locks;
    if (hooks.writer)
        locks = check_and_lock_destinations(sources, out, h5, denoised, factorised, args.flag("overwrite"),
                                            model->checkpoint().gguf() != nullptr, prog);
    jobs::JobOptions opt = parse_job_options(args, *model, false);
    opt.spectra = !args.flag("no-spectra");

    // Ctrl-C stays armed while the outputs are written (they honour the same flag).
    InterruptGuard interrupt;
    const auto summary = hooks.run ? hooks.run(model, opt, args.flag("quiet"), *interrupt.flag())
                                   : run_job(model, opt, args.flag("quiet"), *interrupt.flag());
    if (!hooks.writer) return summary->cancelled ? 130 : 0;
    if (summary->cancelled) {
        std::fprintf(stderr, "%s: cancelled after %.1fs; nothing written\n", prog, summary->seconds);
        return 130;
    }
    int warned = 0;
    for (const auto& r : summary->layers) {
        if (r.complete()) {
            // The worst of the Q, K, V, O errors: the layer error is dominated by the slices
            // with the largest norms and can hide a slice that is almost erased.
            const int worst = analysis::worst_slice(r.measures);
            const double we = r.measures.type_error[std::size_t(worst)];
            std::printf("layer %-4d ranks %d,%d,%d  error %.4f  worst %c %.4f%s  ratio %.2f  %s  %.2fs\n", r.layer,
                        r.ranks[0], r.ranks[1], r.ranks[2], r.measures.rel_error, "QKVO"[worst], we,
                        we > analysis::kSliceErrorWarning ? "!" : " ", r.measures.ratio,
                        r.warnings.empty() ? tucker::status_name(r.status) : "warning", r.seconds_total);
            for (const auto& w : r.warnings) std::printf("           warning: %s\n", w.c_str());
            warned += !r.warnings.empty();
        } else {
            std::printf("layer %-4d %s: %s\n", r.layer, tucker::status_name(r.status), r.message.c_str());
        }
    }
    if (summary->layers.empty()) {
        std::fprintf(stderr, "%s: no layer was decomposed (the selection is empty); nothing written\n", prog);
        return 1;
    }
    struct rusage ru {};
    ::getrusage(RUSAGE_SELF, &ru);
    std::printf("decomposed %zu layer(s) in %.2fs, peak resident memory %.0f MiB\n", summary->layers.size(),
                summary->seconds, double(ru.ru_maxrss) / 1024.0);
    if (warned > 0)
        std::fprintf(stderr, "%s: %d layer(s) with warnings (see above); a slice error marked ! is above %.2f\n", prog,
                     warned, analysis::kSliceErrorWarning);
    if (hooks.fail_on_layer_error && summary->failed > 0) {
        for (const auto& r : summary->layers)
            if (r.status == tucker::Status::Failed)
                std::fprintf(stderr, "%s: layer %d failed: %s\n", prog, r.layer, r.message.c_str());
        std::fprintf(stderr, "%s: %d layer(s) failed; nothing written\n", prog, summary->failed);
        return 3;
    }
    if (!write_outputs(*model, opt, *summary, out, h5, denoised, factorised, args.flag("overwrite"), gguf_type,
                       interrupt.flag(), prog))
        return 130;
    if (summary->failed > 0) {
        std::fprintf(stderr, "%s: %d layer(s) failed; see layers.csv\n", prog, summary->failed);
        return 3;
    }
    return 0;
}

}  // namespace tllm::cli
