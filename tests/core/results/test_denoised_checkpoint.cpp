// Denoised and factorised checkpoints: full-rank round trips, layout preservation (names,
// dtypes, shards, index), byte-identical untouched tensors, copied files, and exports that
// are cancelled or fail part-way.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/results/export_test_util.h"
#include "writeback/denoised_checkpoint.h"
#include "io/output_guard.h"
#include "results/hdf5_results.h"
#include "io/checkpoint.h"
#include "support/test_util.h"
#include "tensor/tensorize.h"
#include "tucker/tucker.h"

using namespace tllm;
namespace fs = std::filesystem;

namespace {

std::vector<float> as_f32(const io::TensorRef& r) {
    std::vector<float> v(r.info->numel());
    r.file->read_f32(*r.info, v.data());
    return v;
}

std::string shard_of(const io::TensorRef& r) { return fs::path(r.file->path()).filename().string(); }

bool same_bytes(const io::TensorRef& a, const io::TensorRef& b) {
    const auto x = a.file->raw(*a.info), y = b.file->raw(*b.info);
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size()) == 0;
}

// Every tensor of `src` is in `out` with the same dtype, shape and shard; the tensors of
// `replaced_layers` are within `rel_tol` of the original (elementwise, relative to each
// element plus `abs_tol` x the tensor's largest magnitude), every other one byte-identical.
void expect_layout_and_values(const model::Model& src, const io::Checkpoint& out,
                              const std::vector<int>& replaced_layers, double rel_tol, double abs_tol) {
    std::set<std::string> replaced;
    for (int l : replaced_layers)
        for (const auto& n : src.layer(l).tensors) replaced.insert(n);
    EXPECT_EQ(out.tensor_names(), src.checkpoint().tensor_names());
    for (const auto& name : src.checkpoint().tensor_names()) {
        SCOPED_TRACE(name);
        const auto a = src.checkpoint().at(name);
        const auto b = out.find(name);
        ASSERT_TRUE(b.has_value());
        EXPECT_EQ(a.info->dtype, b->info->dtype);
        EXPECT_EQ(a.info->shape, b->info->shape);
        EXPECT_EQ(shard_of(a), shard_of(*b));
        if (!replaced.count(name)) {
            EXPECT_TRUE(same_bytes(a, *b));
            continue;
        }
        const auto x = as_f32(a), y = as_f32(*b);
        float mx = 0;
        for (float v : x) mx = std::max(mx, std::abs(v));
        std::size_t bad = 0;
        for (std::size_t i = 0; i < x.size(); ++i)
            bad += std::abs(x[i] - y[i]) > rel_tol * std::abs(x[i]) + abs_tol * mx;
        EXPECT_EQ(bad, 0u) << "elements outside tolerance";
    }
}

struct Exported {
    test::TempDir dir;
    std::shared_ptr<const model::Model> model;
    jobs::JobOptions opt;
    jobs::JobSummary summary;
    Exported(model::SyntheticSpec spec, std::array<int, 3> ranks, std::vector<int> layers,
             tucker::Method method = tucker::Method::HOSVD) {
        model = test::make_model(dir.file("src"), spec);
        opt.ranks.ranks = ranks;
        opt.tucker.method = method;
        opt.slice_spectra = false;
        summary = test::decompose_layers(*model, opt, layers);
        for (const auto& r : summary.layers) EXPECT_TRUE(r.complete()) << r.message;
    }
    std::string out(const std::string& n = "out") const { return dir.file(n); }
};

}  // namespace

