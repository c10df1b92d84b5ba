// run_sweep: the grid of edits, each decomposed (or truncated), applied alone and compared
// with the unedited model.
#include "edits/sweep.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "analysis/compression.h"
#include "jobs/job_runner.h"

namespace tllm::edits {
namespace {

double now() {
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

std::string short_number(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return b;
}

std::string choice_label(const tucker::RankSpec& s) {
    switch (s.kind) {
        case tucker::RankSpec::Kind::Fixed:
            return std::to_string(s.ranks[0]) + "," + std::to_string(s.ranks[1]) + "," + std::to_string(s.ranks[2]);
        case tucker::RankSpec::Kind::Tolerance: return "tol " + short_number(s.tolerance);
        case tucker::RankSpec::Kind::Ratio: return "ratio " + short_number(s.ratio);
        case tucker::RankSpec::Kind::Params: return "params " + std::to_string(s.params);
    }
    return "?";
}

std::vector<int> resolve_layers(const SweepOptions& opt, const model::Model& m) {
    if (!opt.layers.empty()) return opt.layers;
    std::vector<int> all;
    for (const auto& l : m.layers()) all.push_back(l.index);
    return all;
}

jobs::JobOptions job_options(const SweepOptions& opt, int layer, const tucker::RankSpec& choice) {
    jobs::JobOptions j;
    j.layers = {layer};
    j.ranks = choice;
    j.tucker = opt.tucker;
    j.threads = opt.threads;
    j.spectra = choice.needs_spectra();
    j.slice_spectra = false;
    j.balance_slices = opt.balance_slices;
    return j;
}

// An attention or LASER edit of one layer, made once and used by every point that needs it.
struct MadeEdit {
    std::vector<tensor::RebuiltTensor> tensors;
    tucker::Status status = tucker::Status::Ok;
    std::string message;
    std::array<int, 3> ranks{0, 0, 0};
    double error = SweepPoint::kNaN;
    std::array<double, 4> type_error{SweepPoint::kNaN, SweepPoint::kNaN, SweepPoint::kNaN, SweepPoint::kNaN};
    int iterations = 0;
    std::uint64_t params_before = 0, params_after = 0;
    double seconds = 0;
};

}  // namespace

void SweepOptions::validate(const model::Model& m, const eval::Transformer& t) const {
    const int L = t.config().n_layers;
    for (int l : layers) {
        try {
            m.layer(l);
        } catch (const std::out_of_range& e) {
            throw std::invalid_argument(std::string("layers: ") + e.what());
        }
        if (l < 0 || l >= L)
            throw std::invalid_argument("layers: layer " + std::to_string(l) + " is outside the forward pass's 0.." +
                                        std::to_string(L - 1));
    }
    if (layers.empty() && m.layers().empty()) throw std::invalid_argument("layers: the model has no attention layer");
    if (choices.empty() && laser.empty())
        throw std::invalid_argument("no edit to sweep: give rank choices or LASER choices");
    if (combine && (choices.empty() || laser.empty()))
        throw std::invalid_argument("combining edits needs both rank choices and LASER choices");
    for (const auto& c : choices) {
        c.validate();
        job_options(*this, layers.empty() ? m.layers().front().index : layers.front(), c).validate(m);
    }
    for (const auto& s : laser)
        if (s.rank < 1) throw std::invalid_argument("LASER rank " + std::to_string(s.rank) + " must be >= 1");
    if (threads < 0) throw std::invalid_argument("threads: must be >= 0");
    for (std::size_t k = 0; k < only.size(); ++k)
        if (k > 0 && only[k] <= only[k - 1])
            throw std::invalid_argument("only: grid indices must be strictly ascending (index " +
                                        std::to_string(only[k]) + " after " + std::to_string(only[k - 1]) + ")");
}

std::vector<PointSpec> sweep_grid(const SweepOptions& opt, const std::vector<int>& layers) {
    std::vector<PointSpec> g;
    for (int l : layers) {
        for (int c = 0; c < int(opt.choices.size()); ++c) g.push_back({l, c, -1});
        for (int s = 0; s < int(opt.laser.size()); ++s) g.push_back({l, -1, s});
        if (opt.combine)
            for (int c = 0; c < int(opt.choices.size()); ++c)
                for (int s = 0; s < int(opt.laser.size()); ++s) g.push_back({l, c, s});
    }
    return g;
}

std::string point_label(const SweepOptions& opt, const PointSpec& p) {
    std::string a = p.choice >= 0 ? choice_label(opt.choices[std::size_t(p.choice)]) : std::string();
    if (!a.empty() && opt.balance_slices) a += " bal";
    if (p.laser < 0) return a;
    const std::string l = opt.laser[std::size_t(p.laser)].describe();
    return a.empty() ? "laser " + l : a + " + " + l;
}

SweepInput make_sweep_input(const eval::Tokenizer& tok, std::string_view text, const std::string& source) {
    if (text.empty()) throw std::runtime_error(source + ": the text is empty");
    SweepInput in;
    in.ids = tok.encode_with_bos(text);
    in.token_bytes = eval::token_byte_counts(tok, in.ids);
    if (tok.bos_id() >= 0 && !in.token_bytes.empty()) in.token_bytes[0] = 0;
    in.text_source = source;
    return in;
}

SweepResult run_sweep(const model::Model& m, eval::Transformer& t, const eval::Tokenizer& tok, const SweepInput& in,
                      const SweepOptions& opt, const SweepCallbacks& cb, const util::Control& ctl) {
    opt.validate(m, t);
    const double t0 = now();
    SweepResult R;
    R.model_path = m.checkpoint().path();
    R.model_type = t.config().model_type;
    R.text_source = in.text_source;
    R.mc_source = in.mc_source;
    R.options = opt;
    R.layers = resolve_layers(opt, m);
    for (const auto& name : m.checkpoint().tensor_names()) R.model_params += m.checkpoint().at(name).info->numel();
    const auto grid = sweep_grid(opt, R.layers);
    R.grid_size = grid.size();
    if (!opt.only.empty() && opt.only.back() >= grid.size())
        throw std::invalid_argument("only: grid index " + std::to_string(opt.only.back()) + " is beyond the grid's " +
                                    std::to_string(grid.size()) + " points");
    std::vector<std::size_t> todo = opt.only;
    if (todo.empty())
        for (std::size_t i = 0; i < grid.size(); ++i) todo.push_back(i);
    // Progress: the baseline as much as one point, then the points.
    const float share = 1.0f / float(todo.size() + 1);

    TextComparer cmp(t, in.ids, in.token_bytes, opt.ppl, in.text_source, R.layers, opt.prefix_cache_bytes);
    try {
        R.baseline.ppl = cmp.baseline(ctl.sub(0, in.mc.empty() ? share : share * 0.8f));
        if (!in.mc.empty())
            R.baseline.mc = eval::multiple_choice(t, tok, in.mc, in.mc_source, ctl.sub(share * 0.8f, share));
    } catch (const util::Cancelled&) {
        R.cancelled = true;
        R.prefix = cmp.stats();
        R.seconds = now() - t0;
        return R;
    }
    if (cb.baseline) cb.baseline(R.baseline);

    const auto& S = m.shape();
    std::map<int, MadeEdit> attention, lasers;  // of the current layer, by choice / LASER index
    int current_layer = -1;
    for (std::size_t k = 0; k < todo.size(); ++k) {
        const PointSpec& p = grid[todo[k]];
        const util::Control pc = ctl.sub(share * float(k + 1), share * float(k + 2));
        if (p.layer != current_layer) attention.clear(), lasers.clear(), current_layer = p.layer;
        SweepPoint pt;
        pt.spec = p;
        pt.label = point_label(opt, p);
        try {
            ctl.check();
            EditSet set;
            std::uint64_t before = 0, after = 0;
            bool not_converged = false;
            if (p.choice >= 0) {
                auto it = attention.find(p.choice);
                if (it == attention.end()) {
                    MadeEdit e;
                    const double ts = now();
                    const auto r = jobs::run_layer(
                        m, p.layer, job_options(opt, p.layer, opt.choices[std::size_t(p.choice)]), pc.sub(0, 0.3f));
                    if (r.status == tucker::Status::Cancelled) throw util::Cancelled{};
                    e.status = r.status;
                    e.message = r.message;
                    if (r.complete()) {
                        e.tensors = attention_tensors(m, p.layer, r.tucker, ctl);
                        e.ranks = r.ranks;
                        e.error = r.measures.rel_error;
                        e.type_error = r.measures.type_error;
                        e.iterations = r.tucker.iterations;
                        e.params_before = S.original_params();
                        e.params_after = analysis::compressed_params(S, r.ranks);
                    }
                    e.seconds = now() - ts;
                    it = attention.emplace(p.choice, std::move(e)).first;
                }
                const MadeEdit& e = it->second;
                pt.seconds_decompose += e.seconds;
                if (e.status == tucker::Status::Failed) throw std::runtime_error(e.message);
                not_converged = e.status == tucker::Status::NotConverged;
                pt.ranks = e.ranks, pt.weight_error = e.error, pt.type_error = e.type_error,
                pt.iterations = e.iterations;
                before += e.params_before, after += e.params_after;
                add_to(set, p.layer, e.tensors);
            }
            if (p.laser >= 0) {
                auto it = lasers.find(p.laser);
                if (it == lasers.end()) {
                    MadeEdit e;
                    const double ts = now();
                    auto r = laser_tensor(t, p.layer, opt.laser[std::size_t(p.laser)], ctl);
                    e.tensors.push_back(std::move(r.tensor));
                    e.error = r.rel_error;
                    e.params_before = r.params, e.params_after = r.params_rank;
                    e.seconds = now() - ts;
                    it = lasers.emplace(p.laser, std::move(e)).first;
                }
                const MadeEdit& e = it->second;
                pt.seconds_decompose += e.seconds;
                pt.laser_error = e.error;
                before += e.params_before, after += e.params_after;
                add_to(set, p.layer, e.tensors);
            }
            pt.layer_ratio = double(before) / double(after);
            pt.model_ratio = double(R.model_params) / (double(R.model_params) - double(before) + double(after));
            const double te = now();
            const Comparison c = cmp.compare(set, pc.sub(0.3f, in.mc.empty() ? 1.0f : 0.9f));
            pt.mean_nll = c.edited.mean_nll, pt.delta_nll = c.delta_nll, pt.delta_nll_stderr = c.delta_nll_stderr;
            pt.kl_mean = c.kl_mean, pt.kl_p99 = c.kl_p99, pt.top1_agreement = c.top1_agreement;
            if (!in.mc.empty()) {
                struct Clear {
                    eval::Transformer& t;
                    ~Clear() { t.clear_layer_override(); }
                } clear{t};
                apply_edits(t, set);
                const auto mc = eval::multiple_choice(t, tok, in.mc, in.mc_source, pc.sub(0.9f, 1.0f));
                McScore s;
                s.acc = mc.acc, s.acc_stderr = mc.acc_stderr, s.acc_norm = mc.acc_norm,
                s.acc_norm_stderr = mc.acc_norm_stderr;
                s.delta_acc = mc.acc - R.baseline.mc->acc;
                s.delta_acc_norm = mc.acc_norm - R.baseline.mc->acc_norm;
                pt.mc = s;
            }
            pt.seconds_eval = now() - te;
            pt.status = not_converged ? tucker::Status::NotConverged : tucker::Status::Ok;
        } catch (const util::Cancelled&) {
            R.cancelled = true;
            break;
        } catch (const std::exception& e) {
            pt.status = tucker::Status::Failed;
            pt.message = e.what();
        }
        R.points.push_back(pt);
        if (cb.point) cb.point(R.points.back());
    }
    R.prefix = cmp.stats();
    R.seconds = now() - t0;
    return R;
}

void merge_points(SweepResult& into, std::vector<SweepPoint> more, const std::string& source) {
    const auto grid = sweep_grid(into.options, into.layers);
    auto index_of = [&](const PointSpec& s) {
        for (std::size_t i = 0; i < grid.size(); ++i)
            if (grid[i].layer == s.layer && grid[i].choice == s.choice && grid[i].laser == s.laser) return i;
        throw std::invalid_argument(source + ": point (layer " + std::to_string(s.layer) + ", choice " +
                                    std::to_string(s.choice) + ", laser " + std::to_string(s.laser) +
                                    ") is not in this sweep's grid");
    };
    std::vector<std::pair<std::size_t, SweepPoint>> all;
    std::vector<bool> seen(grid.size(), false);
    for (auto* list : {&into.points, &more})
        for (auto& p : *list) {
            const std::size_t i = index_of(p.spec);
            if (seen[i])
                throw std::invalid_argument(source + ": point " + std::to_string(i) + " (layer " +
                                            std::to_string(p.spec.layer) + ", " + p.label + ") is given twice");
            seen[i] = true;
            all.emplace_back(i, std::move(p));
        }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    into.points.clear();
    for (auto& [i, p] : all) into.points.push_back(std::move(p));
}

}  // namespace tllm::edits
