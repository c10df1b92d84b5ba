// tensorllm-mpi: `tensorllm decompose` and `tensorllm sweep` run as one MPI job
// (docs/cluster.md). Every rank parses the same options and opens the checkpoint from the
// same shared path (memory-mapped: a rank reads only the layers it decomposes), takes its
// share of the layers or grid points (deal.h: by estimated cost, largest first) and runs them
// on its own oneTBB pool. Rank 0 receives the other ranks' results (the results wire streams
// of results/results_wire.h), puts them in job order and writes the usual outputs once, with
// the same code and the same atomic writes as the single-process commands.
//
// Faults: an exception on any rank (bad options, unreadable checkpoint, out of memory) prints
// "tensorllm-mpi CMD: rank R: ..." and aborts the whole job (MPI_Abort), before rank 0 has
// written anything. A rank that dies (killed, crashed) makes mpirun end the job and name the
// rank; each rank prints its layers or points when it starts, so the log says which ones it
// held. A layer or point that fails fails the job (exit 3, named with its rank; nothing
// written). SIGINT/SIGTERM cancel every rank that receives them; rank 0 then writes nothing
// (sweep: only --save-partial FILE, for --resume).
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"
#include "deal.h"
#include "job_cli.h"
#include "results/hdf5_results.h"
#include "results/results_wire.h"
#include "sweep_cli.h"
#include "transport.h"
#include "util/allocator.h"
#include "util/layer_list.h"

