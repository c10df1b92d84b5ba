#pragma once
// Evaluation in the loop (docs/evaluation-in-the-loop.md): what an edit of a model does to
// its loss, its next-token distribution and its multiple-choice accuracy, measured against
// the unedited model on the same windows of the same text.
//
// TextComparer runs the unedited model once over the evaluation windows and keeps, within a
// byte budget, the hidden states entering chosen layers and those leaving the last layer.
// An edit whose first edited layer is L does not change what enters L, so its pass starts
// from the kept states at L (or the deepest kept layer below L) instead of the embeddings;
// the kept final states give the unedited distribution for the KL divergence and the top-1
// agreement without a second pass. Windows of equal length run in batches (the dense
// products over all their rows at once); batches run in parallel (one RunState per thread)
// when every layer's weights fit the Transformer's cache, else one after another with
// parallel kernels. Every sum is taken in window order: results do not depend on the
// thread count.
//
// run_sweep() evaluates a grid of edits, each applied alone: layers x attention rank
// choices (fixed ranks, tolerances, compression ratios) for one decomposition method, LASER
// choices, and optionally every (attention, LASER) pair together.

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "analysis/ranks.h"
#include "edits/edit.h"
#include "eval/evaluate.h"
#include "eval/forward.h"
#include "eval/tokenizer.h"
#include "model/model.h"
#include "tucker/tucker.h"
#include "util/control.h"

namespace tllm::edits {

/// An edited model against the unedited one on the same windows.
struct Comparison {
    eval::PerplexityResult edited;  ///< the edited model's perplexity result (per-window sums too)
    double delta_nll = 0;           ///< edited.mean_nll - unedited mean_nll (nats per token)
    double delta_nll_stderr = 0;    ///< standard error of delta_nll, windows paired as clusters
    double kl_mean = 0;             ///< mean over scored tokens of KL(p_unedited || p_edited), nats
    double kl_p99 = 0;              ///< its 99th percentile (nearest rank)
    double top1_agreement = 0;      ///< fraction of scored tokens whose argmax is unchanged
    int start_layer = 0;            ///< the layer the edited passes started from
    double seconds = 0;
};

/// What the prefix cache holds and saves.
struct PrefixStats {
    std::uint64_t budget_bytes = 0, used_bytes = 0;
    std::vector<int> layers;       ///< layers whose entering hidden states are kept
    bool distribution = false;     ///< the unedited next-token distributions of the scored rows are kept
    double seconds_baseline = 0;   ///< the unedited pass over all windows
    double seconds_per_layer = 0;  ///< measured cost of one layer over all windows
    double seconds_saved = 0;      ///< layers skipped by all compare() calls x seconds_per_layer
    int passes = 0;                ///< compare() calls
};

/// The unedited model's pass over a text's windows, kept for comparisons.
class TextComparer {
public:
    /// `ids`/`token_bytes` as for eval::perplexity_ids (window rule, max_tokens); `layers`
    /// are the first edited layers expected: the states entering them are kept, deepest
    /// first, while they fit `cache_bytes` (tokens x hidden size x 4 bytes each). The final
    /// states (the same size) are always kept, outside the budget. What the budget then has
    /// left keeps the unedited logits and probabilities of the scored rows (scored tokens x
    /// vocabulary x 8 bytes), so that comparisons skip the unedited lm_head product and its
    /// exponentials; with or without them the numbers are bitwise the same. Throws
    /// std::runtime_error as perplexity_ids does for bad windows.
    TextComparer(eval::Transformer& t, std::vector<std::int32_t> ids, std::vector<std::int32_t> token_bytes,
                 const eval::PerplexityOptions& opt, std::string source, std::vector<int> layers,
                 std::uint64_t cache_bytes);

    /// Runs the unedited model (once; later calls return the same result). The Transformer
    /// must carry no edits.
    const eval::PerplexityResult& baseline(const util::Control& ctl = {});
    /// Installs `set` on the Transformer, evaluates it against the baseline and removes it
    /// again (also on an exception). An empty set compares the unedited model with itself.
    Comparison compare(const EditSet& set, const util::Control& ctl = {});

