// libFuzzer harness: the results stream that the helper process tensorllm-read-results
// writes and the applications decode (exporting::decode_results, then reconstruct_layer on
// every complete layer it accepted). The helper is as untrusted as the HDF5 file it read, so
// this decoder is the boundary the applications rely on: every length and count bounded by
// the bytes left, every enum and dimension checked, and check_results' invariants enough for
// the reconstruction to stay in bounds (ASan) and defined (UBSan).
//
// Seeds (corpus/results_wire) are the streams of the HDF5 seeds, written by the helper:
//   build/app/tensorllm-read-results tests/fuzz/corpus/hdf5_results/X.h5 > corpus/results_wire/X.bin
#include "results/hdf5_results.h"
#include "results/results_wire.h"
#include "fuzz_common.h"

using namespace tllm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string path = "fuzzed.h5";
    fuzz::expect_clean(
        [&] {
            const exporting::ResultsFile f =
                exporting::decode_results(std::string_view(reinterpret_cast<const char*>(data), size), path);
            fuzz::require(f.path == path, "results remember their path");
            // What was accepted encodes to the same bytes: nothing was silently dropped or
            // normalised on the way in.
            fuzz::require(exporting::encode_results(f) == std::string_view(reinterpret_cast<const char*>(data), size),
                          "decode then encode gives the input back");
            for (const auto& r : f.summary.layers) {
                if (!r.complete() || r.tucker.core.data.empty()) continue;
                // W_hat has the model's size by design (d x dv x 4 x h, checked against the
                // factors); beyond 2^24 elements it is a legitimately large allocation, not a
                // decoding fault, and would only trip the harness's memory limit.
                if (f.meta.shape.tensor_elements() > (std::uint64_t(1) << 24)) continue;
                const tensor::Tensor4 W = exporting::reconstruct_layer(f, r.layer);
                fuzz::require(W.size() == std::int64_t(W.data.size()), "reconstruction size");
            }
        },
        path);
    return 0;
}
