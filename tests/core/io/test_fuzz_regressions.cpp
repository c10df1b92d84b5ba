// Inputs the libFuzzer harnesses in tests/fuzz found, kept as regression tests next to the
// fix each led to. The bytes are the harness inputs as saved by libFuzzer (minimised where
// that made them shorter). The sanitizer build (tests/sanitize.sh) is what turns the
// undefined behaviour back into a failure should a fix regress.
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "results/hdf5_results.h"
#include "results/results_reader_process.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "model/architecture.h"
#include "support/test_util.h"

using namespace tllm;
using tllm::test::TempDir;

// fuzz_safetensors, seed raw_scalar_empty_padded.safetensors: reading an empty F32 tensor
// into an empty vector passed the vector's null data() to memcpy, undefined even for 0 bytes
// (UBSan: "null pointer passed as argument 1, which is declared to never be null" in
// io::to_float32). Fixed in core/io/dtype.cpp: to_float32 and from_float32 skip the memcpy
// for 0 elements.
TEST(FuzzRegressions, EmptyF32TensorReadIntoNullDestination) {
    TempDir dir;
    const std::string p = dir.file("empty.safetensors");
    const float nine = 9.f;
    std::vector<std::uint8_t> data(4);
    std::memcpy(data.data(), &nine, 4);
    tllm::test::write_raw_safetensors(p,
                                      R"({"empty":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},)"
                                      R"("scalar":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}      )",
                                      data);
    io::SafetensorsFile f(p);
    const io::TensorInfo* empty = f.find("empty");
    ASSERT_NE(empty, nullptr);
    std::vector<float> none;  // data() is null
    EXPECT_NO_THROW(f.read_f32(*empty, none.data()));
    EXPECT_NO_THROW(f.read_f32(*empty, 0, 0, none.data()));
    float v = 0;
    f.read_f32(*f.find("scalar"), &v);
    EXPECT_EQ(v, 9.f);

    // The writer's direction (from_float32) had the same memcpy.
    const std::string w = dir.file("written.safetensors");
    io::write_safetensors(w, {io::make_tensor("e", io::DType::F32, {0, 3}, {})});
    io::SafetensorsFile back(w);
    ASSERT_NE(back.find("e"), nullptr);
    EXPECT_EQ(back.find("e")->numel(), 0u);
}

// fuzz_architectures: a pattern with a digit right before {L} ("l.1{L}.q") was accepted,
// yet never matches the names it expands to: layer 0 expands to "l.10.q", which reads back
// as layer 10 behind the literal "l.". The architecture loaded and then found no layers.
// Fixed in core/model/architecture.cpp: PatternMatcher rejects a digit before {L}, as it
// already rejected one after.
TEST(FuzzRegressions, DigitBeforeLayerPlaceholderIsRejected) {
    const auto doc = nlohmann::json::parse(R"({"format":"tensorllm-architectures/1","architectures":[
        {"name":"x","model_types":["x"],"q":"l.1{L}.q","k":"l.{L}.k","v":"l.{L}.v","o":"l.{L}.o"}]})");
    try {
        model::parse_architectures(doc, "arch.json");
        FAIL() << "accepted a pattern with a digit before {L}";
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("arch.json: architectures[0] ('x').q"), std::string::npos) << msg;
        EXPECT_NE(msg.find("{L} must be preceded by a non-digit"), std::string::npos) << msg;
    }
    EXPECT_THROW(model::PatternMatcher("{prefix}h0{L}.attn"), std::runtime_error);

    // What stays accepted: every pattern matches its own expansions.
    for (const std::string pattern : {"l.{L}.q", "{prefix}h{L}.attn", "{prefix}{L}.x", "block_{L}_attn"}) {
        const model::PatternMatcher m(pattern);
        for (int layer : {0, 7, 10, 123456789})
            for (const std::string prefix : {"", "model."}) {
                const auto got = m.match(m.expand(layer, prefix));
                ASSERT_TRUE(got.has_value()) << pattern << " layer " << layer;
                EXPECT_EQ(got->layer, layer) << pattern;
            }
    }
}

// fuzz_hdf5_results: damaged results files that reach faults inside Debian's libhdf5 1.10.8
// (not ours to fix; tests/fuzz/README.md). What our reader must still do with them: report a
// std::runtime_error that names the file, and return.
// - open_leaks_cache_block.h5: H5Fopen fails on a damaged object header and loses a 56-byte
//   metadata-cache block (suppressed for LeakSanitizer by tests/lsan.supp: leak:H5O_protect).
// - object_header_claims_gigabytes.h5: libhdf5 mallocs the 4.29 GB an object header claims
//   before reading it; the read then fails and the block is freed untouched.
// - driver_info_block_claims_gigabytes.h5 (54 bytes; found by CI's fuzzing run): its version-0
//   superblock, cut short, points a driver info block at address 9, whose size field then
//   reads 2.2 GB;
//   libhdf5 allocated that and zero-filled it reading past the end of the file (gigabytes
//   resident for `tensorllm show`). Fixed in core/results/hdf5_read.cpp: check_superblock()
//   refuses a driver info block or superblock extension (results files have neither) before
//   libhdf5 opens the file.
TEST(FuzzRegressions, DamagedHdf5ResultsFromTheFuzzerAreCleanErrors) {
    const std::string dir = std::string(TLLM_TEST_DIR) + "/fuzz/regressions/hdf5_results/";
    for (const auto& [name, expected] : std::vector<std::pair<std::string, std::string>>{
             {"open_leaks_cache_block.h5", ""},
             {"object_header_claims_gigabytes.h5", ""},
             {"driver_info_block_claims_gigabytes.h5", "HDF5 superblock: truncated (54 bytes)"}}) {
        const std::string path = dir + name;
        try {
            exporting::read_results_hdf5(path);
            ADD_FAILURE() << name << ": accepted";
        } catch (const std::runtime_error& e) {
            const std::string msg = e.what();
            EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
            EXPECT_NE(msg.find(expected), std::string::npos) << name << ": " << msg;
        }
    }
}

