// libFuzzer harness: the HDF5 results reader (exporting::read_results_hdf5, then
// reconstruct_layer on every layer it accepted).
//
// The seed corpus holds real results files written by `tensorllm decompose --h5` (small
// models), so mutations start from valid HDF5 structure: superblock, object headers, B-trees,
// attributes and datasets. libhdf5 itself is not instrumented (Debian's build); what the
// harness checks is our side: every value read is validated before use, every failure is a
// std::runtime_error naming the file, and a file the reader accepts reconstructs without
// out-of-bounds access (ASan) or undefined behaviour (UBSan).
#include <hdf5.h>

#include "results/hdf5_results.h"
#include "fuzz_common.h"

using namespace tllm;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // libhdf5's own error stack printing
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string path = (fuzz::scratch_dir() / "results.h5").string();
    fuzz::write_file(path, data, size);
    fuzz::expect_clean(
        [&] {
            const exporting::ResultsFile f = exporting::read_results_hdf5(path);
            fuzz::require(f.path == path, "results remember their path");
            for (const auto& r : f.summary.layers) {
                if (!r.complete()) continue;
                const tensor::Tensor4 W = exporting::reconstruct_layer(f, r.layer);
                fuzz::require(W.size() == std::int64_t(W.data.size()), "reconstruction size");
            }
        },
        path);
    return 0;
}
