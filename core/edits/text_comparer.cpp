// TextComparer: the unedited pass with its prefix cache, and edited passes against it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include "edits/sweep.h"
#include "eval/kernels.h"

namespace tllm::edits {
namespace {

double now() {
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

// Installs a Control on the transformer for one call; removes it on any exit.
struct ControlScope {
    eval::Transformer& t;
    ControlScope(eval::Transformer& tr, const util::Control& c) : t(tr) { t.set_control(c); }
    ~ControlScope() { t.set_control({}); }
    ControlScope(const ControlScope&) = delete;
    ControlScope& operator=(const ControlScope&) = delete;
};

// Per-thread buffers of a pass over windows.
struct Scratch {
    eval::RunState s;
    std::vector<float> base_logits, edit_logits, base_p;
    std::vector<std::int32_t> targets;
    std::vector<double> lp;
};

// Log-sum-exp of a row as eval::Transformer::score computes it: the max (lowest index on
// ties) subtracted, the sum of exponentials in double.
struct RowStats {
    int argmax = 0;
    float max = 0;
    double lse = 0;  // log sum exp(z - max)
};
RowStats row_stats(const float* z, int V) {
    RowStats r;
    for (int v = 1; v < V; ++v)
        if (z[v] > z[r.argmax]) r.argmax = v;
    r.max = z[r.argmax];
    r.lse = std::log(eval::kernels::sum_exp(z, V, r.max));
    return r;
}

// The unedited probabilities of a row with logits zb and c = max + lse: float(exp(zb - c)),
// the same whether kept by the baseline or computed in a comparison.
void base_probabilities(float* p, const float* zb, double c, int V) {
    for (int v = 0; v < V; ++v) p[v] = float(std::exp(double(zb[v]) - c));
}

// KL(p_b || p_e) = sum_v p_b(v) (log p_b(v) - log p_e(v)), with log p_b(v) = zb[v] - cb and
// log p_e(v) = ze[v] - ce, each difference in double.
double kl_row(const float* pb, const float* zb, double cb, const float* ze, double ce, int V) {
    double kl = 0;
    for (int v = 0; v < V; ++v) kl += double(pb[v]) * ((double(zb[v]) - cb) - (double(ze[v]) - ce));
    return std::max(0.0, kl);
}

// The rows of a window of `len` tokens that predict scored tokens (rows row0 .. len - 2), in
// the row blocks of Transformer::score: block(r0, nr) for each block holding one of them,
// then row(i, r0 + i) for each of them in it. The baseline and the comparisons both go
// through here, so their logits come from the same products, bit for bit.
template <class Block, class Row>
void for_scored_rows(int row0, int len, Block&& block, Row&& row) {
    const int row1 = len - 1;
    for (int r0 = 0; r0 < row1; r0 += eval::RunState::kLogitRows) {
        const int nr = std::min(eval::RunState::kLogitRows, len - r0);
        if (r0 + nr <= row0) continue;
        block(r0, nr);
        for (int i = std::max(0, row0 - r0); i < nr && r0 + i < row1; ++i) row(i, r0 + i);
    }
}

}  // namespace

TextComparer::TextComparer(eval::Transformer& t, std::vector<std::int32_t> ids, std::vector<std::int32_t> token_bytes,
                           const eval::PerplexityOptions& opt, std::string source, std::vector<int> layers,
                           std::uint64_t cache_bytes)
    : t_(t),
      ids_(std::move(ids)),
      bytes_(std::move(token_bytes)),
      opt_(opt),
      source_(std::move(source)),
      want_layers_(std::move(layers)),
      budget_(cache_bytes) {
    if (!bytes_.empty() && bytes_.size() != ids_.size())
        throw std::invalid_argument("TextComparer: token_bytes must have one entry per token");
    eval::PerplexityResult r;
    const auto w = eval::perplexity_windows(t_, std::int64_t(ids_.size()), opt_, source_, r);
    ctx_ = r.ctx, stride_ = r.stride, n_ = r.n_tokens;
    windows_.reserve(w.size());
    offset_.reserve(w.size() + 1);
    std::int64_t rows = 0;
    for (const auto& x : w) {
        windows_.push_back({x.begin, x.end, x.first_scored});
        offset_.push_back(rows);
        rows += x.end - x.begin;
    }
    offset_.push_back(rows);
    // Batches of consecutive windows of equal length, about kBatchRows rows each (a function
    // of ctx only, so the work split never depends on the thread count).
    const std::size_t per = std::size_t(std::max(1, kBatchRows / ctx_));
    for (std::size_t w = 0; w < windows_.size(); ++w) {
        const std::int64_t len = windows_[w].end - windows_[w].begin;
        if (batches_.empty() || batches_.back().count == per || batches_.back().len != len)
            batches_.push_back({w, 0, len});
        ++batches_.back().count;
    }
    const int L = t_.config().n_layers;
    const std::uint64_t per_layer = std::uint64_t(rows) * std::uint64_t(t_.config().dim) * sizeof(float);
    std::sort(want_layers_.begin(), want_layers_.end());
    want_layers_.erase(std::unique(want_layers_.begin(), want_layers_.end()), want_layers_.end());
    for (int l : want_layers_)
        if (l < 0 || l >= L)
            throw std::invalid_argument("TextComparer: layer " + std::to_string(l) + " is outside 0.." +
                                        std::to_string(L - 1));
    // The final states are always kept (the unedited distribution for KL and top-1); the
    // budget is for the states entering layers, deepest first: each saves the most per pass.
    stats_.budget_bytes = budget_;
    stats_.used_bytes = per_layer;
    std::uint64_t prefix = 0;
    for (auto it = want_layers_.rbegin(); it != want_layers_.rend(); ++it) {
        if (*it == 0) continue;  // layer 0's input is the embedding, cheaper to recompute than to keep
        if (prefix + per_layer > budget_) break;
        kept_layers_.push_back(*it);
        prefix += per_layer;
    }
    stats_.used_bytes += prefix;
    std::sort(kept_layers_.begin(), kept_layers_.end());
    stats_.layers = kept_layers_;
    scored_offset_.reserve(windows_.size());
    for (const auto& x : windows_) {
        scored_offset_.push_back(n_scored_);
        n_scored_ += x.end - x.first_scored;
    }
    const std::uint64_t scored = std::uint64_t(n_scored_);
    const std::uint64_t dist = scored * std::uint64_t(t_.config().vocab_size) * 2 * sizeof(float) +
                               scored * (sizeof(double) + sizeof(std::int32_t));
    if (prefix + dist <= budget_) {
        stats_.distribution = true;
        stats_.used_bytes += dist;
    }
}

std::int64_t TextComparer::n_tokens() const { return n_; }

template <class F>
void TextComparer::for_batches(const util::Control& ctl, F&& f) {
    const ControlScope scope(t_, ctl);
    const bool concurrent = t_.preload();
    const int V = t_.config().vocab_size;
    const int per_batch = int(batches_.empty() ? 1 : batches_.front().count);
    auto make = [&] {
        Scratch sc;
        sc.s = t_.make_batch_state(ctx_, std::max(1, per_batch));
        sc.base_logits.resize(std::size_t(eval::RunState::kLogitRows) * V);
        sc.edit_logits.resize(std::size_t(eval::RunState::kLogitRows) * V);
        sc.base_p.resize(std::size_t(V));
        sc.targets.resize(std::size_t(ctx_));
        sc.lp.resize(std::size_t(ctx_));
        return sc;
    };
    const std::size_t B = batches_.size(), W = windows_.size();
    std::atomic<std::size_t> done{0};
    auto one = [&](Scratch& sc, std::size_t b) {
        ctl.check();
        f(sc, batches_[b]);
        ctl.report(float(done.fetch_add(batches_[b].count) + batches_[b].count) / float(W));
    };
    if (concurrent) {
        tbb::enumerable_thread_specific<Scratch> scratch(make);
        t_.execute([&] {
            tbb::parallel_for(tbb::blocked_range<std::size_t>(0, B, 1), [&](const tbb::blocked_range<std::size_t>& r) {
                Scratch& sc = scratch.local();
                for (std::size_t b = r.begin(); b < r.end(); ++b) one(sc, b);
            });
        });
    } else {
        Scratch sc = make();
        for (std::size_t b = 0; b < B; ++b) one(sc, b);
    }
}

const eval::PerplexityResult& TextComparer::baseline(const util::Control& ctl) {
    if (base_) return *base_;
    const auto& c = t_.config();
    const int d = c.dim, L = c.n_layers;
    const std::size_t rows = std::size_t(offset_.back());
    kept_.assign(kept_layers_.size(), {});
    for (auto& k : kept_) k.resize(rows * std::size_t(d));
    final_.resize(rows * std::size_t(d));
    const int V = c.vocab_size;
    if (stats_.distribution) {
        const std::size_t scored = std::size_t(n_scored_);
        base_z_.resize(scored * std::size_t(V));
        base_p_.resize(scored * std::size_t(V));
        base_c_.resize(scored);
        base_argmax_.resize(scored);
    }
    const std::size_t W = windows_.size();
    std::vector<double> sums(W);
    const double t0 = now();
    for_batches(ctl, [&](Scratch& sc, const Batch& bt) {
        const int len = int(bt.len), ns = int(bt.count);
        float* x = sc.s.x.data();
        const std::size_t block = std::size_t(len) * ns * d, off = std::size_t(offset_[bt.first]) * d;
        for (int j = 0; j < ns; ++j)
            t_.embed(std::span(ids_).subspan(std::size_t(windows_[bt.first + std::size_t(j)].begin), std::size_t(len)),
                     0, x + std::size_t(j) * len * d);
        int at = 0;
        for (std::size_t k = 0; k < kept_layers_.size(); ++k) {
            t_.run_layers_batch(sc.s, x, ns, len, at, kept_layers_[k]);
            at = kept_layers_[k];
            std::copy_n(x, block, kept_[k].data() + off);
        }
        t_.run_layers_batch(sc.s, x, ns, len, at, L);
        std::copy_n(x, block, final_.data() + off);
        for (int j = 0; j < ns; ++j) {
            const std::size_t w = bt.first + std::size_t(j);
            const auto& win = windows_[w];
            if (stats_.distribution) {
                const int row0 = int(win.first_scored - win.begin - 1);
                const float* xj = x + std::size_t(j) * len * d;
                for_scored_rows(
                    row0, len,
                    [&](int r0, int nr) { t_.logits(sc.s, xj + std::size_t(r0) * d, nr, sc.base_logits.data()); },
                    [&](int i, int row) {
                        const std::size_t k = std::size_t(scored_offset_[w] + (row - row0));
                        const float* zb = sc.base_logits.data() + std::size_t(i) * V;
                        const RowStats sb = row_stats(zb, V);
                        base_c_[k] = double(sb.max) + sb.lse;
                        base_argmax_[k] = sb.argmax;
                        std::copy_n(zb, V, base_z_.data() + k * std::size_t(V));
                        base_probabilities(base_p_.data() + k * std::size_t(V), zb, base_c_[k], V);
                    });
            }
            std::fill(sc.targets.begin(), sc.targets.end(), -1);
            for (std::int64_t tok = win.first_scored; tok < win.end; ++tok)
                sc.targets[std::size_t(tok - win.begin - 1)] = ids_[std::size_t(tok)];
            t_.score(sc.s, x + std::size_t(j) * len * d, len, std::span(sc.targets).first(std::size_t(len)),
                     sc.lp.data());
            double sum = 0;
            for (std::int64_t tok = win.first_scored; tok < win.end; ++tok)
                sum -= sc.lp[std::size_t(tok - win.begin - 1)];
            sums[w] = sum;
        }
    });
    eval::PerplexityResult r;
    r.ctx = ctx_, r.stride = stride_, r.n_tokens = n_;
    for (std::size_t w = 0; w < W; ++w) {
        const auto& win = windows_[w];
        r.window_nll.push_back(sums[w]);
        r.window_scored.push_back(win.end - win.first_scored);
        r.sum_nll += sums[w];
        r.n_scored += win.end - win.first_scored;
        for (std::int64_t tok = win.first_scored; tok < win.end; ++tok)
            r.n_bytes += bytes_.empty() ? 1 : bytes_[std::size_t(tok)];
    }
    eval::finish_perplexity(r);
    stats_.seconds_baseline = now() - t0;
    stats_.seconds_per_layer = stats_.seconds_baseline / double(L + 1);  // L layers and the scoring
    base_ = std::move(r);
    return *base_;
}

Comparison TextComparer::compare(const EditSet& set, const util::Control& ctl) {
    const eval::PerplexityResult& base = baseline(ctl.sub(0, 0));
    const auto& c = t_.config();
    const int d = c.dim, L = c.n_layers, V = c.vocab_size;
    const double t0 = now();
    Comparison out;
    int start = L;
    for (const auto& [layer, tensors] : set)
        if (!tensors.empty()) start = std::min(start, layer);
    int from = 0;
    const std::vector<float>* kept = nullptr;
    for (std::size_t k = 0; k < kept_layers_.size(); ++k)
        if (kept_layers_[k] <= start) from = kept_layers_[k], kept = &kept_[k];
    if (start == L) from = L;
    out.start_layer = from;
    struct WindowOut {
        double nll = 0, kl = 0;
        std::int64_t agree = 0;
        std::vector<float> kl_tokens;
    };
    const std::size_t W = windows_.size();
    std::vector<WindowOut> res(W);
    struct Clear {
        eval::Transformer& t;
        ~Clear() { t.clear_layer_override(); }
    } clear{t_};
    apply_edits(t_, set);
    for_batches(ctl, [&](Scratch& sc, const Batch& bt) {
        const int len = int(bt.len), ns = int(bt.count);
        float* xs = sc.s.x.data();
        const std::size_t block = std::size_t(len) * ns * d, boff = std::size_t(offset_[bt.first]) * d;
        if (from == L) {
            std::copy_n(final_.data() + boff, block, xs);
        } else {
            if (kept)
                std::copy_n(kept->data() + boff, block, xs);
            else
                for (int j = 0; j < ns; ++j)
                    t_.embed(std::span(ids_).subspan(std::size_t(windows_[bt.first + std::size_t(j)].begin),
                                                     std::size_t(len)),
                             0, xs + std::size_t(j) * len * d);
            t_.run_layers_batch(sc.s, xs, ns, len, from, L);
        }
        for (int j = 0; j < ns; ++j) {
            const std::size_t w = bt.first + std::size_t(j);
            const auto& win = windows_[w];
            float* x = xs + std::size_t(j) * len * d;
            const std::size_t off = std::size_t(offset_[w]) * d;
            WindowOut& o = res[w];
            o.kl_tokens.reserve(std::size_t(win.end - win.first_scored));
            // Rows predicting scored tokens: row i predicts token begin + i + 1, scored when it
            // lies in [first_scored, end), i.e. i in [row0, len - 1).
            const int row0 = int(win.first_scored - win.begin - 1);
            for_scored_rows(
                row0, len,
                [&](int r0, int nr) {
                    t_.logits(sc.s, x + std::size_t(r0) * d, nr, sc.edit_logits.data());
                    if (!stats_.distribution)
                        t_.logits(sc.s, final_.data() + off + std::size_t(r0) * d, nr, sc.base_logits.data());
                },
                [&](int i, int row) {
                    const std::int32_t target = ids_[std::size_t(win.begin + row + 1)];
                    const float* ze = sc.edit_logits.data() + std::size_t(i) * V;
                    const RowStats se = row_stats(ze, V);
                    // Exactly Transformer::score's log-probability of the target.
                    o.nll -= double(ze[target] - se.max) - se.lse;
                    const double ce = double(se.max) + se.lse;
                    // The unedited row: kept by the baseline, or computed as it would have been.
                    const float *zb, *pb;
                    double cb;
                    int argmax_b;
                    if (stats_.distribution) {
                        const std::size_t k = std::size_t(scored_offset_[w] + (row - row0));
                        zb = base_z_.data() + k * std::size_t(V);
                        pb = base_p_.data() + k * std::size_t(V);
                        cb = base_c_[k];
                        argmax_b = base_argmax_[k];
                    } else {
                        zb = sc.base_logits.data() + std::size_t(i) * V;
                        const RowStats sb = row_stats(zb, V);
                        cb = double(sb.max) + sb.lse;
                        argmax_b = sb.argmax;
                        base_probabilities(sc.base_p.data(), zb, cb, V);
                        pb = sc.base_p.data();
                    }
                    if (se.argmax == argmax_b) ++o.agree;
                    const double kl = kl_row(pb, zb, cb, ze, ce, V);
                    o.kl += kl;
                    o.kl_tokens.push_back(float(kl));
                });
        }
    });
    eval::PerplexityResult& e = out.edited;
    e.ctx = ctx_, e.stride = stride_, e.n_tokens = n_, e.n_bytes = base.n_bytes;
    std::vector<double> diff(W);
    std::vector<float> kls;
    kls.reserve(std::size_t(base.n_scored));
    double kl_sum = 0;
    std::int64_t agree = 0;
    for (std::size_t w = 0; w < W; ++w) {
        const auto& win = windows_[w];
        e.window_nll.push_back(res[w].nll);
        e.window_scored.push_back(win.end - win.first_scored);
        e.sum_nll += res[w].nll;
        e.n_scored += win.end - win.first_scored;
        diff[w] = res[w].nll - base.window_nll[w];
        kl_sum += res[w].kl;
        agree += res[w].agree;
        kls.insert(kls.end(), res[w].kl_tokens.begin(), res[w].kl_tokens.end());
    }
    eval::finish_perplexity(e);
    out.delta_nll = e.mean_nll - base.mean_nll;
    out.delta_nll_stderr = eval::cluster_stderr(diff, e.window_scored);
    out.kl_mean = kl_sum / double(e.n_scored);
    out.top1_agreement = double(agree) / double(e.n_scored);
    if (!kls.empty()) {
        // Nearest rank: the smallest value with at least 99% of the tokens at or below it.
        const std::size_t k = std::size_t(std::ceil(0.99 * double(kls.size()))) - 1;
        std::nth_element(kls.begin(), kls.begin() + std::ptrdiff_t(k), kls.end());
        out.kl_p99 = kls[k];
    }
    out.seconds = now() - t0;
    ++stats_.passes;
    stats_.seconds_saved += double(from) * stats_.seconds_per_layer;
    return out;
}

}  // namespace tllm::edits
