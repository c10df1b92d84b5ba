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

/// How `sweep` runs its grid: in one process (the defaults, tensorllm sweep) or as one rank of
/// several (tensorllm-mpi sweep, app/mpi).
struct SweepHooks {
    const char* prog = "tensorllm sweep";  ///< prefix of messages
    /// This process checks, locks and writes the outputs and prints the table; false: it only
    /// runs `run` (an MPI rank other than 0) and returns its exit code.
    bool writer = true;
    /// A point that failed fails the whole sweep: listed with its message, nothing is
    /// written, exit 3 (instead of writing the outputs with the point marked failed).
    bool fail_on_point_error = false;
    using Run = std::function<edits::SweepResult(const model::Model&, eval::Transformer&, const eval::Tokenizer&,
                                                 const edits::SweepInput&, const edits::SweepOptions&, bool quiet,
                                                 const std::atomic<bool>& interrupt, const SweepProgress&)>;
    Run run;  ///< empty: run_sweep_with_progress
};

/// tensorllm sweep with `argv` (the arguments after the command name).
int sweep_command(const std::vector<std::string>& argv, const SweepHooks& hooks);

/// Prints one point as a row of the sweep table on stdout (`mc`: with the accuracy column).
void print_point_row(const edits::SweepPoint& p, bool mc);

/// Rank choices from --ranks-list, --tols and --ratios, in that order.
std::vector<tucker::RankSpec> parse_rank_choices(const Args& args);

}  // namespace tllm::cli
