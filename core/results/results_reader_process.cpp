// Running the results reader in a helper process (results/results_reader_process.h).
#include "results/results_reader_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "results/results_wire.h"
#include "results/sweep_hdf5.h"
#include "util/layer_list.h"

extern char** environ;

namespace fs = std::filesystem;

namespace tllm::exporting {
namespace {

// Wall-clock limit of one read (the helper's CPU-time limit is 600 s).
constexpr std::chrono::seconds kReaderWallLimit{1800};

/// Closes a descriptor on scope exit.
struct Fd {
    int fd = -1;
    ~Fd() { reset(); }
    void reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

/// The helper's stderr as one printable line (it is as untrusted as the file it read).
std::string printable(std::string_view s, std::size_t max) {
    std::string out;
    for (unsigned char c : s) {
        if (out.size() >= max) {
            out += "...";
            break;
        }
        out += (c >= 0x20 && c != 0x7f) || c >= 0x80 ? char(c) : (c == '\n' || c == '\t' ? ' ' : '?');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

/// The lines of `s` (without their '\n').
std::vector<std::string_view> lines_of(const std::string& s) {
    std::vector<std::string_view> out;
    for (std::size_t start = 0; start < s.size();) {
        std::size_t end = s.find('\n', start);
        if (end == std::string::npos) end = s.size();
        out.push_back(std::string_view(s).substr(start, end - start));
        start = end + 1;
    }
    return out;
}

/// The first line of `err` that starts with the helper's prefix, without it; empty when none.
std::string helper_message(const std::string& err) {
    const std::string prefix = std::string(kResultsReaderName) + ": ";
    for (const auto line : lines_of(err))
        if (line.starts_with(prefix)) return printable(line.substr(prefix.size()), 4096);
    return {};
}

/// The first line of `err` with more than separators in it (a sanitizer report starts with a
/// line of '='), printable and short.
std::string first_line(const std::string& err) {
    for (const auto line : lines_of(err))
        if (line.find_first_not_of("= \t\r") != std::string_view::npos) return printable(line, 300);
    return {};
}

/// Kills and reaps the helper on every path out of read_results_isolated.
struct Child {
    pid_t pid = -1;
    int status = 0;
    ~Child() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            wait();
        }
    }
    void wait() {
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        pid = -1;
    }
};

}  // namespace

std::string default_results_reader() {
    if (const char* env = std::getenv("TENSORLLM_RESULTS_READER"); env && *env) return env;
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    for (const fs::path& p : {exe.parent_path() / kResultsReaderName,
                              exe.parent_path().parent_path() / "libexec" / "tensorllm" / kResultsReaderName})
        if (::access(p.c_str(), X_OK) == 0) return p.string();
    return {};
}

namespace {

// Runs the helper `reader_arg` (empty: the default) with `flags` then "-- path" and returns its
// stdout, a results or sweep stream; the errors read_results_isolated documents.
std::string run_reader(const std::string& path, const std::vector<std::string>& flags, const util::Control& ctl,
                       const std::string& reader_arg) {
    // The checks the in-process readers make first, here too, so that these errors do not
    // depend on whether the helper can be found.
    const std::uint64_t size = results_file_size(path);
    const std::string reader = reader_arg.empty() ? default_results_reader() : reader_arg;
    if (reader.empty())
        throw std::runtime_error(path + ": cannot read results files: the helper " + std::string(kResultsReaderName) +
                                 " is not installed beside this program (or set TENSORLLM_RESULTS_READER)");
    std::vector<std::string> args{reader};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("--");
    args.push_back(path);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error(path + ": pipe: " + std::strerror(errno));
    Fd out_r{out_pipe[0]}, out_w{out_pipe[1]};
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error(path + ": pipe: " + std::strerror(errno));
    Fd err_r{err_pipe[0]}, err_w{err_pipe[1]};

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w.fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_w.fd, 2);
    // Default dispositions and an empty mask in the helper, whatever this process set (a GUI
    // may ignore SIGPIPE; worker threads may block signals).
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    Child child;
    const int rc = ::posix_spawn(&child.pid, reader.c_str(), &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        child.pid = -1;
        throw std::runtime_error(path + ": cannot start the results reader " + reader + ": " + std::strerror(rc));
    }
    out_w.reset();
    err_w.reset();

