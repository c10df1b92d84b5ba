// tensorllm evaluate: perplexity, multiple-choice accuracy or last-word accuracy of a model.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "edits/sweep.h"
#include "eval/evaluate.h"
#include "eval/forward.h"
#include "eval/tokenizer.h"
#include "eval_cli.h"
#include "io/mapped_file.h"
#include "job_cli.h"
#include "model/model.h"
#include "results/hdf5_results.h"
#include "util/resources.h"
#include "results/results_reader_process.h"

namespace tllm::cli {
namespace {

const char* kHelp =
    "usage: tensorllm evaluate MODEL|--demo (--text FILE [--ctx N] [--stride S] [--max-tokens N]\n"
    "                                      | --mc FILE.jsonl | --last-word FILE) [options]\n"
    "\n"
    "Runs the model on the CPU and measures it (docs/evaluation.md):\n"
    "  --text FILE        perplexity of the text: mean negative log-likelihood (nats per token),\n"
    "                     perplexity, bits per byte, scored tokens, windows. Sliding windows of\n"
    "                     --ctx tokens (default: the model's positions, at most 1024) starting every\n"
    "                     --stride tokens (default: ctx); --max-tokens N scores only the first N tokens.\n"
    "                     With --demo and no task: the bundled 64 KiB of the demo's validation text\n"
    "  --mc FILE.jsonl    multiple choice, one {\"context\", \"choices\", \"answer\"} object per line\n"
    "                     (\"query\"/\"gold\" also accepted): acc (total log-likelihood) and acc_norm\n"
    "                     (log-likelihood per byte), with standard errors\n"
    "  --last-word FILE   LAMBADA-style accuracy: each line's last word predicted greedily\n"
    "  --edit FILE.h5     apply the decompositions stored in an HDF5 results file (tensorllm\n"
    "                     decompose --h5) in memory, as the denoised checkpoint would, and report\n"
    "                     the edited model next to the unedited one: the change of the mean NLL\n"
    "                     with its standard error (windows paired), KL divergence (mean, 99th\n"
    "                     percentile) and top-1 agreement; for --mc and --last-word both accuracies\n"
    "options:\n"
    "  --json             print the result as one JSON object\n"
    "  --threads N        worker threads (default: all cores); results do not depend on it\n"
    "  --quiet            no progress bar\n"
    "\n"
    "The tokenizer is read from the model directory (tokenizer.json, vocab.json + merges.txt,\n"
    "or tokenizer.model); a model without one and a vocabulary of 256 (or 257) is byte level.\n"
    "Exit status: 0 done, 1 error, 2 usage error, 130 cancelled (Ctrl-C).\n";

// An evaluation text: a regular file (a FIFO or device is refused, never waited on).
std::string slurp(const std::string& path) { return io::read_regular_file(path, eval::kMaxEvalFileBytes); }

}  // namespace

int cmd_evaluate(const std::vector<std::string>& argv) {
    Args args(argv, {"help", "demo", "json", "quiet"},
              {"text", "mc", "last-word", "ctx", "stride", "max-tokens", "threads", "edit"});
    if (args.flag("help")) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    const std::string path = resolve_model_path(args.positional(), args.flag("demo"), "evaluate");
    const auto edit_file = args.value("edit");
    const int kinds = int(args.value("text").has_value()) + int(args.value("mc").has_value()) +
                      int(args.value("last-word").has_value());
    // The demo model without a task: perplexity of its bundled evaluation text.
    std::optional<std::string> text_file = args.value("text");
    if (kinds == 0 && args.flag("demo"))
        text_file = util::default_eval_text();
    else if (kinds != 1)
        throw std::invalid_argument("give exactly one of --text FILE, --mc FILE.jsonl, --last-word FILE");
    if (!text_file && (args.value("ctx") || args.value("stride") || args.value("max-tokens")))
        throw std::invalid_argument("--ctx, --stride and --max-tokens apply to --text only");
    eval::PerplexityOptions popt;
    popt.ctx = args.int_value("ctx", 0);
    popt.stride = args.int_value("stride", 0);
    const double max_tokens = args.double_value("max-tokens", 0);
    if (popt.ctx < 0 || (args.value("ctx") && popt.ctx < 2)) throw std::invalid_argument("--ctx: must be at least 2");
    if (popt.stride < 0 || (args.value("stride") && popt.stride < 1))
        throw std::invalid_argument("--stride: must be positive");
    if (max_tokens < 0 || (args.value("max-tokens") && max_tokens < 2))
        throw std::invalid_argument("--max-tokens: must be at least 2");
    popt.max_tokens = static_cast<std::int64_t>(max_tokens);
    eval::ForwardOptions fopt;
    fopt.threads = args.int_value("threads", 0);
    if (fopt.threads < 0) throw std::invalid_argument("--threads: must not be negative");

    const auto t0 = std::chrono::steady_clock::now();
    auto model = std::make_shared<const model::Model>(path);
    eval::Transformer t(model, fopt);
    const auto tok = eval::load_tokenizer(model->checkpoint(), t.config().vocab_size);
    if (popt.ctx > t.config().max_positions)
        throw std::invalid_argument("--ctx " + std::to_string(popt.ctx) + " is above the model's " +
                                    std::to_string(t.config().max_positions) + " positions");

    // The stored decompositions of this very checkpoint, rebuilt as the denoised checkpoint is.
    edits::EditSet edit;
    std::vector<int> edited_layers;
    if (edit_file) {
        exporting::Hdf5ReadOptions ro;
        ro.factors = true;
        const auto f = exporting::read_results_isolated(*edit_file, ro);
        exporting::verify_source(f.meta, *model);
        for (const auto& r : f.summary.layers) {
            if (!r.complete()) continue;
            edit[r.layer] = edits::attention_tensors(*model, r.layer, r.tucker);
            edited_layers.push_back(r.layer);
        }
        if (edit.empty()) throw std::runtime_error(*edit_file + ": no complete decomposition to apply");
    }

    InterruptGuard interrupt;
    const bool json = args.flag("json");
    nlohmann::ordered_json out;
    out["model"] = path;
    if (edit_file) out["edit"] = {{"file", *edit_file}, {"layers", edited_layers}};
    out["model_type"] = t.config().model_type;
    out["tokenizer"] = tok->describe();
    // An evaluation with the stored edit applied (removed again on any exit).
    const auto run_edited = [&](auto&& f) {
        edits::apply_edits(t, edit);
        struct Clear {
            eval::Transformer& t;
            ~Clear() { t.clear_layer_override(); }
        } clear{t};
        return run_with_progress("evaluate", args.flag("quiet"), *interrupt.flag(), f);
    };
    const auto finish = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    try {
        if (auto file = text_file; file && edit_file) {
            const std::string text = slurp(*file);
            const auto in = edits::make_sweep_input(*tok, text, *file);
            edits::TextComparer cmp(t, in.ids, in.token_bytes, popt, *file, edited_layers, 2ull << 30);
            const auto c =
                run_with_progress("evaluate", args.flag("quiet"), *interrupt.flag(), [&](const util::Control& ctl) {
                    cmp.baseline(ctl.sub(0, 0.5f));
                    return cmp.compare(edit, ctl.sub(0.5f, 1));
                });
            const auto& b = cmp.baseline();
            const auto& e = c.edited;
            out["task"] = "perplexity";
            out["file"] = *file;
            out["ctx"] = b.ctx;
            out["stride"] = b.stride;
            out["tokens"] = b.n_tokens;
            out["scored_tokens"] = b.n_scored;
            out["windows"] = b.n_windows();
            const auto loss = [](const eval::PerplexityResult& r) {
                return nlohmann::ordered_json{{"mean_nll", r.mean_nll},
                                              {"mean_nll_stderr", r.mean_nll_stderr},
                                              {"perplexity", r.perplexity},
                                              {"bits_per_byte", r.bits_per_byte}};
            };
            out["unedited"] = loss(b);
            out["edited"] = loss(e);
            out["delta_nll"] = c.delta_nll;
            out["delta_nll_stderr"] = c.delta_nll_stderr;
            out["kl_mean"] = c.kl_mean;
            out["kl_p99"] = c.kl_p99;
            out["top1_agreement"] = c.top1_agreement;
            out["seconds"] = finish();
            if (!json)
                std::printf(
                    "%s: %lld tokens, ctx %d, stride %d, %d windows, %lld scored tokens\n"
                    "                 unedited     edited (%s)\n"
                    "mean NLL        %.6f     %.6f   nats/token\n"
                    "perplexity      %-12.4f %.4f\n"
                    "bits per byte   %-12.6f %.6f\n"
                    "delta NLL       %+.6f (standard error %.6f, windows paired)\n"
                    "KL(unedited || edited)  mean %.3e, 99th percentile %.3e nats\n"
                    "top-1 agreement %.4f\n"
                    "time            %.1f s\n",
                    file->c_str(), (long long)b.n_tokens, b.ctx, b.stride, b.n_windows(), (long long)b.n_scored,
                    edit_file->c_str(), b.mean_nll, e.mean_nll, b.perplexity, e.perplexity, b.bits_per_byte,
                    e.bits_per_byte, c.delta_nll, c.delta_nll_stderr, c.kl_mean, c.kl_p99, c.top1_agreement, finish());
        } else if (auto file = text_file) {
            const std::string text = slurp(*file);
            const auto r = run_with_progress(
                "evaluate", args.flag("quiet"), *interrupt.flag(),
                [&](const util::Control& c) { return eval::perplexity(t, *tok, text, popt, *file, c); });
            out["task"] = "perplexity";
            out["file"] = *file;
            out["ctx"] = r.ctx;
            out["stride"] = r.stride;
            out["tokens"] = r.n_tokens;
            out["scored_tokens"] = r.n_scored;
            out["scored_bytes"] = r.n_bytes;
            out["windows"] = r.n_windows();
            out["mean_nll"] = r.mean_nll;
            out["mean_nll_stderr"] = r.mean_nll_stderr;
            out["perplexity"] = r.perplexity;
            out["bits_per_byte"] = r.bits_per_byte;
            out["sum_nll"] = r.sum_nll;
            out["seconds"] = finish();
            if (!json)
                std::printf(
                    "%s: %lld tokens, ctx %d, stride %d, %d windows, %lld scored tokens (%lld bytes)\n"
                    "mean NLL      %.6f nats/token (standard error %.6f)\n"
                    "perplexity    %.4f\n"
                    "bits per byte %.6f\n"
                    "time          %.1f s (%.0f scored tokens/s)\n",
                    file->c_str(), (long long)r.n_tokens, r.ctx, r.stride, r.n_windows(), (long long)r.n_scored,
                    (long long)r.n_bytes, r.mean_nll, r.mean_nll_stderr, r.perplexity, r.bits_per_byte, finish(),
                    double(r.n_scored) / finish());
        } else if (auto file = args.value("mc")) {
            const auto items = eval::read_mc_jsonl(*file);
            const auto r =
                run_with_progress("evaluate", args.flag("quiet"), *interrupt.flag(), [&](const util::Control& c) {
                    return eval::multiple_choice(t, *tok, items, *file, edit_file ? c.sub(0, 0.5f) : c);
                });
            out["task"] = "multiple_choice";
            out["file"] = *file;
            out["items"] = r.items.size();
            out["acc"] = r.acc;
            out["acc_stderr"] = r.acc_stderr;
            out["acc_norm"] = r.acc_norm;
            out["acc_norm_stderr"] = r.acc_norm_stderr;
            auto& per = out["per_item"] = nlohmann::ordered_json::array();
            for (const auto& it : r.items)
                per.push_back({{"loglik", it.loglik},
                               {"bytes", it.bytes},
                               {"tokens", it.n_tokens},
                               {"pick", it.pick},
                               {"pick_norm", it.pick_norm},
                               {"answer", it.answer}});
            out["seconds"] = finish();
            if (!json)
                std::printf(
                    "%s: %zu items\nacc      %.4f (standard error %.4f)\nacc_norm %.4f (standard error %.4f)\n"
                    "time     %.1f s\n",
                    file->c_str(), r.items.size(), r.acc, r.acc_stderr, r.acc_norm, r.acc_norm_stderr, finish());
            if (edit_file) {
                const auto e = run_edited([&](const util::Control& c) {
                    return eval::multiple_choice(t, *tok, items, *file, c.sub(0.5f, 1));
                });
                out["edited"] = {{"acc", e.acc},
                                 {"acc_stderr", e.acc_stderr},
                                 {"acc_norm", e.acc_norm},
                                 {"acc_norm_stderr", e.acc_norm_stderr}};
                if (!json)
                    std::printf("edited (%s): acc %.4f (standard error %.4f), acc_norm %.4f (standard error %.4f)\n",
                                edit_file->c_str(), e.acc, e.acc_stderr, e.acc_norm, e.acc_norm_stderr);
            }
        } else {
            const std::string f = *args.value("last-word");
            const std::string text = slurp(f);
            const auto r =
                run_with_progress("evaluate", args.flag("quiet"), *interrupt.flag(),
                                  [&](const util::Control& c) { return eval::last_word(t, *tok, text, f, c); });
            out["task"] = "last_word";
            out["file"] = f;
            out["items"] = r.n_items;
            out["acc"] = r.acc;
            out["acc_stderr"] = r.acc_stderr;
            out["mean_loglik"] = r.mean_loglik;
            out["perplexity"] = r.perplexity;
            out["seconds"] = finish();
            if (!json)
                std::printf(
                    "%s: %d lines\nacc        %.4f (standard error %.4f)\nperplexity %.4f (of the last words)\n"
                    "time       %.1f s\n",
                    f.c_str(), r.n_items, r.acc, r.acc_stderr, r.perplexity, finish());
            if (edit_file) {
                const auto e = run_edited([&](const util::Control& c) { return eval::last_word(t, *tok, text, f, c); });
                out["edited"] = {{"acc", e.acc},
                                 {"acc_stderr", e.acc_stderr},
                                 {"mean_loglik", e.mean_loglik},
                                 {"perplexity", e.perplexity}};
                if (!json)
                    std::printf("edited (%s): acc %.4f (standard error %.4f), perplexity %.4f (of the last words)\n",
                                edit_file->c_str(), e.acc, e.acc_stderr, e.perplexity);
            }
        }
    } catch (const util::Cancelled&) {
        std::fprintf(stderr, "tensorllm evaluate: cancelled after %.1fs\n", finish());
        return 130;
    }
    if (json) std::printf("%s\n", out.dump(2).c_str());
    return 0;
}

}  // namespace tllm::cli
