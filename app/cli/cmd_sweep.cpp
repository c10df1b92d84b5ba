// tensorllm sweep: a grid of edits (layers x rank choices, LASER), each applied alone and
// evaluated against the unedited model (docs/evaluation-in-the-loop.md).
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "edits/sweep.h"
#include "eval/evaluate.h"
#include "eval/tokenizer.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "io/output_guard.h"
#include "io/staging_dir.h"
#include "job_cli.h"
#include "results/sweep_hdf5.h"
#include "results/sweep_tables.h"
#include "sweep_cli.h"
#include "util/json_checksum.h"
#include "util/layer_list.h"
#include "util/resources.h"

#ifdef TENSORLLM_HAVE_SWEEP_FIGURES
#include "report/sweep_figures.h"
#endif

namespace tllm::cli {
namespace {

const char* kHelp =
    "usage: tensorllm sweep MODEL|--demo [--text FILE] [--mc FILE.jsonl] [--layers LIST]\n"
    "                       (--ranks-list \"R1,R2,R3;...\" | --tols LIST | --ratios LIST | --laser LIST)...\n"
    "                       [--method M] [--combine] [--out DIR] [--json] [options]\n"
    "\n"
    "Edits one layer at a time and measures what each edit does to the model against the\n"
    "unedited model on the same text: mean NLL and its change with a standard error (windows\n"
    "paired), KL divergence of the next-token distribution (mean and 99th percentile), top-1\n"
    "agreement, the multiple-choice accuracy (--mc), the layer's weight error and the layer's\n"
    "and the model's compression ratio. Points appear as they finish; Ctrl-C stops and keeps\n"
    "the finished ones (printed; written only to --save-partial FILE).\n"
    "\n"
    "edits (any combination; each applied alone to every layer of --layers):\n"
    "  --ranks-list \"R1,R2,R3;...\"  attention decomposed at these ranks\n"
    "  --tols LIST           at the smallest ranks with guaranteed error <= each EPS (0.1,0.2)\n"
    "  --ratios LIST         at the least error with compression ratio >= each CR (4,8)\n"
    "  --laser LIST          LASER: MLP matrix truncated to a rank, e.g. down:16,up:8 (up, down,\n"
    "                        gate; gate for llama-family models)\n"
    "  --combine             also every (attention choice, LASER choice) pair together\n"
    "data:\n"
    "  --text FILE           evaluation text (default with --demo: the bundled 64 KiB of the\n"
    "                        demo model's validation text)\n"
    "  --ctx N --stride S    sliding windows (default: the model's positions, at most 1024;\n"
    "                        stride = ctx); --max-tokens N scores the first N tokens only\n"
    "  --mc FILE.jsonl       also multiple-choice accuracy ({\"context\", \"choices\", \"answer\"})\n"
    "options:\n"
    "  --layers LIST         e.g. 0-3,7 (default: every layer)\n"
    "  --method M            hosvd | sthosvd | hooi (default hooi); --init, --iters, --hooi-tol,\n"
    "                        --solver, --mode-order, --balance on|off as for decompose\n"
    "  --cache-mib N         hidden states kept to start edited passes at the edited layer\n"
    "                        (default 2048; 0 runs every pass from the embeddings)\n"
    "  --out DIR             results.json, sweep.csv and the figures (PNG, SVG, PDF, CSV)\n"
    "  --h5 FILE             the sweep as an HDF5 file (docs/hdf5-schema.md, \"Sweep files\";\n"
    "                        tensorllm show FILE prints it)\n"
    "  --json                print the sweep as JSON on stdout\n"
    "  --threads N           worker threads (default: all cores); results do not depend on it\n"
    "  --save-partial FILE   when cancelled (Ctrl-C, SIGTERM), write the finished points to FILE\n"
    "                        (a sweep results.json) to continue from with --resume\n"
    "  --resume FILE         a sweep results.json of an earlier run of the same sweep (its\n"
    "                        --out DIR/results.json or --save-partial FILE): run only the points\n"
    "                        it lacks (or that failed there); the outputs hold all of them\n"
    "  --quiet               no progress bar\n"
    "Exit status: 0 done, 1 error, 2 usage error, 130 cancelled (Ctrl-C).\n";

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos <= s.size()) {
        std::size_t e = s.find(sep, pos);
        if (e == std::string::npos) e = s.size();
        std::string item = s.substr(pos, e - pos);
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (!item.empty()) out.push_back(item);
        pos = e + 1;
    }
    return out;
}

