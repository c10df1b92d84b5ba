#pragma once
// Options and execution shared by the commands that run decompositions (decompose, report).
#include <atomic>
#include <functional>
#include <memory>

#include <csignal>
#include <set>
#include <string>

#include "args.h"
#include "jobs/job_runner.h"
#include "model/model.h"

namespace tllm::cli {

/// The option names parse_job_options reads (for Args).
std::set<std::string> job_option_names();
/// Rank choice, layers and method options from the command line. With `default_ranks`,
/// missing rank options mean fixed ranks (d/4, dv/2, 4); otherwise exactly one of --ranks,
/// --tol, --ratio, --params is required. Throws std::invalid_argument naming the option.
jobs::JobOptions parse_job_options(const Args& args, const model::Model& m, bool default_ranks);
/// The help text of those options.
const char* job_options_help();

/// While alive, SIGINT and SIGTERM set flag() instead of killing the process (Ctrl-C cancels
/// cleanly); the previous handlers are restored at destruction. One at a time.
class InterruptGuard {
public:
    InterruptGuard();
    ~InterruptGuard();
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;
    const std::atomic<bool>* flag() const { return &flag_; }

private:
    std::atomic<bool> flag_{false};
    struct sigaction old_int_ {
    }, old_term_{};
};

/// Runs the job with a progress bar on stderr when it is a terminal (unless quiet); cancels
/// when `interrupt` becomes true. Returns the summary.
std::shared_ptr<const jobs::JobSummary> run_job(std::shared_ptr<const model::Model> m, const jobs::JobOptions& opt,
                                                bool quiet, const std::atomic<bool>& interrupt);

/// How `decompose` runs its job: in one process (the defaults, tensorllm decompose) or as one
/// rank of several (tensorllm-mpi decompose, app/mpi).
struct DecomposeHooks {
    const char* prog = "tensorllm decompose";  ///< prefix of messages
    /// This process checks, locks and writes the outputs and prints the table; false: it only
    /// runs `run` (an MPI rank other than 0) and returns its exit code.
    bool writer = true;
    /// A layer that failed fails the whole job: listed with its message, nothing is written,
    /// exit 3 (instead of writing the outputs with the layer marked failed).
    bool fail_on_layer_error = false;
    using Run = std::function<std::shared_ptr<const jobs::JobSummary>(
        std::shared_ptr<const model::Model>, const jobs::JobOptions&, bool quiet, const std::atomic<bool>& interrupt)>;
    Run run;  ///< empty: run_job
};

/// tensorllm decompose with `argv` (the arguments after the command name).
int decompose_command(const std::vector<std::string>& argv, const DecomposeHooks& hooks);

}  // namespace tllm::cli
