#pragma once
// The standard benchmark set (`tensorllm bench`, tests/bench): decompositions of synthetic
// layers of GPT-2-small and LLaMA-2-7B shapes (low rank + 10% noise, as in the reference
// measurements of docs/performance.md), timed against this machine's own limits measured in
// the same run: the SGEMM rate (the same BLAS, threads and blocking the engine uses) and the
// memory bandwidth (a STREAM-style triad).

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tucker/tucker.h"

namespace tllm::bench {

struct MachineLimits {
    int threads = 0;
    double gemm_gflops = 0;     ///< float32 GEMM rate on the engine's kernel path
    double bandwidth_gbs = 0;   ///< triad bandwidth, GB/s
    std::string blas_coretype;  ///< $OPENBLAS_CORETYPE (forced kernels change the GEMM rate)
};

/// Measures the GEMM rate (a 2048 x 2048 x 8192 mode product on the engine's path) and the
/// triad bandwidth with `threads` threads (0 = all cores). Takes about a second.
MachineLimits measure_machine(int threads);

struct BenchCase {
    std::string name;                  ///< e.g. "llama7b (512,64,4) sthosvd"
    std::array<std::int64_t, 4> dims;  ///< (d, dv, 4, h)
    std::array<int, 3> ranks;
    tucker::Method method = tucker::Method::STHOSVD;
    int iterations = 0;             ///< HOOI: at most this many sweeps
    double tolerance = 0;           ///< HOOI stop tolerance (0: run all sweeps)
    std::vector<int> mode_order{};  ///< ST-HOSVD order (empty: the default)
    tucker::Solver solver = tucker::Solver::Auto;
};

struct BenchResult {
    BenchCase c;
    double seconds = 0;
    double flops = 0;  ///< counted by the kernels (tucker::flop_counter)
    double gflops = 0;
    double rel_error = 0;
    double peak_rss_mib = 0;   ///< process peak resident memory during the case
    double lower_bound_s = 0;  ///< max(2*N*R1 / GEMM rate, 4N bytes / bandwidth)
    double x_bound = 0;        ///< seconds / lower_bound_s
    int runs = 1;              ///< decompositions timed (run_case_repeated)
    double first_seconds = 0;  ///< the first of them (where runs > 1, `seconds` is the median)
};

/// The standard set; `quick` keeps only the GPT-2 shapes (seconds instead of minutes).
std::vector<BenchCase> standard_cases(bool quick);

/// A synthetic layer: multilinear rank (dims/8, dims/2, 4) signal + 10% Gaussian noise.
tensor::Tensor4 synthetic_layer(const std::array<std::int64_t, 4>& dims, std::uint64_t seed);

/// Runs one case on `W` (the layer of its dims) and relates it to `m`.
BenchResult run_case(const BenchCase& c, const tensor::Tensor4& W, const MachineLimits& m);

/// run_case, repeated where one run is short: a case whose first run took under
/// `repeat_below_s` runs `runs` times in all, and `seconds` (with GFLOP/s and x bound) is the
/// median; the first run stays in `first_seconds`, and peak memory is the largest. A single
/// run of a case of tens of milliseconds varies noticeably with the machine's state (the first
/// decomposition in a process also pays its heap's first-touch page faults); the median of five
/// varies much less. Cases of a second or more run once.
BenchResult run_case_repeated(const BenchCase& c, const tensor::Tensor4& W, const MachineLimits& m, int runs = 5,
                              double repeat_below_s = 1.0);

/// Peak resident set size of this process in MiB, and a reset of that peak (Linux
/// /proc/self/clear_refs); reset returns false where unsupported.
double peak_rss_mib();
bool reset_peak_rss();

}  // namespace tllm::bench