TEST(DenoisedCheckpoint, FullRanksReproduceTheOriginalF32) {
    Exported s(test::small_llama(), {32, 8, 4}, {0, 2});
    const auto rep = exporting::write_denoised_checkpoint(s.out(), *s.model, s.opt, s.summary);
    EXPECT_EQ(rep.layers, (std::vector<int>{0, 2}));
    EXPECT_EQ(rep.replaced_tensors.size(), 8u);
    EXPECT_TRUE(rep.warnings.empty());
    std::vector<std::string> files = rep.files;
    std::sort(files.begin(), files.end());
    EXPECT_EQ(files, (std::vector<std::string>{"config.json", "model.safetensors"}));
    EXPECT_EQ(test::read_bytes(s.out() + "/config.json"), test::read_bytes(s.dir.file("src/config.json")));

    const model::Model out(s.out());
    expect_layout_and_values(*s.model, out.checkpoint(), {0, 2}, 1e-5, 1e-5);
    const auto& meta = out.checkpoint().shards()[0]->metadata();
    EXPECT_EQ(meta.at("format"), "pt");  // the source's own metadata is kept
    EXPECT_EQ(meta.at("tensorllm.form"), "denoised");
    EXPECT_EQ(meta.at("tensorllm.layers"), "0,2");
    EXPECT_EQ(meta.at("tensorllm.ranks"), "0:32,8,4;2:32,8,4");
    EXPECT_EQ(meta.at("tensorllm.method"), "hosvd");
    EXPECT_EQ(meta.at("tensorllm.tool_version"), TENSORLLM_VERSION);
    const auto info = nlohmann::json::parse(meta.at("tensorllm.export"));
    EXPECT_EQ(info["layers"].size(), 2u);
    EXPECT_EQ(info["layers"][1]["original"][0]["name"], s.model->layer(2).tensors[0]);
    EXPECT_TRUE(test::leftovers(s.dir.path()).empty());
}

TEST(DenoisedCheckpoint, ShardedBf16KeepsShardsAndWritesAValidIndex) {
    Exported s(test::small_llama(io::DType::BF16, 2), {32, 8, 4}, {0, 1, 2});
    exporting::write_denoised_checkpoint(s.out(), *s.model, s.opt, s.summary);
    const io::Checkpoint out(s.out());  // validates the index against the shards
    ASSERT_TRUE(out.sharded());
    EXPECT_EQ(out.shards().size(), 2u);
    EXPECT_TRUE(out.warnings().empty());
    // bf16: the reconstruction rounds back to the stored value (or its neighbour at most).
    expect_layout_and_values(*s.model, out, {0, 1, 2}, 1.0 / 128, 1e-5);
    const auto src_index = io::read_json_file(s.dir.file("src/model.safetensors.index.json"));
    const auto index = io::read_json_file(s.out() + "/model.safetensors.index.json");
    EXPECT_EQ(index["weight_map"], src_index["weight_map"]);
    std::uint64_t total = 0;
    for (const auto& n : out.tensor_names()) total += out.at(n).info->nbytes();
    EXPECT_EQ(index["metadata"]["total_size"].get<std::uint64_t>(), total);
    EXPECT_EQ(total, src_index["metadata"]["total_size"].get<std::uint64_t>());
    const model::Model reopened(s.out());
    EXPECT_EQ(reopened.layers().size(), 3u);
}

TEST(DenoisedCheckpoint, ReducedRanksWriteExactlyTheDetensorizedReconstruction) {
    for (const std::string type : {"llama", "gpt2", "gpt_neox"}) {
        SCOPED_TRACE(type);
        auto spec = test::small_llama(io::DType::F16);
        spec.model_type = type;
        if (type != "llama") spec.kv_heads = 0;
        Exported s(spec, {8, 4, 2}, {1}, tucker::Method::HOOI);
        exporting::write_denoised_checkpoint(s.out(), *s.model, s.opt, s.summary);
        const io::Checkpoint out(s.out());
        const auto expect = tensor::detensorize(*s.model, 1, tucker::reconstruct(s.summary.layers[0].tucker));
        for (const auto& t : expect) {
            const auto raw = out.at(t.name).file->raw(*out.at(t.name).info);
            ASSERT_EQ(raw.size(), t.bytes.size()) << t.name;
            EXPECT_EQ(std::memcmp(raw.data(), t.bytes.data(), raw.size()), 0) << t.name;
        }
        // Layers 0 and 2 and every non-attention tensor: byte-identical.
        for (const auto& name : s.model->checkpoint().tensor_names()) {
            const auto& l1 = s.model->layer(1).tensors;
            if (std::find(l1.begin(), l1.end(), name) != l1.end()) continue;
            EXPECT_TRUE(same_bytes(s.model->checkpoint().at(name), out.at(name))) << name;
        }
    }
}