    const PrefixStats& stats() const { return stats_; }
    const std::string& source() const { return source_; }
    std::int64_t n_tokens() const;

private:
    struct Window {
        std::int64_t begin = 0, end = 0, first_scored = 0;
    };
    /// Consecutive windows [first, first + count) of `len` tokens each, run as one batch.
    struct Batch {
        std::size_t first = 0, count = 0;
        std::int64_t len = 0;
    };
    /// Rows per batch (windows of ctx tokens: kBatchRows / ctx of them, at least one).
    static constexpr int kBatchRows = 1024;
    eval::Transformer& t_;
    std::vector<std::int32_t> ids_, bytes_;
    eval::PerplexityOptions opt_;
    std::string source_;
    std::vector<int> want_layers_;
    std::uint64_t budget_ = 0;
    std::vector<Window> windows_;
    std::vector<Batch> batches_;
    int ctx_ = 0, stride_ = 0;
    std::int64_t n_ = 0;
    std::optional<eval::PerplexityResult> base_;
    // kept_[k]: hidden states entering layer kept_layers_[k], all windows back to back
    // (window w at offset sum of earlier windows' lengths x d); final_: after the last layer.
    std::vector<int> kept_layers_;
    std::vector<std::vector<float>> kept_;
    std::vector<float> final_;
    std::vector<std::int64_t> offset_;  // row offset of each window
    // The unedited distribution of every scored row (when stats_.distribution): logits z and
    // probabilities p (float(exp(z - c))), scored_offset_[w] + i for the i-th scored row of
    // window w; per row also c = max + log sum exp(z - max) and the argmax.
    std::vector<std::int64_t> scored_offset_;
    std::int64_t n_scored_ = 0;
    std::vector<float> base_z_, base_p_;
    std::vector<double> base_c_;
    std::vector<std::int32_t> base_argmax_;
    PrefixStats stats_;

    template <class F>
    void for_batches(const util::Control& ctl, F&& f);
};

/// Options of a sweep.
struct SweepOptions {
    std::vector<int> layers;                ///< layers edited (one at a time); empty: every mapped layer
    std::vector<tucker::RankSpec> choices;  ///< attention rank choices (Fixed / Tolerance / Ratio / Params)
    tucker::TuckerOptions tucker;           ///< method and iteration options (ranks ignored)
    std::vector<LaserSpec> laser;           ///< LASER choices, each applied alone
    bool combine = false;                   ///< also every (attention choice, LASER choice) pair together
    bool balance_slices = false;            ///< attention decompositions with balanced slices (jobs::JobOptions)
    eval::PerplexityOptions ppl;            ///< windows of the evaluation text
    std::uint64_t prefix_cache_bytes = 2ull << 30;  ///< hidden states kept (docs: the budget)
    int threads = 0;                                ///< 0: all cores
    /// Indices into sweep_grid() of the points to run, ascending; empty: every point. The
    /// others are skipped (absent from SweepResult::points), e.g. because another process
    /// runs them (tensorllm-mpi) or an earlier run finished them (--resume). The baseline and
    /// the prefix cache are the same as for the whole grid, so a point's numbers do not
    /// depend on which subset it ran in.
    std::vector<std::size_t> only;