double parse_number(const std::string& s, const std::string& what) {
    try {
        std::size_t used = 0;
        const double v = std::stod(s, &used);
        if (used == s.size() && std::isfinite(v)) return v;
    } catch (const std::exception&) {}
    throw std::invalid_argument(what + ": '" + s + "' is not a number");
}

}  // namespace

std::vector<tucker::RankSpec> parse_rank_choices(const Args& args) {
    std::vector<tucker::RankSpec> out;
    if (auto v = args.value("ranks-list")) {
        const auto items = split(*v, ';');
        if (items.empty()) throw std::invalid_argument("--ranks-list: empty list");
        for (const auto& it : items) {
            tucker::RankSpec s;
            s.kind = tucker::RankSpec::Kind::Fixed;
            s.ranks = tucker::parse_ranks(it, "--ranks-list");
            out.push_back(s);
        }
    }
    if (auto v = args.value("tols")) {
        const auto items = split(*v, ',');
        if (items.empty()) throw std::invalid_argument("--tols: empty list");
        for (const auto& it : items) {
            tucker::RankSpec s;
            s.kind = tucker::RankSpec::Kind::Tolerance;
            s.tolerance = parse_number(it, "--tols");
            if (!(s.tolerance > 0 && s.tolerance <= 1))
                throw std::invalid_argument("--tols: " + it + " is outside (0, 1]");
            out.push_back(s);
        }
    }
    if (auto v = args.value("ratios")) {
        const auto items = split(*v, ',');
        if (items.empty()) throw std::invalid_argument("--ratios: empty list");
        for (const auto& it : items) {
            tucker::RankSpec s;
            s.kind = tucker::RankSpec::Kind::Ratio;
            s.ratio = parse_number(it, "--ratios");
            if (!(s.ratio > 0)) throw std::invalid_argument("--ratios: " + it + " must be positive");
            out.push_back(s);
        }
    }
    return out;
}

void print_point_row(const edits::SweepPoint& p, bool mc) {
    if (!p.ran()) {
        std::printf("%5d  %-22s  %s: %s\n", p.spec.layer, p.label.c_str(), tucker::status_name(p.status),
                    p.message.c_str());
        return;
    }
    std::printf("%5d  %-22s  %8.4f  %7.2f  %9.5f  %+9.5f ± %7.5f  %9.2e  %9.2e  %6.4f", p.spec.layer, p.label.c_str(),
                std::isfinite(p.weight_error) ? p.weight_error : p.laser_error, p.layer_ratio, p.mean_nll, p.delta_nll,
                p.delta_nll_stderr, p.kl_mean, p.kl_p99, p.top1_agreement);
    if (mc && p.mc) std::printf("  %6.4f (%+.4f)", p.mc->acc, p.mc->delta_acc);
    std::printf("\n");
}

int cmd_sweep(const std::vector<std::string>& argv) { return sweep_command(argv, SweepHooks{}); }

namespace {

// The points of an earlier run of the same sweep (--resume FILE): its results.json, or the
// file --save-partial wrote when that run was cancelled. Failed points are run again.
edits::SweepResult read_resume_file(const std::string& file) {
    const std::string text = io::read_regular_file(file, eval::kMaxEvalFileBytes, "--resume");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error("--resume " + file + ": not a JSON document: " + e.what());
    }
    util::verify_json_checksum(j, "--resume " + file);
    return exporting::sweep_from_json(j, "--resume " + file);
}