TEST(DenoisedCheckpoint, FactorisedFormStoresFactorsInsteadOfDenseWeights) {
    Exported s(test::small_llama(io::DType::BF16, 2), {12, 5, 3}, {0, 2}, tucker::Method::HOOI);
    exporting::DenoisedOptions d;
    d.form = exporting::CheckpointForm::Factorised;
    const auto rep = exporting::write_denoised_checkpoint(s.out(), *s.model, s.opt, s.summary, d);
    EXPECT_EQ(rep.added_tensors.size(), 8u);
    const io::Checkpoint out(s.out());
    std::set<std::string> gone;
    for (int l : {0, 2})
        for (const auto& n : s.model->layer(l).tensors) gone.insert(n);
    for (const auto& name : s.model->checkpoint().tensor_names()) {
        const auto a = s.model->checkpoint().at(name);
        if (gone.count(name)) {
            EXPECT_FALSE(out.find(name).has_value()) << name;
            continue;
        }
        ASSERT_TRUE(out.find(name).has_value()) << name;
        EXPECT_TRUE(same_bytes(a, out.at(name))) << name;
        EXPECT_EQ(shard_of(a), shard_of(out.at(name))) << name;
    }
    for (std::size_t k = 0; k < 2; ++k) {
        const int l = s.summary.layers[k].layer;
        const auto& T = s.summary.layers[k].tucker;
        const std::string q_shard = shard_of(s.model->checkpoint().at(s.model->layer(l).parts[0].tensor));
        for (int n = 0; n < 3; ++n) {
            const auto r = out.at(exporting::factor_tensor_name(l, "U" + std::to_string(n + 1)));
            EXPECT_EQ(r.info->dtype, io::DType::F32);
            EXPECT_EQ(r.info->shape, (std::vector<std::uint64_t>{std::uint64_t(T.factors[n].rows()),
                                                                 std::uint64_t(T.factors[n].cols())}));
            EXPECT_EQ(shard_of(r), q_shard);
            const auto v = as_f32(r);  // row-major [I_n, R_n]
            for (Eigen::Index i = 0; i < T.factors[n].rows(); ++i)
                for (Eigen::Index j = 0; j < T.factors[n].cols(); ++j)
                    ASSERT_EQ(v[std::size_t(i * T.factors[n].cols() + j)], T.factors[n](i, j));
        }
        const auto c = out.at(exporting::factor_tensor_name(l, "core"));
        EXPECT_EQ(c.info->shape, (std::vector<std::uint64_t>{4, 3, 5, 12}));
        EXPECT_EQ(as_f32(c), std::vector<float>(T.core.data.begin(), T.core.data.end()));
    }
    const auto index = io::read_json_file(s.out() + "/model.safetensors.index.json");
    std::uint64_t total = 0;
    for (const auto& n : out.tensor_names()) total += out.at(n).info->nbytes();
    EXPECT_EQ(index["metadata"]["total_size"].get<std::uint64_t>(), total);
    EXPECT_EQ(out.shards()[0]->metadata().at("tensorllm.form"), "factorised");
}

TEST(DenoisedCheckpoint, CopiesSmallFilesButNoOtherWeights) {
    Exported s(test::small_llama(), {8, 4, 2}, {1});
    test::write_text(s.dir.file("src/tokenizer.json"), "{\"model\": {}}");
    test::write_text(s.dir.file("src/generation_config.json"), "{}");
    test::write_text(s.dir.file("src/pytorch_model.bin"), "stale weights");
    test::write_text(s.dir.file("src/big.txt"), std::string(4096, 'x'));
    fs::create_directory(s.dir.file("src/original"));
    exporting::DenoisedOptions d;
    d.max_copy_bytes = 1024;
    const auto rep = exporting::write_denoised_checkpoint(s.out(), *s.model, s.opt, s.summary, d);
    EXPECT_EQ(test::read_bytes(s.out() + "/tokenizer.json"), "{\"model\": {}}");
    EXPECT_TRUE(fs::exists(s.out() + "/generation_config.json"));
    EXPECT_FALSE(fs::exists(s.out() + "/pytorch_model.bin"));
    EXPECT_FALSE(fs::exists(s.out() + "/big.txt"));
    EXPECT_FALSE(fs::exists(s.out() + "/original"));
    std::string all;
    for (const auto& w : rep.warnings) all += w + "\n";
    EXPECT_NE(all.find("pytorch_model.bin"), std::string::npos) << all;
    EXPECT_NE(all.find("big.txt"), std::string::npos) << all;
    EXPECT_NE(all.find("original"), std::string::npos) << all;
}