    /// Throws std::invalid_argument naming the field: no layer, a layer the model or the
    /// forward pass does not have, no choice at all, invalid rank specs, LASER ranks < 1.
    void validate(const model::Model& m, const eval::Transformer& t) const;
};

/// One grid point: which edit of which layer.
struct PointSpec {
    int layer = 0;
    int choice = -1;  ///< index into SweepOptions::choices; -1: no attention edit
    int laser = -1;   ///< index into SweepOptions::laser; -1: no LASER edit
};
/// The grid in evaluation order: layer by layer; per layer the attention choices, the LASER
/// choices, then the pairs (when combine).
std::vector<PointSpec> sweep_grid(const SweepOptions& opt, const std::vector<int>& layers);
/// "32,16,4", "tol 0.2", "ratio 4", "params 1000", "laser down:8", "32,16,4 + down:8"; an
/// attention choice with balanced slices ends in " bal" ("32,16,4 bal").
std::string point_label(const SweepOptions& opt, const PointSpec& p);

/// Multiple-choice accuracy of an edited model and its change.
struct McScore {
    double acc = 0, acc_stderr = 0, acc_norm = 0, acc_norm_stderr = 0;
    double delta_acc = 0, delta_acc_norm = 0;  ///< against the unedited model's
};

/// The outcome of one grid point.
struct SweepPoint {
    PointSpec spec;
    std::string label;
    tucker::Status status = tucker::Status::Failed;  ///< Ok / NotConverged / Failed / Cancelled
    std::string message;                             ///< why it failed; empty when it ran
    static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
    // Attention edit (NaN / zeros without one).
    std::array<int, 3> ranks{0, 0, 0};
    double weight_error = kNaN;  ///< ||W - W_hat|| / ||W|| of the layer's attention tensor
    std::array<double, 4> type_error{kNaN, kNaN, kNaN, kNaN};  ///< Q, K, V, O
    int iterations = 0;
    // LASER edit.
    double laser_error = kNaN;
    // Compression: the edited layer's attention (and/or MLP matrix) and the whole model.
    double layer_ratio = kNaN;  ///< original / compressed parameters of what the edit factors
    double model_ratio = kNaN;  ///< all parameters of the model / those after the edit
    // Against the unedited model.
    double mean_nll = kNaN, delta_nll = kNaN, delta_nll_stderr = kNaN;
    double kl_mean = kNaN, kl_p99 = kNaN, top1_agreement = kNaN;
    std::optional<McScore> mc;
    double seconds_decompose = 0, seconds_eval = 0;
    bool ran() const { return status == tucker::Status::Ok || status == tucker::Status::NotConverged; }
};

/// The unedited model on the same data.
struct SweepBaseline {
    eval::PerplexityResult ppl;
    std::optional<eval::McResult> mc;
};

/// A whole sweep.
struct SweepResult {
    std::string model_path, model_type, text_source, mc_source;
    SweepOptions options;
    std::vector<int> layers;  ///< the layers swept (resolved)
    SweepBaseline baseline;
    std::vector<SweepPoint> points;  ///< grid order; points not reached are absent
    std::size_t grid_size = 0;       ///< points in the full grid
    std::uint64_t model_params = 0;  ///< every tensor of the checkpoint
    PrefixStats prefix;
    bool cancelled = false;
    double seconds = 0;
};

/// The evaluation data of a sweep.
struct SweepInput {
    std::vector<std::int32_t> ids, token_bytes;  ///< the text, tokenised with BOS (token_bytes: BOS 0)
    std::string text_source;
    std::vector<eval::McItem> mc;  ///< empty: no multiple-choice task
    std::string mc_source;
};
/// Tokenises `text` as eval::perplexity does. Throws std::runtime_error naming `source` for
/// an empty text.
SweepInput make_sweep_input(const eval::Tokenizer& tok, std::string_view text, const std::string& source);

/// Adds `more` to `into.points` and puts all of them in grid order (sweep_grid of
/// into.options and into.layers). Throws std::invalid_argument naming `source` for a point
/// that is not in the grid or that `into` already holds.
void merge_points(SweepResult& into, std::vector<SweepPoint> more, const std::string& source);

/// Called from the sweep's thread as the baseline and each point finish.
struct SweepCallbacks {
    std::function<void(const SweepBaseline&)> baseline;
    std::function<void(const SweepPoint&)> point;
};

/// Runs the sweep. Progress goes to `ctl` (the baseline, then each point in equal shares);
/// cancel stops at the next layer boundary and returns the finished points with cancelled
/// set. A point whose decomposition or edit fails is kept with status Failed and its message;
/// the others carry on. Throws std::invalid_argument for invalid options and
/// std::runtime_error for bad evaluation data (before any point runs).
SweepResult run_sweep(const model::Model& m, eval::Transformer& t, const eval::Tokenizer& tok, const SweepInput& in,
                      const SweepOptions& opt, const SweepCallbacks& cb = {}, const util::Control& ctl = {});

}  // namespace tllm::edits
