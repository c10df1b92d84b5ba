#pragma once
// Shared by the libFuzzer harnesses: a scratch directory for the files under test and the
// error contract every reader must keep.
//
// The contract (docs: HOUSE_STYLE.md, "Readers of untrusted files"): whatever the bytes, a
// reader either succeeds with self-consistent results or throws std::runtime_error whose
// message names the file. Any other exception type (nlohmann::json::exception,
// std::bad_alloc, std::out_of_range, ...), a message that does not name the file, or a
// sanitizer report is a finding: the harness aborts and libFuzzer saves the input.

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>

namespace tllm::fuzz {

/// A per-process scratch directory under $TMPDIR (run.sh points it at /dev/shm), removed at
/// a normal exit. Files are rewritten in place on every input.
inline const std::filesystem::path& scratch_dir() {
    static const std::filesystem::path dir = [] {
        auto d = std::filesystem::temp_directory_path() / ("tllm-fuzz-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(scratch_dir(), ec);
        });
        return d;
    }();
    return dir;
}

/// Replaces `path` with exactly `size` bytes (plain POSIX I/O: this runs per input).
inline void write_file(const std::string& path, const void* data, std::size_t size) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        std::perror(path.c_str());
        std::abort();
    }
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n <= 0) {
            std::perror(path.c_str());
            std::abort();
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    ::close(fd);
}

[[noreturn]] inline void finding(const std::string& what) {
    std::fprintf(stderr, "\n==== contract violation: %s\n", what.c_str());
    std::fflush(stderr);
    std::abort();
}

/// Aborts unless `cond`; for invariants of a successful parse.
inline void require(bool cond, const std::string& what) {
    if (!cond) finding("invariant failed: " + what);
}

/// Runs `f`; a std::runtime_error naming `must_name` is the accepted failure, anything else
/// escaping is a finding.
template <class F>
void expect_clean(F&& f, const std::string& must_name) {
    try {
        f();
    } catch (const std::runtime_error& e) {
        if (std::string_view(e.what()).find(must_name) == std::string_view::npos)
            finding("error does not name '" + must_name + "': " + e.what());
    } catch (const std::exception& e) {
        finding(std::string("unexpected exception type ") + typeid(e).name() + ": " + e.what());
    } catch (...) {
        finding("unexpected non-std exception");
    }
}

}  // namespace tllm::fuzz