// The inputs on which fuzzing found libhdf5's own faults (tests/fuzz/known_libhdf5/; a
// use-after-free in H5Aexists), and the regression inputs above, read the way the
// applications read them: in the helper process. Whatever libhdf5 does with them there (a
// clean error in a normal build; a sanitizer report that ends the helper in a sanitizer
// build, tests/sanitize.sh), the caller gets a std::runtime_error naming the file.
TEST(FuzzRegressions, LibHdf5FaultInputsThroughTheHelperAreCleanErrors) {
    std::vector<std::string> files;
    for (const char* sub : {"/fuzz/known_libhdf5", "/fuzz/regressions/hdf5_results"})
        for (const auto& e : std::filesystem::directory_iterator(std::string(TLLM_TEST_DIR) + sub))
            files.push_back(e.path().string());
    ASSERT_GE(files.size(), 4u);
    for (const auto& path : files) {
        try {
            exporting::read_results_isolated(path, {}, {}, TLLM_READER);
            ADD_FAILURE() << path << ": accepted";
        } catch (const std::runtime_error& e) {
            EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << e.what();
            EXPECT_EQ(std::string(e.what()).find("cannot start the results reader"), std::string::npos) << e.what();
        }
    }
}

// The superblock check on a complete results file (a fuzz seed written by `decompose --h5`):
// pointing its driver info block address (bytes 48-55 of a version-0 superblock) anywhere is
// refused, naming the address, before libhdf5 reads the block; the file as written is read.
TEST(FuzzRegressions, SuperblockWithADriverInfoBlockIsRefused) {
    const std::string seed = std::string(TLLM_TEST_DIR) + "/fuzz/corpus/hdf5_results/gqa_llama.h5";
    EXPECT_NO_THROW(exporting::read_results_hdf5(seed));
    TempDir dir;
    const std::string p = dir.file("patched.h5");
    std::filesystem::copy_file(seed, p);
    {
        std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
        char v = 0;
        f.seekg(8);
        f.read(&v, 1);
        ASSERT_EQ(v, 0) << "the seed's superblock is not version 0";
        const unsigned char addr[8] = {9, 0, 0, 0, 0, 0, 0, 0};
        f.seekp(48);
        f.write(reinterpret_cast<const char*>(addr), 8);
    }
    try {
        exporting::read_results_hdf5(p);
        FAIL() << "accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()), p + ": HDF5 superblock: driver info block at address 9 (results files have "
                                             "none) (refused before libhdf5 reads the file)");
    }
}

// tests/fuzz/classify_report.sh, which tests/fuzz/run.sh uses to tell libhdf5's own crashes
// (contained by the results reader helper) from findings of ours, on the sanitizer reports in
// tests/fuzz/triage_cases/ (see its README.md; paths there read /build for the fuzz build
// and /src for the source root). Two of these once failed a run: glibc's debug information
// made a libc frame read as a source file, and libFuzzer's engine frames read as object
// files; both were taken for ours.
namespace {
struct Verdict {
    int status = -1;
    std::string out;
};

Verdict classify(const std::filesystem::path& report) {
    const std::string cmd = "bash '" + std::string(TLLM_TEST_DIR) +
                            "/fuzz/classify_report.sh' /build/tests/fuzz/fuzz_hdf5_results /src < '" + report.string() +
                            "' 2>&1";
    Verdict v;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return v;
    char buf[4096];
    while (const std::size_t n = std::fread(buf, 1, sizeof buf, p)) v.out.append(buf, n);
    const int st = ::pclose(p);
    v.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return v;
}

std::vector<std::filesystem::path> triage_cases(const char* sub) {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(std::string(TLLM_TEST_DIR) + "/fuzz/triage_cases/" + sub))
        files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}
}  // namespace

TEST(FuzzTriage, LibHdf5FaultsAreContainedNotFindings) {
    const auto files = triage_cases("libhdf5");
    ASSERT_EQ(files.size(), 5u);
    for (const auto& f : files) {
        const Verdict v = classify(f);
        EXPECT_EQ(v.status, 0) << f << ": " << v.out;
        // The summary names the kind and the libhdf5 functions on the faulting stack.
        EXPECT_EQ(v.out.rfind("AddressSanitizer: ", 0), 0u) << f << ": " << v.out;
        EXPECT_NE(v.out.find("H5O__attr_exists < H5Aexists"), std::string::npos) << f << ": " << v.out;
    }
}

TEST(FuzzTriage, AnythingOfOursIsAFinding) {
    const auto files = triage_cases("ours");
    ASSERT_EQ(files.size(), 7u);
    for (const auto& f : files) {
        const Verdict v = classify(f);
        EXPECT_EQ(v.status, 1) << f << ": " << v.out;
        EXPECT_EQ(v.out, "") << f;
    }
}
