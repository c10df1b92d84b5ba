#pragma once
// Helpers shared by the export tests: small decomposed models, file comparison, and a
// file-size limit that makes writes fail part-way even for root.

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <sys/resource.h>

#include <gtest/gtest.h>

#include "jobs/job_runner.h"
#include "model/model.h"
#include "model/synthetic.h"
#include "support/test_util.h"

namespace tllm::test {

/// Writes a synthetic checkpoint to `dir` and opens it.
inline std::shared_ptr<const model::Model> make_model(const std::string& dir, model::SyntheticSpec s) {
    model::write_synthetic_checkpoint(dir, s);
    return std::make_shared<const model::Model>(dir);
}

/// A small llama-layout spec: d = 32, 4 query heads, 2 kv heads, 3 layers.
inline model::SyntheticSpec small_llama(io::DType dt = io::DType::F32, int shards = 1) {
    model::SyntheticSpec s;
    s.model_type = "llama";
    s.hidden = 32;
    s.heads = 4;
    s.kv_heads = 2;
    s.layers = 3;
    s.rank = 6;
    s.dtype = dt;
    s.shards = shards;
    return s;
}

/// Decomposes `layers` synchronously with `opt` (ranks from opt.ranks).
inline jobs::JobSummary decompose_layers(const model::Model& m, jobs::JobOptions& opt, const std::vector<int>& layers) {
    opt.layers = layers;
    jobs::JobSummary s;
    for (int l : layers) {
        s.layers.push_back(jobs::run_layer(m, l, opt, {}));
        s.failed += s.layers.back().status == tucker::Status::Failed;
    }
    return s;
}

inline std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Names in `dir` containing ".tmp-" or ".old-" (staging leftovers).
inline std::vector<std::string> leftovers(const std::filesystem::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        const std::string n = e.path().filename().string();
        if (n.find(".tmp-") != std::string::npos || n.find(".old-") != std::string::npos) out.push_back(n);
    }
    return out;
}

/// While alive, any write that would grow a file past `bytes` fails with EFBIG (RLIMIT_FSIZE
/// applies to root too; SIGXFSZ is ignored so the process survives). Process-wide: use only
/// around single-threaded code in a test.
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes) {
        getrlimit(RLIMIT_FSIZE, &old_);
        old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
        rlimit r = old_;
        r.rlim_cur = bytes;
        ok_ = setrlimit(RLIMIT_FSIZE, &r) == 0;
    }
    ~FileSizeLimit() {
        setrlimit(RLIMIT_FSIZE, &old_);
        std::signal(SIGXFSZ, old_handler_);
    }
    bool ok() const { return ok_; }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;

private:
    rlimit old_{};
    void (*old_handler_)(int) = nullptr;
    bool ok_ = false;
};

/// Runs `cmd` through the shell; returns its exit status and merged output.
inline std::pair<int, std::string> run_command(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return {-1, "popen failed"};
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    const int st = ::pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

/// True when /usr/bin/python3 (TLLM_SYSTEM_PYTHON) can import h5py and numpy.
inline bool have_h5py() {
    const std::string py = TLLM_SYSTEM_PYTHON;
    if (py.empty()) return false;
    return run_command(py + " -c 'import h5py, numpy'").first == 0;
}

/// Asserts two float buffers are bitwise equal.
inline void expect_bitwise(const tensor::FloatBuffer& a, const tensor::FloatBuffer& b, const std::string& what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << what;
}

/// Asserts every stored field of two layer results is equal (factors and core bitwise).
inline void expect_same(const jobs::LayerResult& a, const jobs::LayerResult& b) {
    SCOPED_TRACE("layer " + std::to_string(a.layer));
    EXPECT_EQ(a.layer, b.layer);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.message, b.message);
    EXPECT_EQ(a.warnings, b.warnings);
    EXPECT_EQ(a.ranks, b.ranks);
    EXPECT_EQ(a.seconds_load, b.seconds_load);
    EXPECT_EQ(a.seconds_total, b.seconds_total);
    if (!a.complete()) return;
    const auto &T = a.tucker, &U = b.tucker;
    for (int n = 0; n < 3; ++n) {
        ASSERT_EQ(T.factors[n].rows(), U.factors[n].rows());
        ASSERT_EQ(T.factors[n].cols(), U.factors[n].cols());
        EXPECT_TRUE(T.factors[n] == U.factors[n]) << "U" << n + 1;
    }
    EXPECT_EQ(T.core.dim, U.core.dim);
    expect_bitwise(T.core.data, U.core.data, "core");
    EXPECT_EQ(T.ranks, U.ranks);
    EXPECT_EQ(T.norm_sq, U.norm_sq);
    EXPECT_EQ(T.core_norm_sq, U.core_norm_sq);
    EXPECT_EQ(T.rel_error, U.rel_error);
    EXPECT_EQ(T.trace, U.trace);
    EXPECT_EQ(T.iterations, U.iterations);
    EXPECT_EQ(T.status, U.status);
    EXPECT_EQ(T.seconds, U.seconds);
    const auto &M = a.measures, &N = b.measures;
    EXPECT_EQ(M.rel_error, N.rel_error);
    EXPECT_EQ(M.type_error, N.type_error);
    EXPECT_EQ(M.head_type_error, N.head_type_error);
    EXPECT_EQ(M.head_error, N.head_error);
    EXPECT_EQ(M.head_type_sv, N.head_type_sv);
    EXPECT_EQ(M.captured_energy, N.captured_energy);
    EXPECT_EQ(M.original_params, N.original_params);
    EXPECT_EQ(M.compressed_params, N.compressed_params);
    EXPECT_EQ(M.ratio, N.ratio);
    EXPECT_EQ(M.head_original_params, N.head_original_params);
    EXPECT_EQ(M.head_compressed_params, N.head_compressed_params);
    EXPECT_EQ(M.head_ratio, N.head_ratio);
    ASSERT_EQ(a.spectra.has_value(), b.spectra.has_value());
    if (a.spectra) {
        EXPECT_EQ(a.spectra->singular_values, b.spectra->singular_values);
        EXPECT_EQ(a.spectra->norm_sq, b.spectra->norm_sq);
    }
}

/// Two decomposed layers (0 and 2, layer 2 with its own ranks) of a small llama model.
struct Fixture {
    test::TempDir dir;
    std::shared_ptr<const model::Model> model;
    jobs::JobOptions opt;
    jobs::JobSummary summary;
    explicit Fixture(std::array<int, 3> ranks = {12, 5, 3}) {
        model = test::make_model(dir.file("m"), test::small_llama());
        opt.ranks.ranks = ranks;
        opt.ranks.per_layer[2] = {8, 4, 2};
        opt.tucker.max_iterations = 7;
        opt.threads = 2;
        opt.background_priority = true;
        summary = test::decompose_layers(*model, opt, {0, 2});
        summary.seconds = 1.25;
    }
};

}  // namespace tllm::test
