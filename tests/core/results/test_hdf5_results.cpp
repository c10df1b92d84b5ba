// HDF5 results files: round trip (bitwise), metadata, reading without recomputation, the
// numpy reader in tests/reference, corrupt files, and exports that are cancelled or fail.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "core/results/export_test_util.h"
#include "results/hdf5_results.h"
#include "support/test_util.h"
#include "tucker/tucker.h"
#include "util/sha256.h"

using namespace tllm;
namespace fs = std::filesystem;
using test::expect_bitwise;
using test::expect_same;
using test::Fixture;

TEST(Sha256, KnownVectors) {
    // FIPS 180-2 appendix B and the NIST example messages.
    EXPECT_EQ(util::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(util::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(util::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(util::sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopq"
                               "rlmnopqrsmnopqrstnopqrstu"),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    // One million 'a', fed in uneven pieces to exercise the buffering.
    util::Sha256 s;
    const std::string chunk(997, 'a');
    std::size_t left = 1000000;
    while (left > 0) {
        const std::size_t n = std::min(left, chunk.size());
        s.update(std::string_view(chunk.data(), n));
        left -= n;
    }
    EXPECT_EQ(s.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    // Lengths around the padding boundary (55, 56, 63, 64 bytes) agree piecewise and whole.
    for (std::size_t n : {55u, 56u, 63u, 64u, 65u, 119u, 120u}) {
        const std::string msg(n, 'x');
        util::Sha256 p;
        p.update(std::string_view(msg).substr(0, n / 3));
        p.update(std::string_view(msg).substr(n / 3));
        EXPECT_EQ(p.hex_digest(), util::sha256_hex(msg)) << n;
    }
    EXPECT_THROW(s.update("x"), std::logic_error);
}

TEST(Hdf5Results, RoundTripIsExact) {
    Fixture f;
    const std::string path = f.dir.file("r.h5");
    exporting::write_results_hdf5(path, *f.model, f.opt, f.summary);
    const auto back = exporting::read_results_hdf5(path);

    ASSERT_EQ(back.summary.layers.size(), 2u);
    EXPECT_EQ(back.summary.seconds, 1.25);
    EXPECT_EQ(back.summary.failed, 0);
    EXPECT_FALSE(back.summary.cancelled);
    for (std::size_t k = 0; k < 2; ++k) expect_same(f.summary.layers[k], back.summary.layers[k]);
    EXPECT_EQ(back.summary.layers[1].ranks, (std::array<int, 3>{8, 4, 2}));

    const auto& M = back.meta;
    EXPECT_EQ(M.format_version, exporting::kHdf5FormatVersion);
    EXPECT_EQ(M.tool_version, TENSORLLM_VERSION);
    EXPECT_EQ(M.created_utc.size(), 20u);
    EXPECT_EQ(M.architecture, "llama");
    EXPECT_EQ(M.model_type, "llama");
    EXPECT_EQ(M.shape.d, 32);
    EXPECT_EQ(M.shape.dv, 8);
    EXPECT_EQ(M.shape.h, 4);
    EXPECT_EQ(M.shape.n_kv, 2);
    EXPECT_EQ(M.num_layers, 3);
    EXPECT_EQ(M.kv_head_of_head, (std::vector<int>{0, 0, 1, 1}));
    EXPECT_EQ(M.mapped_layers, (std::vector<int>{0, 1, 2}));
    ASSERT_EQ(M.layouts.size(), 2u);
    EXPECT_EQ(M.layouts[1].layer, 2);
    EXPECT_EQ(M.layouts[1].part_tensors[1], "model.layers.2.self_attn.k_proj.weight");
    EXPECT_EQ(M.layouts[1].part_tensors[3], "model.layers.2.self_attn.o_proj.weight");
    EXPECT_EQ(M.layouts[1].tensors, f.model->layer(2).tensors);
    EXPECT_EQ(M.layouts[1].dtype, "F32");

    // Source identity: the SHA-256 of the header bytes, computed independently here.
    util::Sha256 sha;
    sha.update(f.model->checkpoint().shards()[0]->header_bytes());
    EXPECT_EQ(M.source.header_sha256, sha.hex_digest());
    EXPECT_EQ(M.source.total_bytes, f.model->checkpoint().total_bytes());
    EXPECT_EQ(M.source.shard_files, (std::vector<std::string>{"model.safetensors"}));
    EXPECT_EQ(M.source.path, fs::absolute(f.model->checkpoint().path()).lexically_normal().string());
    EXPECT_NO_THROW(exporting::verify_source(M, *f.model));

    // Options, every field.
    const auto& O = M.options;
    EXPECT_EQ(O.ranks.kind, tucker::RankSpec::Kind::Fixed);
    EXPECT_EQ(O.ranks.ranks, f.opt.ranks.ranks);
    EXPECT_EQ(O.ranks.per_layer, f.opt.ranks.per_layer);
    EXPECT_EQ(O.ranks.tolerance, f.opt.ranks.tolerance);
    EXPECT_EQ(O.tucker.method, f.opt.tucker.method);
    EXPECT_EQ(O.tucker.init, f.opt.tucker.init);
    EXPECT_EQ(O.tucker.max_iterations, 7);
    EXPECT_EQ(O.tucker.tolerance, f.opt.tucker.tolerance);
    EXPECT_EQ(O.threads, 2);
    EXPECT_EQ(O.layers, (std::vector<int>{0, 2}));
    EXPECT_EQ(O.spectra, f.opt.spectra);
    EXPECT_TRUE(O.background_priority);
    EXPECT_EQ(O.slice_spectra, f.opt.slice_spectra);
    EXPECT_EQ(O.allow_nonfinite, f.opt.allow_nonfinite);

    // Reconstruction from the file alone equals the in-memory reconstruction bitwise.
    for (int l : {0, 2}) {
        const auto from_file = exporting::reconstruct_layer_hdf5(path, l);
        const auto in_memory = tucker::reconstruct(f.summary.layers[l == 0 ? 0 : 1].tucker);
        EXPECT_EQ(from_file.dim, in_memory.dim);
        expect_bitwise(from_file.data, in_memory.data, "W_hat of layer " + std::to_string(l));
    }
    EXPECT_THROW(exporting::reconstruct_layer_hdf5(path, 1), std::runtime_error);
}

TEST(Hdf5Results, OtherRankSpecsFailedLayersAndPartialReads) {
    Fixture f;
    f.opt.ranks.kind = tucker::RankSpec::Kind::Tolerance;
    f.opt.ranks.tolerance = 0.3;
    f.opt.tucker.method = tucker::Method::STHOSVD;
    f.opt.tucker.mode_order = {2, 0, 1};
    f.opt.slice_spectra = false;
    f.summary = test::decompose_layers(*f.model, f.opt, {1, 0});
    f.summary.layers[0].warnings = {"no ranks within tolerance 0.30 compress this layer", "a second line"};
    jobs::LayerResult failed;
    failed.layer = 2;
    failed.status = tucker::Status::Failed;
    failed.message = "layer 2: tensor 'x' contains 3 NaN/Inf values";
    failed.seconds_total = 0.5;
    f.summary.layers.push_back(failed);
    f.summary.failed = 1;
    const std::string path = f.dir.file("r.h5");
    exporting::write_results_hdf5(path, *f.model, f.opt, f.summary);

    const auto back = exporting::read_results_hdf5(path);
    ASSERT_EQ(back.summary.layers.size(), 3u);
    for (std::size_t k = 0; k < 3; ++k) expect_same(f.summary.layers[k], back.summary.layers[k]);
    EXPECT_TRUE(back.summary.layers[0].measures.head_type_sv.empty());
    EXPECT_EQ(back.summary.failed, 1);
    EXPECT_EQ(back.meta.options.ranks.kind, tucker::RankSpec::Kind::Tolerance);
    EXPECT_EQ(back.meta.options.ranks.tolerance, 0.3);
    EXPECT_EQ(back.meta.options.tucker.mode_order, (std::vector<int>{2, 0, 1}));
    EXPECT_FALSE(back.meta.options.slice_spectra);

    exporting::Hdf5ReadOptions light;
    light.factors = false;
    light.layers = {0};
    const auto part = exporting::read_results_hdf5(path, light);
    ASSERT_EQ(part.summary.layers.size(), 1u);
    EXPECT_EQ(part.summary.layers[0].layer, 0);
    EXPECT_EQ(part.summary.layers[0].tucker.factors[0].size(), 0);
    EXPECT_EQ(part.summary.layers[0].measures.rel_error, f.summary.layers[1].measures.rel_error);
    EXPECT_THROW(exporting::reconstruct_layer(part, 0), std::runtime_error);
    light.layers = {7};
    try {
        exporting::read_results_hdf5(path, light);
        FAIL() << "layer 7 is not in the file";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("layer 7"), std::string::npos) << e.what();
    }

    // A summary-only file (no factors) reads back without them.
    exporting::Hdf5WriteOptions small;
    small.factors = false;
    exporting::write_results_hdf5(f.dir.file("small.h5"), *f.model, f.opt, f.summary, small);
    EXPECT_LT(fs::file_size(f.dir.file("small.h5")), fs::file_size(path));
    const auto s = exporting::read_results_hdf5(f.dir.file("small.h5"));
    EXPECT_EQ(s.summary.layers[0].tucker.factors[0].size(), 0);
    EXPECT_EQ(s.summary.layers[0].measures.head_error, f.summary.layers[0].measures.head_error);
}

TEST(Hdf5Results, VerifySourceDetectsAnotherCheckpoint) {
    Fixture f;
    const auto meta = exporting::results_metadata(*f.model, f.opt, {0});
    auto spec = test::small_llama();
    spec.seed = 99;
    spec.hidden = 48;  // a different header
    const auto other = test::make_model(f.dir.file("other"), spec);
    try {
        exporting::verify_source(meta, *other);
        FAIL() << "a different checkpoint must be detected";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(meta.source.header_sha256), std::string::npos);
    }
}

TEST(Hdf5Results, WriterRejectsInconsistentResults) {
    Fixture f;
    auto bad = f.summary;
    bad.layers[0].tucker.factors[0] = Eigen::MatrixXf::Zero(31, 12);
    try {
        exporting::write_results_hdf5(f.dir.file("x.h5"), *f.model, f.opt, bad);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("U1"), std::string::npos) << e.what();
    }
    bad = f.summary;
    bad.layers[1].layer = 0;
    EXPECT_THROW(exporting::write_results_hdf5(f.dir.file("x.h5"), *f.model, f.opt, bad), std::invalid_argument);
    EXPECT_FALSE(fs::exists(f.dir.file("x.h5")));
    EXPECT_TRUE(test::leftovers(f.dir.path()).empty());
}

TEST(Hdf5Results, ReaderRejectsNonHdf5AndTruncatedFiles) {
    Fixture f;
    const std::string path = f.dir.file("r.h5");
    exporting::write_results_hdf5(path, *f.model, f.opt, f.summary);
    test::write_text(f.dir.file("text.h5"), "not an hdf5 file\n");
    EXPECT_THROW(exporting::read_results_hdf5(f.dir.file("text.h5")), std::runtime_error);
    EXPECT_THROW(exporting::read_results_hdf5(f.dir.file("missing.h5")), std::runtime_error);
    const std::string bytes = test::read_bytes(path);
    for (std::size_t keep : {std::size_t(100), bytes.size() / 2, bytes.size() - 64}) {
        const std::string cut = f.dir.file("cut.h5");
        test::write_text(cut, bytes.substr(0, keep));
        try {
            exporting::read_results_hdf5(cut);
            FAIL() << "truncated to " << keep << " bytes";
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string(e.what()).find(cut), std::string::npos) << e.what();
        }
    }
}

