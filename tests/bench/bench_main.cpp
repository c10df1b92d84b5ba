// Benchmarks of the engine (Google Benchmark). Each case reports its time, the FLOP count of
// the algorithm (counted by the kernels), GFLOP/s, the relative error, the peak memory and the
// time as a multiple of this machine's lower bound (measured first, in the same run).
//
//   build/tests/bench/tensorllm_bench                       all cases
//   build/tests/bench/tensorllm_bench --benchmark_filter=gpt2
#include <benchmark/benchmark.h>

#include <filesystem>
#include <map>

#include "analysis/benchmark.h"
#include "analysis/spectra.h"
#include "analysis/sweep.h"
#include "model/model.h"
#include "model/synthetic.h"
#include "tensor/tensorize.h"
#include "tucker/linalg.h"

using namespace tllm;

namespace {

const bench::MachineLimits& limits() {
    static const bench::MachineLimits m = bench::measure_machine(0);
    return m;
}

const tensor::Tensor4& layer(const std::array<std::int64_t, 4>& dims) {
    static std::map<std::array<std::int64_t, 4>, tensor::Tensor4> cache;
    auto it = cache.find(dims);
    if (it == cache.end()) it = cache.emplace(dims, bench::synthetic_layer(dims, 42)).first;
    return it->second;
}

void bm_case(benchmark::State& st, bench::BenchCase c) {
    const auto& W = layer(c.dims);
    bench::BenchResult r;
    for (auto _ : st) {
        r = bench::run_case(c, W, limits());
        st.SetIterationTime(r.seconds);
    }
    st.counters["GFLOP"] = r.flops / 1e9;
    st.counters["GFLOP/s"] = r.gflops;
    st.counters["rel_error"] = r.rel_error;
    st.counters["peak_MiB"] = r.peak_rss_mib;
    st.counters["x_bound"] = r.x_bound;
    st.counters["machine_GEMM_GFLOP/s"] = limits().gemm_gflops;
    st.counters["machine_GB/s"] = limits().bandwidth_gbs;
}

// A sharded LLaMA-2-7B-layout bf16 checkpoint with two layers, written once.
const std::string& llama_checkpoint() {
    static const std::string dir = [] {
        const std::string d = (std::filesystem::temp_directory_path() / "tensorllm-bench-llama7b").string();
        if (!std::filesystem::exists(d + "/model.safetensors.index.json")) {
            model::SyntheticSpec s;
            s.model_type = "llama";
            s.hidden = 4096;
            s.heads = 32;
            s.layers = 2;
            s.shards = 2;
            s.rank = 64;
            s.dtype = io::DType::BF16;
            model::write_synthetic_checkpoint(d, s);
        }
        return d;
    }();
    return dir;
}

void bm_open_sharded(benchmark::State& st) {
    const std::string& d = llama_checkpoint();
    for (auto _ : st) {
        model::Model m(d);
        benchmark::DoNotOptimize(m.layers().size());
    }
}

void bm_tensorize_bf16(benchmark::State& st) {
    model::Model m(llama_checkpoint());
    for (auto _ : st) {
        auto W = tensor::tensorize(m, 1);
        benchmark::DoNotOptimize(W.data.data());
    }
    st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(m.shape().original_params()) * 2);
}

void bm_spectra_and_sweep(benchmark::State& st) {
    const auto& W = layer({4096, 128, 4, 32});
    analysis::ModeSpectra sp;
    for (auto _ : st) sp = analysis::mode_spectra(W);
    const model::AttentionShape S{4096, 128, 32, 32};
    const auto grid = analysis::default_grid(S, 16);
    const auto t0 = std::chrono::steady_clock::now();
    auto pts = analysis::sweep_estimate(sp, S, grid);
    st.counters["sweep_points"] = double(pts.size());
    st.counters["sweep_ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    for (const auto& c : bench::standard_cases(false))
        benchmark::RegisterBenchmark(c.name.c_str(), bm_case, c)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond)
            ->Iterations(1);
    benchmark::RegisterBenchmark("open sharded llama7b-layout checkpoint", bm_open_sharded)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("tensorize llama7b layer from bf16 mmap", bm_tensorize_bf16)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("mode spectra + sweep estimate, llama7b layer", bm_spectra_and_sweep)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