// Throws std::invalid_argument naming the field where `old` is not a run of the same sweep.
void check_resumable(const edits::SweepResult& old, const edits::SweepOptions& opt, const std::vector<int>& layers,
                     const std::string& text_source, const std::string& mc_source, const std::string& file) {
    const std::string w = "--resume " + file + ": ";
    if (old.layers != layers)
        throw std::invalid_argument(w + "layers " + util::format_layer_list(old.layers) + " differ from this run's " +
                                    util::format_layer_list(layers));
    if (old.text_source != text_source)
        throw std::invalid_argument(w + "text '" + old.text_source + "' differs from this run's '" + text_source + "'");
    if (old.mc_source != mc_source)
        throw std::invalid_argument(w + "multiple-choice file '" + old.mc_source + "' differs from this run's '" +
                                    mc_source + "'");
    if (old.options.tucker.method != opt.tucker.method || old.options.tucker.init != opt.tucker.init ||
        old.options.tucker.max_iterations != opt.tucker.max_iterations ||
        old.options.tucker.tolerance != opt.tucker.tolerance || old.options.balance_slices != opt.balance_slices)
        throw std::invalid_argument(w + "the decomposition options (method, init, iters, hooi-tol, balance) differ");
    if (old.options.ppl.max_tokens != opt.ppl.max_tokens || (opt.ppl.ctx > 0 && old.options.ppl.ctx != opt.ppl.ctx) ||
        (opt.ppl.stride > 0 && old.options.ppl.stride != opt.ppl.stride))
        throw std::invalid_argument(w + "the windows (ctx, stride, max-tokens) differ");
    if (old.options.combine != opt.combine) throw std::invalid_argument(w + "--combine differs");
    auto labels = [](const edits::SweepOptions& o) {
        std::vector<std::string> l;
        for (const auto& p : edits::sweep_grid(o, {0})) l.push_back(edits::point_label(o, p));
        return l;
    };
    if (labels(old.options) != labels(opt)) throw std::invalid_argument(w + "the edits (rank choices, LASER) differ");
}

// Writes the finished points of a cancelled sweep as a sweep results.json for --resume.
void write_partial(const std::string& file, const edits::SweepResult& r) {
    auto doc = exporting::sweep_json(r);
    util::add_json_checksum(doc);
    const std::string text = doc.dump(1) + "\n";
    io::AtomicFile f(file);
    f.write(text.data(), text.size());
    f.commit();
}

}  // namespace