TEST(Hdf5Results, CancelLeavesNoFileAndKeepsThePreviousOne) {
    Fixture f;
    const std::string path = f.dir.file("r.h5");
    test::write_text(path, "previous content");
    std::atomic<bool> cancel{true};
    util::Control ctl;
    ctl.cancel = &cancel;
    EXPECT_THROW(exporting::write_results_hdf5(path, *f.model, f.opt, f.summary, {}, ctl), util::Cancelled);
    EXPECT_EQ(test::read_bytes(path), "previous content");
    EXPECT_TRUE(test::leftovers(f.dir.path()).empty());
    EXPECT_THROW(exporting::write_results_hdf5(f.dir.file("new.h5"), *f.model, f.opt, f.summary, {}, ctl),
                 util::Cancelled);
    EXPECT_FALSE(fs::exists(f.dir.file("new.h5")));
    EXPECT_TRUE(test::leftovers(f.dir.path()).empty());
}

TEST(Hdf5Results, UnwritableDestinationIsAClearError) {
    Fixture f;
    test::write_text(f.dir.file("plain"), "x");
    for (const std::string& dest : {f.dir.file("plain") + "/r.h5", f.dir.file("no/such/dir/r.h5")}) {
        try {
            exporting::write_results_hdf5(dest, *f.model, f.opt, f.summary);
            FAIL() << dest;
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string(e.what()).find(dest), std::string::npos) << e.what();
        }
    }
    fs::create_directory(f.dir.file("adir"));
    EXPECT_THROW(exporting::write_results_hdf5(f.dir.file("adir"), *f.model, f.opt, f.summary), std::invalid_argument);
    EXPECT_TRUE(test::leftovers(f.dir.path()).empty());
}

