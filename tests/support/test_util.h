#pragma once
// Helpers shared by the tests: temporary directories and hand-built safetensors bytes.

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/wait.h>

namespace tllm::test {

/// A fresh directory removed at destruction.
class TempDir {
public:
    TempDir() {
        std::random_device rd;
        path_ = std::filesystem::temp_directory_path() /
                ("tllm-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

/// Writes `header_len` (as given, even if wrong) + header text + data bytes to `path`.
inline void write_raw_safetensors(const std::string& path, const std::string& header,
                                  const std::vector<std::uint8_t>& data, std::int64_t header_len = -1) {
    std::ofstream out(path, std::ios::binary);
    const std::uint64_t n = header_len < 0 ? header.size() : static_cast<std::uint64_t>(header_len);
    out.write(reinterpret_cast<const char*>(&n), 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

#ifdef TLLM_CLI
/// Runs the tensorllm binary under test with `args` (a shell command line); returns the exit
/// status (-1 when killed by a signal) and stdout, with stderr merged unless `with_stderr` is false.
inline std::pair<int, std::string> run_tensorllm(const std::string& args, bool with_stderr = true) {
    std::string out;
    FILE* p = ::popen((std::string(TLLM_CLI) + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    const int st = ::pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}
#endif

inline void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

/// Path of the bundled stories260K checkpoint (tests/data/stories260K, see its PROVENANCE.md),
/// or "" when it is missing.
inline std::string stories_path() {
    const std::string p = std::string(TLLM_TEST_DIR) + "/data/stories260K";
    return std::filesystem::exists(p + "/model.safetensors") ? p : std::string();
}

/// The test data is part of the repository: a missing file is a failure, never a skip.
#define TLLM_REQUIRE_STORIES(var)                                                          \
    const std::string var = ::tllm::test::stories_path();                                  \
    if (var.empty()) {                                                                     \
        FAIL() << "tests/data/stories260K/model.safetensors is missing from the checkout"; \
    }                                                                                      \
    static_assert(true)

}  // namespace tllm::test