namespace tllm::mpi {
namespace {

constexpr int kTagResults = 17;

// Fault injection for the tests (tests/mpi): the rank named by TENSORLLM_MPI_TEST_KILL_RANK
// kills itself with SIGKILL after its work, before sending its results, as `kill -9` would.
void test_fault_hook(int rank) {
    if (const char* v = std::getenv("TENSORLLM_MPI_TEST_KILL_RANK"); v && *v && std::atoi(v) == rank)
        std::raise(SIGKILL);
}

// The same for cancelling: the rank named by TENSORLLM_MPI_TEST_SIGNAL_RANK sends itself
// SIGTERM before its work starts, as scancel would (the command's InterruptGuard turns it
// into a cancel request).
void test_signal_hook(int rank) {
    if (const char* v = std::getenv("TENSORLLM_MPI_TEST_SIGNAL_RANK"); v && *v && std::atoi(v) == rank)
        std::raise(SIGTERM);
}

std::string join(const std::vector<std::size_t>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s;
}

std::vector<int> job_layers(const model::Model& m, const jobs::JobOptions& opt) {
    if (!opt.layers.empty()) return opt.layers;
    std::vector<int> all;
    for (const auto& l : m.layers()) all.push_back(l.index);
    return all;
}

std::shared_ptr<const jobs::JobSummary> run_decompose_share(std::shared_ptr<const model::Model> m,
                                                            const jobs::JobOptions& opt, bool quiet,
                                                            const std::atomic<bool>& interrupt) {
    const int rank = world_rank(), size = world_size();
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<int> layers = job_layers(*m, opt);
    std::vector<double> costs;
    for (int l : layers) costs.push_back(layer_cost(*m, l, opt));
    const auto dealt = deal(costs, size);
    std::vector<int> mine;
    for (std::size_t k : dealt[std::size_t(rank)]) mine.push_back(layers[k]);
    std::fprintf(stderr, "tensorllm-mpi decompose: rank %d of %d: layers %s\n", rank, size,
                 mine.empty() ? "(none)" : util::format_layer_list(mine).c_str());

    test_signal_hook(rank);
    std::shared_ptr<const jobs::JobSummary> own = std::make_shared<jobs::JobSummary>();
    jobs::JobOptions sub = opt;
    sub.layers = mine;
    if (!mine.empty()) own = cli::run_job(m, sub, quiet || rank != 0, interrupt);
    if (rank != 0) {
        // The layouts of the layers this rank reports (fewer than its share when cancelled).
        std::vector<int> reported;
        for (const auto& r : own->layers) reported.push_back(r.layer);
        exporting::ResultsFile f;
        f.meta = exporting::results_metadata(*m, sub, reported);
        f.summary = *own;
        const std::string bytes = exporting::encode_results(f);
        test_fault_hook(rank);
        send_bytes(bytes, 0, kTagResults);
        return own;
    }
    // Rank 0: every layer's result, in job order.
    std::map<int, jobs::LayerResult> by_layer;
    std::map<int, int> owner;
    auto summary = std::make_shared<jobs::JobSummary>();
    auto take = [&](const jobs::JobSummary& s, int from) {
        summary->cancelled = summary->cancelled || s.cancelled;
        for (const auto& r : s.layers) {
            owner[r.layer] = from;
            by_layer[r.layer] = r;
        }
    };
    take(*own, 0);
    for (int r = 1; r < size; ++r) {
        const std::string who = "rank " + std::to_string(r);
        const auto f = exporting::decode_results(recv_bytes(r, kTagResults), who);
        take(f.summary, r);
    }
    for (int l : layers) {
        auto it = by_layer.find(l);
        if (it == by_layer.end()) continue;  // not reached (cancelled)
        jobs::LayerResult r = std::move(it->second);
        if (r.status == tucker::Status::Failed) {
            r.message = "on rank " + std::to_string(owner[l]) + ": " + r.message;
            ++summary->failed;
        }
        summary->layers.push_back(std::move(r));
    }
    summary->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return summary;
}

edits::SweepResult run_sweep_share(const model::Model& m, eval::Transformer& t, const eval::Tokenizer& tok,
                                   const edits::SweepInput& in, const edits::SweepOptions& opt, bool quiet,
                                   const std::atomic<bool>& interrupt, const cli::SweepProgress& progress) {
    const int rank = world_rank(), size = world_size();
    std::vector<int> layers = opt.layers;
    if (layers.empty())
        for (const auto& l : m.layers()) layers.push_back(l.index);
    const auto grid = edits::sweep_grid(opt, layers);
    std::vector<std::size_t> todo = opt.only;
    if (todo.empty())
        for (std::size_t i = 0; i < grid.size(); ++i) todo.push_back(i);
    std::int64_t tokens = std::int64_t(in.ids.size());
    if (opt.ppl.max_tokens > 0) tokens = std::min(tokens, opt.ppl.max_tokens);
    std::vector<double> costs;
    for (std::size_t i : todo) costs.push_back(point_cost(m, opt, grid[i], tokens, t.config().n_layers));
    const auto dealt = deal(costs, size);
    std::vector<std::size_t> mine;
    for (std::size_t k : dealt[std::size_t(rank)]) mine.push_back(todo[k]);
    std::fprintf(stderr, "tensorllm-mpi sweep: rank %d of %d: grid points %s of %zu\n", rank, size,
                 mine.empty() ? "(none)" : join(mine).c_str(), grid.size());

    test_signal_hook(rank);
    edits::SweepResult own;
    if (!mine.empty()) {
        edits::SweepOptions sub = opt;
        sub.only = mine;
        own = cli::run_sweep_with_progress(m, t, tok, in, sub, quiet || rank != 0, interrupt, cli::SweepProgress{});
    }
    if (rank != 0) {
        const std::string bytes = mine.empty() ? std::string() : exporting::encode_sweep(own);
        test_fault_hook(rank);
        send_bytes(bytes, 0, kTagResults);
        return own;
    }
    // Rank 0 always holds a point (the most expensive one), hence the baseline.
    std::map<std::size_t, int> owner;
    for (int r = 0; r < size; ++r)
        for (std::size_t i : dealt[std::size_t(r)]) owner[todo[i]] = r;
    for (int r = 1; r < size; ++r) {
        const std::string bytes = recv_bytes(r, kTagResults);
        if (bytes.empty()) continue;
        const std::string who = "rank " + std::to_string(r);
        auto other = exporting::decode_sweep(bytes, who);
        own.cancelled = own.cancelled || other.cancelled;
        if (!own.cancelled && !other.cancelled && !(other.baseline.ppl.mean_nll == own.baseline.ppl.mean_nll))
            throw std::runtime_error(who + " measured the unedited model's mean NLL as " +
                                     std::to_string(other.baseline.ppl.mean_nll) + ", rank 0 as " +
                                     std::to_string(own.baseline.ppl.mean_nll) +
                                     ": the ranks do not compute the same model (different files or builds?)");
        edits::merge_points(own, std::move(other.points), who);
    }
    for (auto& p : own.points)
        if (p.status == tucker::Status::Failed) {
            for (std::size_t i = 0; i < grid.size(); ++i)
                if (grid[i].layer == p.spec.layer && grid[i].choice == p.spec.choice && grid[i].laser == p.spec.laser)
                    p.message = "on rank " + std::to_string(owner[i]) + ": " + p.message;
        }
    own.options.only.clear();
    if (own.baseline.ppl.n_windows() > 0 && progress.header) progress.header(own.baseline);
    if (progress.point)
        for (const auto& p : own.points) progress.point(p);
    return own;
}

void usage(std::FILE* out) {
    std::fprintf(out,
                 "tensorllm-mpi %s: tensorllm decompose and sweep dealt over MPI ranks\n"
                 "\n"
                 "usage: mpirun -np N tensorllm-mpi decompose MODEL|--demo [options of tensorllm decompose]\n"
                 "       mpirun -np N tensorllm-mpi sweep MODEL|--demo [options of tensorllm sweep]\n"
                 "\n"
                 "Every rank opens MODEL from the same (shared) path and decomposes or evaluates its\n"
                 "share of the layers or grid points (dealt by estimated cost, largest first); rank 0\n"
                 "writes the outputs, which equal those of the single-process command. A layer or\n"
                 "point that fails, or a rank that fails, ends the job with nothing written.\n"
                 "Threads per rank: --threads N (default: the cores the rank may run on).\n"
                 "See docs/cluster.md.\n",
                 TENSORLLM_VERSION);
}

}  // namespace
}  // namespace tllm::mpi