TEST(Hdf5Results, WriteFailingPartWayLeavesNoFile) {
    Fixture f({32, 8, 4});  // full ranks: the factors and cores are the bulk of the file
    const std::string path = f.dir.file("r.h5");
    exporting::write_results_hdf5(f.dir.file("full.h5"), *f.model, f.opt, f.summary);
    const auto full = fs::file_size(f.dir.file("full.h5"));
    test::write_text(path, "previous content");
    {
        test::FileSizeLimit limit(full / 2);
        ASSERT_TRUE(limit.ok());
        try {
            exporting::write_results_hdf5(path, *f.model, f.opt, f.summary);
            FAIL() << "the write must fail past " << full / 2 << " bytes";
        } catch (const std::runtime_error& e) {
            std::printf("mid-write failure reported as: %s\n", e.what());
            EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
        }
    }
    EXPECT_EQ(test::read_bytes(path), "previous content");
    EXPECT_TRUE(test::leftovers(f.dir.path()).empty());
    // The library is still usable afterwards.
    EXPECT_NO_THROW(exporting::write_results_hdf5(path, *f.model, f.opt, f.summary));
    EXPECT_NO_THROW(exporting::read_results_hdf5(path));
}

TEST(Hdf5Results, NumpyReaderReconstructsFromTheFileAlone) {
    if (!test::have_h5py()) GTEST_SKIP() << TLLM_SYSTEM_PYTHON << " cannot import h5py and numpy; skipping";
    const std::string script = std::string(TLLM_TEST_DIR) + "/reference/hdf5_results_check.py";
    for (const auto& ranks : {std::array<int, 3>{12, 5, 3}, std::array<int, 3>{32, 8, 4}}) {
        Fixture f(ranks);
        const std::string path = f.dir.file("r.h5");
        exporting::write_results_hdf5(path, *f.model, f.opt, f.summary);
        const auto [code, out] =
            test::run_command(std::string(TLLM_SYSTEM_PYTHON) + " " + script + " " + path + " " + f.dir.file("m"));
        EXPECT_EQ(code, 0) << out;
        EXPECT_NE(out.find("ok: 2 layer(s)"), std::string::npos) << out;
    }
}