    // The stream holds the same numbers as the file with less structure around them; the
    // reader lets a compressed dataset expand to at most kMaxCompressionRatio times the file
    // size, so more than that is a runaway helper.
    const std::uint64_t cap = kMaxCompressionRatio * size + (16u << 20);
    std::string out, err;
    std::vector<char> buf(1 << 16);
    // A helper blocked rather than computing (a stalled network file system) is not stopped by
    // its CPU-time limit; this is.
    const auto deadline = std::chrono::steady_clock::now() + kReaderWallLimit;
    while (out_r.fd >= 0 || err_r.fd >= 0) {
        if (ctl.cancelled()) throw util::Cancelled{};  // ~Child kills the helper
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error(path + ": the results reader took more than " +
                                     std::to_string(kReaderWallLimit.count()) + " s; stopped it");
        pollfd p[2] = {{out_r.fd, POLLIN, 0}, {err_r.fd, POLLIN, 0}};
        const int n = ::poll(p, 2, 100);
        if (n < 0 && errno != EINTR) throw std::runtime_error(path + ": poll: " + std::strerror(errno));
        for (int k = 0; k < 2 && n > 0; ++k) {
            if (p[k].fd < 0 || !(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            Fd& fd = k == 0 ? out_r : err_r;
            const ssize_t got = ::read(fd.fd, buf.data(), buf.size());
            if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (got <= 0) {
                fd.reset();
                continue;
            }
            if (k == 0) {
                out.append(buf.data(), std::size_t(got));
                if (out.size() > cap)
                    throw std::runtime_error(path + ": the results reader wrote more than " + std::to_string(cap) +
                                             " bytes for a file of " + std::to_string(size) + "; stopped it");
            } else if (err.size() < (1u << 16)) {
                err.append(buf.data(), std::size_t(got));
            }
        }
    }
    child.wait();
    const int st = child.status;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return out;
    if (WIFEXITED(st) && (WEXITSTATUS(st) == 1 || WEXITSTATUS(st) == 2))
        if (std::string msg = helper_message(err); !msg.empty()) {
            if (WEXITSTATUS(st) == 2)  // a usage error: this program and the helper disagree
                throw std::runtime_error(path + ": the results reader " + reader + " refused its arguments: " + msg);
            // Its messages name the file; one that does not (std::bad_alloc under its memory
            // limit) gets the name here.
            throw std::runtime_error(msg.rfind(path + ": ", 0) == 0 ? msg : path + ": " + msg);
        }
    std::string how = "exit status " + std::to_string(WEXITSTATUS(st));
    if (WIFSIGNALED(st)) {
        const int sig = WTERMSIG(st);
        const char* abbrev = sigabbrev_np(sig);
        how = "ended by signal " + std::to_string(sig) + (abbrev ? std::string(", SIG") + abbrev : std::string());
    }
    const std::string first = first_line(err);
    throw std::runtime_error(path + ": the HDF5 library failed while reading this file (reader process " + how +
                             (first.empty() ? "" : ": " + first) + "); the file is damaged");
}

/// The flags of the helper for `ropt`. Layer indices the helper's argument parser
/// (util::parse_layer_list) refuses are answered here as the in-process reader would: no
/// results file holds them.
std::vector<std::string> results_flags(const std::string& path, const Hdf5ReadOptions& ropt) {
    ropt.validate();
    for (int l : ropt.layers)
        if (l < 0 || l > util::kMaxLayerIndex)
            throw std::runtime_error(path + ": layer " + std::to_string(l) + " is not in the file");
    std::vector<std::string> flags;
    if (!ropt.factors) flags.push_back("--no-factors");
    if (!ropt.layers.empty()) {
        flags.push_back("--layers");
        flags.push_back(util::format_layer_list(ropt.layers));
    }
    return flags;
}

}  // namespace

ResultsFile read_results_isolated(const std::string& path, const Hdf5ReadOptions& ropt, const util::Control& ctl,
                                  const std::string& reader) {
    // The size check first, as read_results_hdf5 makes it (before the layer list).
    results_file_size(path);
    const auto flags = results_flags(path, ropt);
    return decode_results(run_reader(path, flags, ctl, reader), path);
}

edits::SweepResult read_sweep_hdf5(const std::string& path, const util::Control& ctl, const std::string& reader) {
    return decode_sweep(run_reader(path, {"--sweep"}, ctl, reader), path);
}

Hdf5Contents read_hdf5_isolated(const std::string& path, const Hdf5ReadOptions& ropt, const util::Control& ctl,
                                const std::string& reader) {
    results_file_size(path);
    auto flags = results_flags(path, ropt);
    flags.insert(flags.begin(), "--any");
    const std::string out = run_reader(path, flags, ctl, reader);
    Hdf5Contents c;
    if (std::string_view(out).substr(0, kSweepWireMagic.size()) == kSweepWireMagic)
        c.sweep = decode_sweep(out, path);
    else
        c.results = decode_results(out, path);
    return c;
}

}  // namespace tllm::exporting
