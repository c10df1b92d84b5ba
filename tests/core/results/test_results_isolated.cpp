// Reading results files in a helper process: the byte stream between the helper and the
// application (round trip, every truncation, damaged fields), the helper against the
// in-process reader on real files, and what the application sees when the helper faults,
// hangs, floods its pipe or is missing.
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <thread>

#include <gtest/gtest.h>

#include "core/results/export_test_util.h"
#include "results/hdf5_results.h"
#include "results/results_reader_process.h"
#include "results/results_wire.h"
#include "support/test_util.h"

using namespace tllm;
namespace fs = std::filesystem;
using test::expect_same;
using test::Fixture;

namespace {

void expect_same_file(const exporting::ResultsFile& a, const exporting::ResultsFile& b) {
    const auto &M = a.meta, &N = b.meta;
    EXPECT_EQ(M.format_version, N.format_version);
    EXPECT_EQ(M.tool_version, N.tool_version);
    EXPECT_EQ(M.created_utc, N.created_utc);
    EXPECT_EQ(M.architecture, N.architecture);
    EXPECT_EQ(M.model_type, N.model_type);
    EXPECT_EQ(M.shape.d, N.shape.d);
    EXPECT_EQ(M.shape.dv, N.shape.dv);
    EXPECT_EQ(M.shape.h, N.shape.h);
    EXPECT_EQ(M.shape.n_kv, N.shape.n_kv);
    EXPECT_EQ(M.num_layers, N.num_layers);
    EXPECT_EQ(M.kv_head_of_head, N.kv_head_of_head);
    EXPECT_EQ(M.mapped_layers, N.mapped_layers);
    ASSERT_EQ(M.layouts.size(), N.layouts.size());
    for (std::size_t k = 0; k < M.layouts.size(); ++k) {
        EXPECT_EQ(M.layouts[k].layer, N.layouts[k].layer);
        EXPECT_EQ(M.layouts[k].part_tensors, N.layouts[k].part_tensors);
        EXPECT_EQ(M.layouts[k].tensors, N.layouts[k].tensors);
        EXPECT_EQ(M.layouts[k].dtype, N.layouts[k].dtype);
    }
    EXPECT_EQ(M.source.path, N.source.path);
    EXPECT_EQ(M.source.total_bytes, N.source.total_bytes);
    EXPECT_EQ(M.source.header_sha256, N.source.header_sha256);
    EXPECT_EQ(M.source.shard_files, N.source.shard_files);
    EXPECT_EQ(M.source.shard_bytes, N.source.shard_bytes);
    const auto &O = M.options, &P = N.options;
    EXPECT_EQ(O.layers, P.layers);
    EXPECT_EQ(O.ranks.kind, P.ranks.kind);
    EXPECT_EQ(O.ranks.ranks, P.ranks.ranks);
    EXPECT_EQ(O.ranks.per_layer, P.ranks.per_layer);
    EXPECT_EQ(O.ranks.tolerance, P.ranks.tolerance);
    EXPECT_EQ(O.ranks.ratio, P.ranks.ratio);
    EXPECT_EQ(O.ranks.params, P.ranks.params);
    EXPECT_EQ(O.tucker.method, P.tucker.method);
    EXPECT_EQ(O.tucker.init, P.tucker.init);
    EXPECT_EQ(O.tucker.mode_order, P.tucker.mode_order);
    EXPECT_EQ(O.tucker.max_iterations, P.tucker.max_iterations);
    EXPECT_EQ(O.tucker.tolerance, P.tucker.tolerance);
    EXPECT_EQ(O.tucker.solver, P.tucker.solver);
    EXPECT_EQ(O.threads, P.threads);
    EXPECT_EQ(O.spectra, P.spectra);
    EXPECT_EQ(O.slice_spectra, P.slice_spectra);
    EXPECT_EQ(O.allow_nonfinite, P.allow_nonfinite);
    EXPECT_EQ(O.background_priority, P.background_priority);
    EXPECT_EQ(a.summary.cancelled, b.summary.cancelled);
    EXPECT_EQ(a.summary.failed, b.summary.failed);
    EXPECT_EQ(a.summary.seconds, b.summary.seconds);
    ASSERT_EQ(a.summary.layers.size(), b.summary.layers.size());
    for (std::size_t k = 0; k < a.summary.layers.size(); ++k) expect_same(a.summary.layers[k], b.summary.layers[k]);
}

/// A results file with a complete layer, a failed one and a non-trivial option set.
struct Written {
    Fixture f;
    std::string path;
    Written() {
        f.opt.tucker.mode_order = {1, 0, 2};
        f.summary.layers[1].status = tucker::Status::Failed;
        f.summary.layers[1].message = "weights hold 3 NaN values";
        f.summary.layers[1].tucker = {};
        f.summary.layers[1].measures = {};
        f.summary.layers[1].spectra.reset();
        f.summary.failed = 1;
        path = f.dir.file("r.h5");
        exporting::write_results_hdf5(path, *f.model, f.opt, f.summary);
    }
};

/// An executable shell script in `dir`.
std::string script(const test::TempDir& dir, const std::string& name, const std::string& body) {
    const std::string p = dir.file(name);
    test::write_text(p, "#!/bin/sh\n" + body + "\n");
    fs::permissions(p, fs::perms::owner_all);
    return p;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST(ResultsWire, RoundTripIsExactIncludingNonFiniteValues) {
    Written w;
    auto in = exporting::read_results_hdf5(w.path);
    expect_same_file(in, exporting::decode_results(exporting::encode_results(in), w.path));
    // Values no HDF5 file of ours holds, but the stream must carry bit for bit.
    in.summary.layers[0].measures.ratio = std::numeric_limits<double>::quiet_NaN();
    in.summary.layers[0].tucker.trace.push_back(-std::numeric_limits<double>::infinity());
    in.summary.layers[0].tucker.factors[0](3, 2) = -0.0f;
    const std::string bytes = exporting::encode_results(in);
    ASSERT_EQ(bytes.substr(0, 8), exporting::kResultsWireMagic);
    const auto out = exporting::decode_results(bytes, w.path);
    EXPECT_EQ(out.path, w.path);
    EXPECT_TRUE(std::isnan(out.summary.layers[0].measures.ratio));
    EXPECT_EQ(out.summary.layers[0].tucker.trace.back(), -std::numeric_limits<double>::infinity());
    EXPECT_TRUE(std::signbit(out.summary.layers[0].tucker.factors[0](3, 2)));
    // The failed layer came through as failed, with its message and no factors.
    EXPECT_EQ(out.summary.layers[1].status, tucker::Status::Failed);
    EXPECT_EQ(out.summary.layers[1].message, "weights hold 3 NaN values");
    // Encoding what was decoded gives the same bytes.
    EXPECT_EQ(exporting::encode_results(out), bytes);
}

TEST(ResultsWire, EveryTruncationAndAnyTrailingByteAreCleanErrors) {
    Written w;
    const std::string bytes = exporting::encode_results(exporting::read_results_hdf5(w.path));
    for (std::size_t keep = 0; keep < bytes.size(); ++keep) {
        const std::string msg =
            error_of([&] { exporting::decode_results(std::string_view(bytes).substr(0, keep), "f.h5"); });
        ASSERT_EQ(msg.rfind("f.h5: ", 0), 0u) << "cut at " << keep << ": " << msg;
    }
    EXPECT_NE(error_of([&] { exporting::decode_results(bytes + '\0', "f.h5"); }).find("1 bytes after the last field"),
              std::string::npos);
}

TEST(ResultsWire, EveryDamagedByteIsACleanErrorOrAConsistentResult) {
    // Each byte in turn replaced by 0xff and by 0x00: decoding throws a runtime_error naming
    // the file (never bad_alloc, length_error or a crash) or returns results that pass
    // check_results, so every consumer's assumptions hold.
    Written w;
    const std::string bytes = exporting::encode_results(exporting::read_results_hdf5(w.path));
    int refused = 0, accepted = 0;
    for (std::size_t k = 0; k < bytes.size(); ++k)
        for (char v : {char(0xff), char(0)}) {
            if (bytes[k] == v) continue;
            std::string b = bytes;
            b[k] = v;
            try {
                // Accepted results are consistent enough for every consumer: reconstruct
                // each complete layer (ASan would catch an access out of bounds).
                const auto f = exporting::decode_results(b, "f.h5");
                for (const auto& r : f.summary.layers) {
                    if (!r.complete() || r.tucker.core.data.empty() || f.meta.shape.tensor_elements() >= (1u << 22))
                        continue;
                    EXPECT_EQ(exporting::reconstruct_layer(f, r.layer).size(),
                              std::int64_t(f.meta.shape.tensor_elements()));
                }
                ++accepted;
            } catch (const std::runtime_error& e) {
                ASSERT_EQ(std::string(e.what()).rfind("f.h5: ", 0), 0u) << e.what();
                ++refused;
            }
        }
    // Most bytes are float payload (accepted as other numbers); every length, count, enum and
    // dimension is among the refused.
    EXPECT_GT(refused, 100);
    EXPECT_GT(accepted, 100);
}

TEST(ResultsWire, InconsistentResultsAreRefusedNamingTheField) {
    Written w;
    const auto good = exporting::read_results_hdf5(w.path);
    auto refuse = [&](const std::function<void(exporting::ResultsFile&)>& damage, const std::string& expect) {
        auto f = good;
        damage(f);
        const std::string msg = error_of([&] { exporting::decode_results(exporting::encode_results(f), w.path); });
        EXPECT_EQ(msg.rfind(w.path + ": ", 0), 0u) << msg;
        EXPECT_NE(msg.find(expect), std::string::npos) << "expected '" << expect << "' in: " << msg;
    };
    refuse([](auto& f) { f.summary.layers[0].tucker.factors[0].conservativeResize(31, Eigen::NoChange); },
           "layers/0/U1");
    refuse([](auto& f) { f.summary.layers[0].tucker.core.dim[3] = 3; }, "layers/0/core");
    refuse([](auto& f) { f.summary.layers[0].measures.head_error.pop_back(); }, "layers/0/head_error");
    refuse([](auto& f) { f.summary.layers[0].ranks[1] = 9; }, "R2 = 9 outside [1, 8]");
    refuse([](auto& f) { f.meta.kv_head_of_head[1] = 1; }, "kv_head_of_head");
    refuse([](auto& f) { f.meta.shape.n_kv = 3; }, "not a multiple of num_kv_heads");
    refuse([](auto& f) { f.meta.layouts.pop_back(); }, "2 layers but 1 layouts");
    refuse([](auto& f) { f.summary.layers[1].layer = 0; }, "repeated");
    refuse([](auto& f) { f.summary.layers[1].tucker.factors = f.summary.layers[0].tucker.factors; },
           "has factors but status failed");
    refuse([](auto& f) { f.meta.source.shard_bytes.push_back(1); }, "source/shard_bytes");
    refuse(
        [](auto& f) {
            f.meta.options.ranks.kind = tucker::RankSpec::Kind::Tolerance;
            f.meta.options.ranks.tolerance = 2;
        },
        "invalid rank options");
    refuse([](auto& f) { f.meta.shape.h = 1 << 17; }, "shape.h");
    refuse([](auto& f) { f.meta.source.header_sha256[3] = 'G'; }, "is not 64 lowercase hex digits");
    refuse([](auto& f) { f.meta.layouts[0].dtype = "F13"; }, "unknown dtype 'F13'");
    // Not a stream at all, and a stream of another build.
    EXPECT_NE(error_of([&] { exporting::decode_results("PK\x03\x04", "f.h5"); }).find("not a results stream"),
              std::string::npos);
    std::string other = exporting::encode_results(good);
    other[8] = 9;
    EXPECT_NE(error_of([&] { exporting::decode_results(other, "f.h5"); }).find("another build"), std::string::npos);
}

TEST(ResultsIsolated, SameResultsAndErrorsAsTheInProcessReader) {
    Written w;
    expect_same_file(exporting::read_results_hdf5(w.path),
                     exporting::read_results_isolated(w.path, {}, {}, TLLM_READER));
    exporting::Hdf5ReadOptions ro;
    ro.factors = false;
    ro.layers = {2};
    const auto part = exporting::read_results_isolated(w.path, ro, {}, TLLM_READER);
    expect_same_file(exporting::read_results_hdf5(w.path, ro), part);
    ASSERT_EQ(part.summary.layers.size(), 1u);
    EXPECT_EQ(part.summary.layers[0].layer, 2);

    // Errors are the reader's own, word for word, naming the file.
    test::write_text(w.f.dir.file("text.h5"), "not an hdf5 file\n");
    const std::string bytes = test::read_bytes(w.path);
    test::write_text(w.f.dir.file("cut.h5"), bytes.substr(0, bytes.size() / 2));
    for (const std::string name : {"text.h5", "cut.h5", "missing.h5"}) {
        const std::string p = w.f.dir.file(name);
        const std::string direct = error_of([&] { exporting::read_results_hdf5(p); });
        EXPECT_EQ(error_of([&] { exporting::read_results_isolated(p, {}, {}, TLLM_READER); }), direct);
        EXPECT_EQ(direct.rfind(p + ": ", 0), 0u) << direct;
    }
    ro.layers = {1};
    EXPECT_EQ(error_of([&] { exporting::read_results_isolated(w.path, ro, {}, TLLM_READER); }),
              error_of([&] { exporting::read_results_hdf5(w.path, ro); }));
}

TEST(ResultsIsolated, AFaultingReaderIsAnErrorNamingTheFile) {
    Written w;
    const test::TempDir bin;
    auto expect_error = [&](const std::string& reader, const std::string& part) {
        const std::string msg = error_of([&] { exporting::read_results_isolated(w.path, {}, {}, reader); });
        EXPECT_EQ(msg.rfind(w.path + ": ", 0), 0u) << msg;
        EXPECT_NE(msg.find(part), std::string::npos) << "expected '" << part << "' in: " << msg;
    };
    // What a fault inside libhdf5 looks like from here: the helper dies by a signal, or a
    // sanitizer ends it with a report.
    expect_error(script(bin, "segv", "kill -SEGV $$"),
                 "the HDF5 library failed while reading this file (reader process ended by signal 11, SIGSEGV); the "
                 "file is damaged");
    expect_error(
        script(bin, "asan",
               "echo '=================' >&2; echo '==1==ERROR: AddressSanitizer: heap-use-after-free' >&2; exit 1"),
        "(reader process exit status 1: ==1==ERROR: AddressSanitizer: heap-use-after-free)");
    // A helper that writes something other than a results stream, or far too much.
    expect_error(script(bin, "garbage", "echo hello"), "results from the reader process: magic: not a results stream");
    expect_error(script(bin, "flood", "exec cat /dev/zero"), "the results reader wrote more than");
    expect_error(
        script(bin, "message", "printf 'tensorllm-read-results: %s: it \\033[31mfailed\\n' \"$2\" >&2; exit 1"),
        ": it ?[31mfailed");  // control characters do not reach a terminal or a dialog
    expect_error(bin.file("absent"), "cannot start the results reader");
    // Its own errors: a usage error is not a damaged file, and a message that does not name the
    // file (std::bad_alloc under the helper's memory limit) gets the name.
    expect_error(script(bin, "usage", "echo 'tensorllm-read-results: unexpected argument' >&2; exit 2"),
                 "refused its arguments: unexpected argument");
    const std::string msg = error_of([&] {
        exporting::read_results_isolated(
            w.path, {}, {}, script(bin, "oom", "echo 'tensorllm-read-results: std::bad_alloc' >&2; exit 1"));
    });
    EXPECT_EQ(msg, w.path + ": std::bad_alloc");
    // Layer indices no results file can hold are answered without the helper.
    exporting::Hdf5ReadOptions ro;
    ro.layers = {2000000};
    EXPECT_EQ(error_of([&] { exporting::read_results_isolated(w.path, ro, {}, bin.file("absent")); }),
              w.path + ": layer 2000000 is not in the file");
}

TEST(ResultsIsolated, CancelStopsAHungReaderAtOnce) {
    Written w;
    const test::TempDir bin;
    const std::string hang = script(bin, "hang", "exec sleep 60");
    std::atomic<bool> cancel{false};
    util::Control ctl;
    ctl.cancel = &cancel;
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        cancel = true;
    });
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_THROW(exporting::read_results_isolated(w.path, {}, ctl, hang), util::Cancelled);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t.join();
    EXPECT_LT(s, 10.0);  // the sleep would take 60 s; the poll checks every 100 ms
}

TEST(ResultsIsolated, TheHelperIsFoundBesideTheApplications) {
    // The CLI finds it in its own directory: `show` works without TENSORLLM_RESULTS_READER.
    Written w;
    const auto [code, out] =
        test::run_command("env -u TENSORLLM_RESULTS_READER " + std::string(TLLM_CLI) + " show " + w.path);
    EXPECT_EQ(code, 0) << out;
    EXPECT_NE(out.find("weights hold 3 NaN values"), std::string::npos) << out;
    EXPECT_EQ(fs::path(TLLM_READER).parent_path(), fs::path(TLLM_CLI).parent_path());
    // With the variable pointing elsewhere, the CLI uses that and reports it when absent.
    const auto [code2, out2] =
        test::run_command("TENSORLLM_RESULTS_READER=/nonexistent/reader " + std::string(TLLM_CLI) + " show " + w.path);
    EXPECT_EQ(code2, 1);
    EXPECT_NE(out2.find("cannot start the results reader /nonexistent/reader"), std::string::npos) << out2;
}