TEST(DenoisedCheckpoint, RefusesBadDestinationsAndReplacesOnlyWhenAllowed) {
    Exported s(test::small_llama(), {8, 4, 2}, {1});
    EXPECT_THROW(exporting::write_denoised_checkpoint(s.dir.file("src"), *s.model, s.opt, s.summary),
                 std::invalid_argument);
    exporting::DenoisedOptions over;
    over.overwrite = true;
    EXPECT_THROW(exporting::write_denoised_checkpoint(s.dir.file("src/"), *s.model, s.opt, s.summary, over),
                 std::invalid_argument);

    test::write_text(s.dir.file("plain"), "x");
    try {
        exporting::write_denoised_checkpoint(s.dir.file("plain") + "/out", *s.model, s.opt, s.summary);
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(s.dir.file("plain") + "/out"), std::string::npos) << e.what();
    }
    EXPECT_THROW(exporting::write_denoised_checkpoint(s.dir.file("plain"), *s.model, s.opt, s.summary),
                 std::invalid_argument);

    fs::create_directory(s.out("empty"));
    EXPECT_NO_THROW(exporting::write_denoised_checkpoint(s.out("empty"), *s.model, s.opt, s.summary));
    EXPECT_TRUE(fs::exists(s.out("empty") + "/model.safetensors"));

    // A directory the tool did not write is never replaced, even with overwrite.
    fs::create_directory(s.out("foreign"));
    test::write_text(s.out("foreign") + "/keep.txt", "mine");
    EXPECT_THROW(exporting::write_denoised_checkpoint(s.out("foreign"), *s.model, s.opt, s.summary, over),
                 io::UnsafeOutput);
    EXPECT_EQ(test::read_bytes(s.out("foreign") + "/keep.txt"), "mine");

    // An earlier denoised output (its marker says so) is replaced only with overwrite.
    fs::create_directory(s.out("full"));
    test::write_text(s.out("full") + "/keep.txt", "previous");
    io::write_output_marker(s.out("full"), "denoised");
    EXPECT_THROW(exporting::write_denoised_checkpoint(s.out("full"), *s.model, s.opt, s.summary),
                 std::invalid_argument);
    EXPECT_EQ(test::read_bytes(s.out("full") + "/keep.txt"), "previous");
    exporting::write_denoised_checkpoint(s.out("full") + "/", *s.model, s.opt, s.summary, over);
    EXPECT_FALSE(fs::exists(s.out("full") + "/keep.txt"));
    EXPECT_TRUE(fs::exists(s.out("full") + "/model.safetensors"));
    EXPECT_TRUE(test::leftovers(s.dir.path()).empty());

    jobs::JobSummary none;
    none.layers.push_back(s.summary.layers[0]);
    none.layers[0].status = tucker::Status::Failed;
    EXPECT_THROW(exporting::write_denoised_checkpoint(s.out("none"), *s.model, s.opt, none), std::invalid_argument);
}