TEST(Hdf5Results, ReaderRejectsEveryDamagedFileNamingTheObject) {
    if (!test::have_h5py()) GTEST_SKIP() << TLLM_SYSTEM_PYTHON << " cannot import h5py and numpy; skipping";
    Fixture f;
    const std::string good = f.dir.file("good.h5");
    exporting::write_results_hdf5(good, *f.model, f.opt, f.summary);
    const std::string out = f.dir.file("bad");
    fs::create_directory(out);
    const auto [code, cases] = test::run_command(std::string(TLLM_SYSTEM_PYTHON) + " " + TLLM_TEST_DIR +
                                                 "/reference/hdf5_corrupt.py " + good + " " + out);
    ASSERT_EQ(code, 0) << cases;
    std::istringstream lines(cases);
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
        const auto tab = line.find('\t');
        ASSERT_NE(tab, std::string::npos) << line;
        const std::string name = line.substr(0, tab), object = line.substr(tab + 1);
        const std::string path = out + "/" + name + ".h5";
        ++n;
        try {
            exporting::read_results_hdf5(path);
            ADD_FAILURE() << name << ": damaged file was accepted";
        } catch (const std::runtime_error& e) {
            const std::string msg = e.what();
            EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << name << ": " << msg;
            EXPECT_NE(msg.find(object), std::string::npos) << name << ": expected '" << object << "' in: " << msg;
        }
    }
    EXPECT_GE(n, 25);
    EXPECT_NO_THROW(exporting::read_results_hdf5(good));
}