int sweep_command(const std::vector<std::string>& argv, const SweepHooks& hooks) {
    const char* prog = hooks.prog;
    std::set<std::string> names = job_option_names();
    for (const char* o : {"ranks", "layer-ranks", "tol", "ratio", "params"}) names.erase(o);
    for (const char* o : {"text", "mc", "ctx", "stride", "max-tokens", "ranks-list", "tols", "ratios", "laser", "out",
                          "cache-mib", "h5", "resume", "save-partial"})
        names.insert(o);
    Args args(argv, {"help", "demo", "json", "quiet", "combine"}, names);
    if (args.flag("help")) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    const bool demo = args.flag("demo");
    const std::string path = resolve_model_path(args.positional(), demo, "sweep");
    std::string text_file;
    if (auto f = args.value("text"))
        text_file = *f;
    else if (demo)
        text_file = util::default_eval_text();
    else
        throw std::invalid_argument("--text FILE is required (the bundled default text is for --demo)");

    edits::SweepOptions opt;
    opt.choices = parse_rank_choices(args);
    if (auto l = args.value("laser")) opt.laser = edits::parse_laser_list(*l, "--laser");
    opt.combine = args.flag("combine");
    opt.ppl.ctx = args.int_value("ctx", 0);
    opt.ppl.stride = args.int_value("stride", 0);
    if (opt.ppl.ctx < 0 || (args.value("ctx") && opt.ppl.ctx < 2))
        throw std::invalid_argument("--ctx: must be at least 2");
    if (opt.ppl.stride < 0 || (args.value("stride") && opt.ppl.stride < 1))
        throw std::invalid_argument("--stride: must be positive");
    const double max_tokens = args.double_value("max-tokens", 0);
    if (max_tokens < 0 || (args.value("max-tokens") && max_tokens < 2))
        throw std::invalid_argument("--max-tokens: must be at least 2");
    opt.ppl.max_tokens = static_cast<std::int64_t>(max_tokens);
    const double cache_mib = args.double_value("cache-mib", 2048);
    if (!(cache_mib >= 0 && cache_mib <= 1 << 24)) throw std::invalid_argument("--cache-mib: must be in 0..16777216");
    opt.prefix_cache_bytes = static_cast<std::uint64_t>(cache_mib * 1024.0 * 1024.0);
    if (opt.choices.empty() && opt.laser.empty())
        throw std::invalid_argument("give at least one edit: --ranks-list, --tols, --ratios or --laser");

    auto model = std::make_shared<const model::Model>(path);
    const jobs::JobOptions jo = parse_job_options(args, *model, true);
    opt.layers = jo.layers;
    opt.tucker = jo.tucker;
    opt.balance_slices = jo.balance_slices;
    opt.threads = jo.threads;

    // Outputs are checked (and locked) before anything runs: never a file the sweep reads.
    const auto out = args.value("out");
    const auto h5 = args.value("h5");
    const auto resume = args.value("resume");
    const auto partial = args.value("save-partial");
    io::SourceSet sources = model->checkpoint().sources();
    sources.add_file(text_file);
    if (auto mc = args.value("mc")) sources.add_file(*mc);
    if (resume) sources.add_file(*resume);
    std::vector<std::unique_ptr<io::OutputLock>> locks;
    if (hooks.writer) {
        if (out) io::check_output_dir(sources, "--out", *out, exporting::kSweepKind, true);
        if (h5) io::check_output_file(sources, "--h5", *h5);
        if (partial) io::check_output_file(sources, "--save-partial", *partial);
        const std::vector<std::pair<const char*, std::optional<std::string>>> given{
            {"--out", out}, {"--h5", h5}, {"--save-partial", partial}};
        for (std::size_t a = 0; a < given.size(); ++a)
            for (std::size_t b = a + 1; b < given.size(); ++b)
                if (given[a].second && given[b].second &&
                    io::normalise_destination(*given[a].second) == io::normalise_destination(*given[b].second))
                    throw io::UnsafeOutput(std::string(given[a].first) + " and " + given[b].first +
                                           " name the same path: " + *given[a].second);
        for (const auto& o : {out, h5, partial}) {
            if (!o) continue;
            locks.push_back(std::make_unique<io::OutputLock>(io::normalise_destination(*o)));
            for (const auto& note : locks.back()->notes()) std::fprintf(stderr, "%s: note: %s\n", prog, note.c_str());
        }
    }

    eval::ForwardOptions fopt;
    fopt.threads = opt.threads;
    eval::Transformer t(model, fopt);
    const auto tok = eval::load_tokenizer(model->checkpoint(), t.config().vocab_size);
    if (opt.ppl.ctx > t.config().max_positions)
        throw std::invalid_argument("--ctx " + std::to_string(opt.ppl.ctx) + " is above the model's " +
                                    std::to_string(t.config().max_positions) + " positions");
    opt.validate(*model, t);
    const std::string text = io::read_regular_file(text_file, eval::kMaxEvalFileBytes);
    edits::SweepInput in = edits::make_sweep_input(*tok, text, text_file);
    if (auto mc = args.value("mc")) {
        in.mc = eval::read_mc_jsonl(*mc);
        in.mc_source = *mc;
    }

    // --resume: only the points the earlier run did not finish (or that failed there) run.
    std::vector<edits::SweepPoint> kept;
    std::optional<edits::SweepResult> old;
    if (resume) {
        old = read_resume_file(*resume);
        std::vector<int> layers = opt.layers;
        if (layers.empty())
            for (const auto& l : model->layers()) layers.push_back(l.index);
        check_resumable(*old, opt, layers, in.text_source, in.mc_source, *resume);
        const auto grid = edits::sweep_grid(opt, layers);
        std::vector<bool> done(grid.size(), false);
        for (const auto& p : old->points) {
            if (p.status == tucker::Status::Failed || p.status == tucker::Status::Cancelled) continue;
            for (std::size_t i = 0; i < grid.size(); ++i)
                if (grid[i].layer == p.spec.layer && grid[i].choice == p.spec.choice && grid[i].laser == p.spec.laser &&
                    !done[i]) {
                    done[i] = true;
                    kept.push_back(p);
                }
        }
        for (std::size_t i = 0; i < grid.size(); ++i)
            if (!done[i]) opt.only.push_back(i);
        if (opt.only.empty())
            throw std::invalid_argument("--resume " + *resume + ": every point of the sweep is already there (" +
                                        std::to_string(grid.size()) + "); nothing to run");
        if (hooks.writer && !args.flag("json"))
            std::printf("resuming from %s: %zu of %zu points done, %zu to run\n", resume->c_str(), kept.size(),
                        grid.size(), opt.only.size());
    }

    InterruptGuard interrupt;
    const bool json = args.flag("json");
    const bool has_mc = !in.mc.empty();
    SweepProgress progress;
    progress.header = [&](const edits::SweepBaseline& b) {
        if (json || !hooks.writer) return;
        std::printf("%s: %s, %lld tokens, ctx %d, stride %d, %d windows\n", path.c_str(), text_file.c_str(),
                    (long long)b.ppl.n_tokens, b.ppl.ctx, b.ppl.stride, b.ppl.n_windows());
        std::printf("unedited: mean NLL %.6f ± %.6f nats/token, perplexity %.4f", b.ppl.mean_nll, b.ppl.mean_nll_stderr,
                    b.ppl.perplexity);
        if (b.mc) std::printf(", acc %.4f ± %.4f (%zu items)", b.mc->acc, b.mc->acc_stderr, b.mc->items.size());
        std::printf("\n%5s  %-22s  %8s  %7s  %9s  %21s  %9s  %9s  %6s%s\n", "layer", "edit", "w.error", "ratio",
                    "mean NLL", "delta NLL ± s.e.", "KL mean", "KL p99", "top-1", has_mc ? "  acc (delta)" : "");
    };
    progress.point = [&](const edits::SweepPoint& p) {
        if (!json && hooks.writer) print_point_row(p, has_mc);
    };
    auto r = hooks.run
                 ? hooks.run(*model, t, *tok, in, opt, args.flag("quiet"), *interrupt.flag(), progress)
                 : run_sweep_with_progress(*model, t, *tok, in, opt, args.flag("quiet"), *interrupt.flag(), progress);
    if (!hooks.writer) return r.cancelled ? 130 : 0;
    if (old) {
        // The same model and text give the same unedited loss to the last bit; anything else
        // means the earlier points were measured against something else.
        if (!r.cancelled && !(old->baseline.ppl.mean_nll == r.baseline.ppl.mean_nll))
            throw std::runtime_error("--resume " + *resume + ": its unedited mean NLL " +
                                     std::to_string(old->baseline.ppl.mean_nll) + " differs from this run's " +
                                     std::to_string(r.baseline.ppl.mean_nll) +
                                     " (a different model, text or build); not merged");
        edits::merge_points(r, std::move(kept), "--resume " + *resume);
    }
    r.options.only.clear();
    if (r.cancelled) {
        std::fprintf(stderr, "%s: cancelled after %.1fs; %zu of %zu points finished (%s)\n", prog, r.seconds,
                     r.points.size(), r.grid_size, partial ? "kept in --save-partial" : "nothing written");
        if (partial && !r.points.empty() && r.baseline.ppl.n_windows() > 0) {
            write_partial(*partial, r);
            std::fprintf(stderr, "%s: wrote %s (%zu points; continue with --resume %s)\n", prog, partial->c_str(),
                         r.points.size(), partial->c_str());
        }
        return 130;
    }
    if (hooks.fail_on_point_error) {
        int failed = 0;
        for (const auto& p : r.points)
            if (p.status == tucker::Status::Failed) {
                std::fprintf(stderr, "%s: layer %d, %s failed: %s\n", prog, p.spec.layer, p.label.c_str(),
                             p.message.c_str());
                ++failed;
            }
        if (failed > 0) {
            std::fprintf(stderr, "%s: %d point(s) failed; nothing written\n", prog, failed);
            return 3;
        }
    }
    if (!json)
        std::printf(
            "%zu points in %.1f s; prefix cache: %zu layer(s)%s kept (%s), about %.1f s of layer passes saved\n",
            r.points.size(), r.seconds, r.prefix.layers.size(),
            r.prefix.distribution ? " and the unedited distributions" : "",
            util::format_bytes(r.prefix.used_bytes).c_str(), r.prefix.seconds_saved);
    if (out) {
        exporting::write_sweep_set(
            *out, sources, "--out", r,
#ifdef TENSORLLM_HAVE_SWEEP_FIGURES
            [&](const std::string& dir) { ui::write_sweep_figures(dir, r, ui::FigureStyle{}); },
#else
            {},
#endif
            util::Control{interrupt.flag()});
        if (!json) std::printf("wrote %s\n", out->c_str());
    }
    if (h5) {
        exporting::write_sweep_hdf5(*h5, r, sources, util::Control{interrupt.flag()});
        if (!json) std::printf("wrote %s (HDF5 sweep)\n", h5->c_str());
    }
    if (json) std::printf("%s\n", exporting::sweep_json(r).dump(2).c_str());
    int failed = 0;
    for (const auto& p : r.points) failed += p.status == tucker::Status::Failed;
    return failed == int(r.points.size()) ? 1 : 0;
}

}  // namespace tllm::cli