TEST(DenoisedCheckpoint, CancelLeavesNothingAndKeepsThePreviousDirectory) {
    Exported s(test::small_llama(io::DType::F32, 2), {8, 4, 2}, {0, 1});
    std::atomic<bool> cancel{true};
    util::Control ctl;
    ctl.cancel = &cancel;
    for (auto form : {exporting::CheckpointForm::Dense, exporting::CheckpointForm::Factorised}) {
        exporting::DenoisedOptions d;
        d.form = form;
        EXPECT_THROW(exporting::write_denoised_checkpoint(s.out(), *s.model, s.opt, s.summary, d, ctl),
                     util::Cancelled);
        EXPECT_FALSE(fs::exists(s.out()));
        EXPECT_TRUE(test::leftovers(s.dir.path()).empty());
    }
    fs::create_directory(s.out());
    test::write_text(s.out() + "/keep.txt", "previous");
    io::write_output_marker(s.out(), "denoised");
    exporting::DenoisedOptions over;
    over.overwrite = true;
    EXPECT_THROW(exporting::write_denoised_checkpoint(s.out(), *s.model, s.opt, s.summary, over, ctl), util::Cancelled);
    EXPECT_EQ(test::read_bytes(s.out() + "/keep.txt"), "previous");
    EXPECT_EQ(std::distance(fs::directory_iterator(s.out()), fs::directory_iterator()), 2);  // keep.txt, marker
    EXPECT_TRUE(test::leftovers(s.dir.path()).empty());
}

TEST(DenoisedCheckpoint, WriteFailingPartWayLeavesNothingAndKeepsThePreviousDirectory) {
    Exported s(test::small_llama(io::DType::F32, 2), {8, 4, 2}, {0, 1, 2});
    std::uintmax_t largest = 0;
    for (const auto& sh : s.model->checkpoint().shards()) largest = std::max<std::uintmax_t>(largest, sh->file_size());
    fs::create_directory(s.out());
    test::write_text(s.out() + "/keep.txt", "previous");
    io::write_output_marker(s.out(), "denoised");
    exporting::DenoisedOptions over;
    over.overwrite = true;
    for (auto form : {exporting::CheckpointForm::Dense, exporting::CheckpointForm::Factorised}) {
        over.form = form;
        io::write_output_marker(s.out(), exporting::checkpoint_form_name(form));  // an earlier output of this form
        for (const std::string& dest : {s.out(), s.out("fresh")}) {
            test::FileSizeLimit limit(largest / 2);
            ASSERT_TRUE(limit.ok());
            try {
                exporting::write_denoised_checkpoint(dest, *s.model, s.opt, s.summary, over);
                ADD_FAILURE() << "the export must fail past " << largest / 2 << " bytes";
            } catch (const std::runtime_error& e) {
                EXPECT_NE(std::string(e.what()).find(dest + ": writing shard"), std::string::npos) << e.what();
            }
        }
        EXPECT_EQ(test::read_bytes(s.out() + "/keep.txt"), "previous");
        EXPECT_EQ(std::distance(fs::directory_iterator(s.out()), fs::directory_iterator()), 2);
        EXPECT_FALSE(fs::exists(s.out("fresh")));
        EXPECT_TRUE(test::leftovers(s.dir.path()).empty());
    }
}

TEST(DenoisedCheckpoint, Stories260KFullRanksAndNumpyCheck) {
    TLLM_REQUIRE_STORIES(path);
    const model::Model m(path);
    const auto& S = m.shape();
    jobs::JobOptions opt;
    opt.ranks.ranks = {S.d, S.dv, 4};
    opt.tucker.method = tucker::Method::HOSVD;
    std::vector<int> all;
    for (const auto& L : m.layers()) all.push_back(L.index);
    const auto s = test::decompose_layers(m, opt, all);
    test::TempDir dir;
    exporting::write_denoised_checkpoint(dir.file("den"), m, opt, s);
    const model::Model out(dir.file("den"));
    expect_layout_and_values(m, out.checkpoint(), all, 1e-4, 1e-5);

    // Reduced ranks: the HDF5 file alone lets numpy reproduce the stored errors.
    if (!test::have_h5py()) GTEST_SKIP() << TLLM_SYSTEM_PYTHON << " cannot import h5py and numpy; skipping";
    jobs::JobOptions low;
    low.ranks.ranks = {32, 4, 2};
    const auto r = test::decompose_layers(m, low, {0, 4});
    exporting::write_results_hdf5(dir.file("r.h5"), m, low, r);
    const auto [code, msg] = test::run_command(std::string(TLLM_SYSTEM_PYTHON) + " " + TLLM_TEST_DIR +
                                               "/reference/hdf5_results_check.py " + dir.file("r.h5") + " " + path);
    EXPECT_EQ(code, 0) << msg;
}
