#pragma once
// Running a sweep from the command line: points printed as they finish, a progress bar with
// the time left on a terminal, Ctrl-C to stop.
#include <atomic>
#include <functional>
#include <set>
#include <vector>

#include "args.h"
#include "edits/sweep.h"

namespace tllm::cli {

/// Printers called on the main thread, in order, as the sweep reports.
struct SweepProgress {
    std::function<void(const edits::SweepBaseline&)> header;
    std::function<void(const edits::SweepPoint&)> point;
};

/// Runs edits::run_sweep on a worker thread; the calling thread prints what finished through
/// `progress` and draws a bar with the elapsed time and an estimate of the time left on
/// stderr (a terminal, unless `quiet`). `interrupt` cancels. Rethrows the sweep's exception.
edits::SweepResult run_sweep_with_progress(const model::Model& m, eval::Transformer& t, const eval::Tokenizer& tok,
                                           const edits::SweepInput& in, const edits::SweepOptions& opt, bool quiet,
                                           const std::atomic<bool>& interrupt, const SweepProgress& progress);

/// Rank choices from --ranks-list, --tols and --ratios, in that order.
std::vector<tucker::RankSpec> parse_rank_choices(const Args& args);

}  // namespace tllm::cli