int main(int argc, char** argv) {
    using namespace tllm;
    util::configure_allocator();
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    const int rank = mpi::world_rank();
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help" || args[0] == "--version") {
        if (rank == 0) {
            if (!args.empty() && args[0] == "--version")
                std::printf("tensorllm-mpi %s\n", TENSORLLM_VERSION);
            else
                mpi::usage(args.empty() ? stderr : stdout);
        }
        MPI_Finalize();
        return args.empty() ? 2 : 0;
    }
    const std::string cmd = args[0];
    args.erase(args.begin());
    const bool help = std::find(args.begin(), args.end(), "--help") != args.end();
    int code = 0;
    try {
        if (help && rank != 0) {
            code = 0;
        } else if (cmd == "decompose") {
            cli::DecomposeHooks h;
            h.prog = "tensorllm-mpi decompose";
            h.writer = rank == 0;
            h.fail_on_layer_error = true;
            h.run = mpi::run_decompose_share;
            code = cli::decompose_command(args, h);
        } else if (cmd == "sweep") {
            cli::SweepHooks h;
            h.prog = "tensorllm-mpi sweep";
            h.writer = rank == 0;
            h.fail_on_point_error = true;
            h.run = mpi::run_sweep_share;
            code = cli::sweep_command(args, h);
        } else {
            if (rank == 0)
                std::fprintf(stderr, "tensorllm-mpi: unknown command '%s' (decompose or sweep; see --help)\n",
                             cmd.c_str());
            code = 2;
        }
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "tensorllm-mpi %s: rank %d: %s\n", cmd.c_str(), rank, e.what());
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 2);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tensorllm-mpi %s: rank %d: %s\n", cmd.c_str(), rank, e.what());
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    std::fflush(stdout);
    MPI_Finalize();
    return code;
}
