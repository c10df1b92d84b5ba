// results/compare.h: two results made by the engine (the bundled demo model decomposed at two
// rank choices), read back from their files and matched. The expected values are read from
// each side's own results file with nlohmann::json, independently of the compare code.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "jobs/job_runner.h"
#include "model/model.h"
#include "results/compare.h"
#include "results/hdf5_results.h"
#include "results/results_tables.h"
#include "results/sweep_tables.h"
#include "model/synthetic.h"
#include "support/test_util.h"
#include "util/json_checksum.h"

namespace tllm::test {
namespace {

std::string demo_dir() { return std::string(TLLM_TEST_DIR) + "/../resources/models/demo-gpt2"; }

nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return nlohmann::json::parse(ss.str());
}

tucker::RankSpec fixed(std::array<int, 3> r) {
    tucker::RankSpec s;
    s.ranks = r;
    return s;
}

jobs::JobSummary decompose(const model::Model& m, jobs::JobOptions& opt, const std::vector<int>& layers) {
    opt.layers = layers;
    opt.spectra = true;
    jobs::JobSummary s;
    for (int l : layers) s.layers.push_back(jobs::run_layer(m, l, opt, {}));
    return s;
}

// The layer object of results.json `doc` with index `layer`.
const nlohmann::json& layer_of(const nlohmann::json& doc, int layer) {
    for (const auto& l : doc["layers"])
        if (l["layer"] == layer) return l;
    ADD_FAILURE() << "layer " << layer << " not in the document";
    return doc;
}

struct Fixture {
    TempDir dir;
    std::shared_ptr<const model::Model> m = std::make_shared<const model::Model>(demo_dir());
    std::string a_dir, b_h5, b_dir;
    Fixture() {
        jobs::JobOptions oa, ob;
        oa.ranks = fixed({32, 16, 4});
        ob.ranks = fixed({16, 8, 2});
        // A: layers 0, 1, 2; B: layers 1, 2, 3 (0 only in A, 3 only in B).
        const auto sa = decompose(*m, oa, {0, 1, 2});
        const auto sb = decompose(*m, ob, {1, 2, 3});
        a_dir = dir.file("a");
        b_dir = dir.file("b");
        b_h5 = dir.file("b.h5");
        exporting::write_results(a_dir, *m, oa, sa);
        exporting::write_results(b_dir, *m, ob, sb);
        exporting::write_results_hdf5(b_h5, *m, ob, sb);
    }
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

TEST(Compare, LayerTableEqualsEachSidesFileAndDifferencesAreBMinusA) {
    auto& F = fixture();
    const auto ja = read_json(F.a_dir + "/results.json");
    const auto jb = read_json(F.b_dir + "/results.json");
    // A from its directory, B from the HDF5 copy of the same run.
    const auto c = exporting::compare_results(exporting::load_compare_side(F.a_dir, "A", {}, TLLM_READER),
                                              exporting::load_compare_side(F.b_h5, "B", {}, TLLM_READER));
    EXPECT_EQ(c.a.kind, "results set");
    EXPECT_EQ(c.b.kind, "HDF5 results");
    ASSERT_EQ(c.layers.size(), 4u);
    EXPECT_EQ(c.only_a(), std::vector<int>{0});
    EXPECT_EQ(c.only_b(), std::vector<int>{3});
    for (const auto& r : c.layers) {
        SCOPED_TRACE(r.layer);
        EXPECT_EQ(r.in_a, r.layer <= 2);
        EXPECT_EQ(r.in_b, r.layer >= 1);
        if (r.in_a) {
            const auto& l = layer_of(ja, r.layer);
            EXPECT_EQ(r.error_a, l["rel_error"].get<double>());
            EXPECT_EQ(r.ratio_a, l["compression_ratio"].get<double>());
            EXPECT_EQ(r.ranks_a, (std::array<int, 3>{32, 16, 4}));
            EXPECT_EQ(r.type_error_a[2], l["type_error"]["V"].get<double>());
        } else {
            EXPECT_TRUE(std::isnan(r.error_a));
            EXPECT_EQ(r.status_a, "absent");
        }
        if (r.in_b) {
            const auto& l = layer_of(jb, r.layer);
            EXPECT_EQ(r.error_b, l["rel_error"].get<double>());
            EXPECT_EQ(r.ratio_b, l["compression_ratio"].get<double>());
            EXPECT_EQ(r.ranks_b, (std::array<int, 3>{16, 8, 2}));
        }
        if (r.in_a && r.in_b) {
            const double ea = layer_of(ja, r.layer)["rel_error"], eb = layer_of(jb, r.layer)["rel_error"];
            EXPECT_EQ(r.error_diff(), eb - ea);
            // Lower ranks reconstruct worse and compress more.
            EXPECT_GT(r.error_diff(), 0);
            EXPECT_GT(r.ratio_diff(), 0);
        } else {
            EXPECT_TRUE(std::isnan(r.error_diff()));
        }
    }
    // Heads: 4 per layer in both (layers 1 and 2), values from each file's head_error.
    ASSERT_EQ(c.heads.size(), 8u);
    for (const auto& h : c.heads) {
        const double ea = layer_of(ja, h.layer)["head_error"][std::size_t(h.head)];
        const double eb = layer_of(jb, h.layer)["head_error"][std::size_t(h.head)];
        EXPECT_EQ(h.error_a, ea);
        EXPECT_EQ(h.error_b, eb);
        EXPECT_EQ(h.error_diff(), eb - ea);
    }
    // The HDF5 side stores the fingerprint, results.json does not: not verified, same path.
    EXPECT_EQ(c.verdict, exporting::CheckpointVerdict::Unknown);
    EXPECT_NE(c.checkpoint_note.find("not verified"), std::string::npos) << c.checkpoint_note;
    EXPECT_FALSE(c.b.fingerprint.empty());
}

TEST(Compare, OutputsCarryTheTableAndAChecksum) {
    auto& F = fixture();
    const auto c =
        exporting::compare_results(exporting::load_compare_side(F.a_dir + "/results.json", "base", {}, TLLM_READER),
                                   exporting::load_compare_side(F.b_dir, "small", {}, TLLM_READER));
    const auto j = nlohmann::json::parse(exporting::comparison_json(c).dump());
    util::verify_json_checksum(j, "compare.json");
    EXPECT_EQ(j["format"], "tensorllm-compare/1");
    EXPECT_EQ(j["a"]["label"], "base");
    EXPECT_EQ(j["only_a"], nlohmann::json::array({0}));
    EXPECT_EQ(j["only_b"], nlohmann::json::array({3}));
    EXPECT_TRUE(j["layers"][0]["rel_error_b"].is_null());
    // Both results.json sides name the same model path and store no fingerprint.
    EXPECT_EQ(j["checkpoints"]["verdict"], "unknown");
    const std::string csv = exporting::comparison_csv(c);
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);  // header + 4 layers
    EXPECT_NE(csv.find("\n0,1,0,ok,absent,32,16,4,,,,"), std::string::npos) << csv;
    const std::string text = exporting::comparison_text(c);
    EXPECT_NE(text.find("layers only in base: 0"), std::string::npos) << text;
    EXPECT_NE(text.find("layers only in small: 3"), std::string::npos) << text;
}

TEST(Compare, FingerprintsDecideSameAndDifferentCheckpoints) {
    auto& F = fixture();
    const auto same = exporting::compare_results(exporting::load_compare_side(F.b_h5, "A", {}, TLLM_READER),
                                                 exporting::load_compare_side(F.b_h5, "B", {}, TLLM_READER));
    EXPECT_EQ(same.verdict, exporting::CheckpointVerdict::Same);
    for (const auto& r : same.layers) EXPECT_EQ(r.error_diff(), 0.0);

    // A copy of the demo checkpoint elsewhere (as a fine-tuned model of the same layout would
    // be): the header fingerprint covers names, dtypes, shapes and offsets, not the weights, so
    // the same fingerprint under another path is not taken for the same checkpoint.
    TempDir d2;
    const std::string copy = d2.file("copy");
    std::filesystem::create_directories(copy);
    for (const auto& e : std::filesystem::directory_iterator(demo_dir()))
        std::filesystem::copy_file(e.path(), copy + "/" + e.path().filename().string());
    const model::Model mc(copy);
    jobs::JobOptions o;
    o.ranks = fixed({16, 8, 2});
    exporting::write_results_hdf5(d2.file("copy.h5"), mc, o, decompose(mc, o, {1}));
    const auto moved =
        exporting::compare_results(exporting::load_compare_side(F.b_h5, "A", {}, TLLM_READER),
                                   exporting::load_compare_side(d2.file("copy.h5"), "B", {}, TLLM_READER));
    EXPECT_EQ(moved.verdict, exporting::CheckpointVerdict::Unknown);
    EXPECT_NE(moved.checkpoint_note.find("different paths"), std::string::npos) << moved.checkpoint_note;
    // Same weights, same ranks: no difference in layer 1.
    ASSERT_EQ(moved.layers[0].layer, 1);
    EXPECT_EQ(moved.layers[0].error_diff(), 0.0);

    // Another checkpoint (another shape): different, and stated.
    model::SyntheticSpec spec;
    spec.hidden = 64;
    spec.heads = 4;
    spec.layers = 2;
    model::write_synthetic_checkpoint(d2.file("synth"), spec);
    const model::Model ms(d2.file("synth"));
    o.ranks = fixed({8, 8, 2});
    exporting::write_results_hdf5(d2.file("synth.h5"), ms, o, decompose(ms, o, {0, 1}));
    const auto other =
        exporting::compare_results(exporting::load_compare_side(F.b_h5, "base", {}, TLLM_READER),
                                   exporting::load_compare_side(d2.file("synth.h5"), "tuned", {}, TLLM_READER));
    EXPECT_EQ(other.verdict, exporting::CheckpointVerdict::Different);
    EXPECT_EQ(other.checkpoint_note.rfind("different checkpoints: base was computed from ", 0), 0u)
        << other.checkpoint_note;
    EXPECT_NE(exporting::comparison_text(other).find("checkpoint: different checkpoints"), std::string::npos);
}

TEST(Compare, SweepPointsMatchByLayerMethodAndEdit) {
    auto& F = fixture();
    // Two sweeps as `tensorllm sweep --out` writes them (sweep_json + checksum), built by hand
    // with known values.
    auto sweep = [&](double d0, double d1) {
        edits::SweepResult r;
        r.model_path = F.m->checkpoint().path();
        r.model_type = "gpt2";
        r.options.choices = {fixed({32, 16, 4})};
        r.options.layers = {1, 2};
        r.layers = {1, 2};
        r.baseline.ppl.mean_nll = 1.25;
        for (int l : {1, 2}) {
            edits::SweepPoint p;
            p.spec = {l, 0, -1};
            p.label = "32,16,4";
            p.status = tucker::Status::Ok;
            p.ranks = {32, 16, 4};
            p.weight_error = 0.1 * l;
            p.layer_ratio = 3;
            p.mean_nll = 1.25 + (l == 1 ? d0 : d1);
            p.delta_nll = l == 1 ? d0 : d1;
            p.delta_nll_stderr = 0.001;
            p.kl_mean = 0.01 * l;
            p.kl_p99 = 0.1;
            p.top1_agreement = 0.9;
            r.points.push_back(p);
        }
        r.grid_size = r.points.size();
        return r;
    };
    auto write = [&](const std::string& path, const edits::SweepResult& r) {
        auto j = exporting::sweep_json(r);
        util::add_json_checksum(j);
        std::ofstream(path) << j.dump(1);
    };
    write(F.dir.file("sa.json"), sweep(0.02, 0.05));
    write(F.dir.file("sb.json"), sweep(0.03, 0.01));
    const auto c = exporting::compare_results(exporting::load_compare_side(F.dir.file("sa.json"), "A"),
                                              exporting::load_compare_side(F.dir.file("sb.json"), "B"));
    EXPECT_EQ(c.a.kind, "sweep set");
    EXPECT_TRUE(c.layers.empty());
    ASSERT_EQ(c.sweep.size(), 2u);
    EXPECT_EQ(c.sweep[0].layer, 1);
    EXPECT_EQ(c.sweep[0].delta_nll_a, 0.02);
    EXPECT_EQ(c.sweep[0].delta_nll_b, 0.03);
    EXPECT_EQ(c.sweep[0].delta_nll_diff(), 0.03 - 0.02);
    EXPECT_EQ(c.sweep[1].delta_nll_diff(), 0.01 - 0.05);
    EXPECT_EQ(c.baseline_nll_a, 1.25);

    // A project holding A's decomposition and a sweep: each layer's loss is that of the sweep
    // point at the layer's ranks (32,16,4 for layers 1 and 2; layer 0 has no point).
    nlohmann::ordered_json proj;
    proj["format"] = "tensorllm-project/1";
    proj["model_path"] = F.m->checkpoint().path();
    proj["results"] = read_json(F.a_dir + "/results.json");
    proj["sweep"] = exporting::sweep_json(sweep(0.02, 0.05));
    util::add_json_checksum(proj);
    std::ofstream(F.dir.file("p.tllm.json")) << proj.dump(1);
    const auto cp = exporting::compare_results(exporting::load_compare_side(F.dir.file("p.tllm.json"), "P"),
                                               exporting::load_compare_side(F.dir.file("sb.json"), "S"));
    EXPECT_EQ(cp.a.kind, "project");
    ASSERT_EQ(cp.layers.size(), 3u);
    EXPECT_TRUE(std::isnan(cp.layers[0].delta_nll_a));
    EXPECT_EQ(cp.layers[1].delta_nll_a, 0.02);
    EXPECT_EQ(cp.layers[2].delta_nll_a, 0.05);
}

TEST(Compare, BadInputsNameTheFile) {
    auto& F = fixture();
    auto message = [](const std::string& path) {
        try {
            exporting::load_compare_side(path, "A", {}, TLLM_READER);
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string missing = F.dir.file("nope.json");
    EXPECT_EQ(message(missing), missing + ": no such file or directory");
    std::ofstream(F.dir.file("text.txt")) << "hello";
    EXPECT_NE(message(F.dir.file("text.txt")).find(F.dir.file("text.txt") + ": not a results file"), std::string::npos);
    std::ofstream(F.dir.file("other.json")) << R"({"format": "something-else"})";
    const auto m = message(F.dir.file("other.json"));
    EXPECT_NE(m.find(F.dir.file("other.json")), std::string::npos) << m;
    EXPECT_NE(m.find("'something-else'"), std::string::npos) << m;
    std::filesystem::create_directories(F.dir.file("empty"));
    EXPECT_NE(message(F.dir.file("empty")).find("without results.json"), std::string::npos);
    // A changed value: the checksum says so.
    auto doc = read_json(F.a_dir + "/results.json");
    doc["layers"][0]["rel_error"] = 0.5;
    std::ofstream(F.dir.file("changed.json")) << doc.dump();
    EXPECT_NE(message(F.dir.file("changed.json")).find("checksum"), std::string::npos)
        << message(F.dir.file("changed.json"));
}

}  // namespace
}  // namespace tllm::test
