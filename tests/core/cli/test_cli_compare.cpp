// tensorllm compare: the real binary on two results sets and an HDF5 file made by
// `tensorllm decompose` of the bundled demo model: the table on stdout, compare.csv and
// compare.json against each side's own results.json, the figures, and the errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "support/test_util.h"
#include "util/json_checksum.h"

namespace tllm::test {
namespace {

namespace fs = std::filesystem;

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> split(const std::string& line, char sep = ',') {
    std::vector<std::string> f(1);
    for (char c : line) {
        if (c == sep)
            f.emplace_back();
        else
            f.back() += c;
    }
    return f;
}

const nlohmann::json& layer_of(const nlohmann::json& doc, int layer) {
    for (const auto& l : doc["layers"])
        if (l["layer"] == layer) return l;
    throw std::runtime_error("layer " + std::to_string(layer) + " missing");
}

struct Sets {
    TempDir dir;
    std::string a, b, b_h5;
    Sets() {
        a = dir.file("a");
        b = dir.file("b");
        b_h5 = dir.file("b.h5");
        auto [ca, oa] = run_tensorllm("decompose --demo --layers 0-2 --ranks 32,16,4 --quiet --out " + a);
        EXPECT_EQ(ca, 0) << oa;
        auto [cb, ob] =
            run_tensorllm("decompose --demo --layers 1-3 --ranks 16,8,2 --quiet --out " + b + " --h5 " + b_h5);
        EXPECT_EQ(cb, 0) << ob;
    }
};

Sets& sets() {
    static Sets s;
    return s;
}

TEST(CliCompare, TablesAndFiguresAgreeWithEachSidesResults) {
    auto& S = sets();
    const std::string out = S.dir.file("cmp");
    auto [code, text] =
        run_tensorllm("compare " + S.a + " " + S.b + " --out " + out + " --label-a base --label-b small", false);
    ASSERT_EQ(code, 0) << text;
    const auto ja = nlohmann::json::parse(read_all(S.a + "/results.json"));
    const auto jb = nlohmann::json::parse(read_all(S.b + "/results.json"));
    // stdout: the sides, the checkpoint statement, the layers only in one side, one row per layer.
    EXPECT_NE(text.find("base: " + S.a), std::string::npos) << text;
    EXPECT_NE(text.find("checkpoint: checkpoint not verified"), std::string::npos) << text;
    EXPECT_NE(text.find("layers only in base: 0\n"), std::string::npos) << text;
    EXPECT_NE(text.find("layers only in small: 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\n1      32,16,4  16,8,2 "), std::string::npos) << text;
    char row[64];
    std::snprintf(row, sizeof row, "%9.5f %9.5f", layer_of(ja, 1)["rel_error"].get<double>(),
                  layer_of(jb, 1)["rel_error"].get<double>());
    EXPECT_NE(text.find(row), std::string::npos) << row << "\n" << text;

    // compare.csv: the values of each results.json, exactly (shortest round-trip decimals).
    std::istringstream csv(read_all(out + "/compare.csv"));
    std::string line;
    std::getline(csv, line);
    const auto head = split(line);
    auto col = [&](const std::string& name) {
        return std::size_t(std::find(head.begin(), head.end(), name) - head.begin());
    };
    ASSERT_LT(col("rel_error_diff"), head.size()) << line;
    int rows = 0;
    while (std::getline(csv, line)) {
        const auto f = split(line);
        ASSERT_EQ(f.size(), head.size()) << line;
        const int l = std::stoi(f[0]);
        ++rows;
        if (l == 0) {
            EXPECT_EQ(f[col("in_b")], "0");
            EXPECT_EQ(f[col("status_b")], "absent");
            EXPECT_EQ(f[col("rel_error_b")], "");
            continue;
        }
        if (l == 3) {
            EXPECT_EQ(f[col("in_a")], "0");
            continue;
        }
        const double ea = layer_of(ja, l)["rel_error"], eb = layer_of(jb, l)["rel_error"];
        EXPECT_EQ(std::strtod(f[col("rel_error_a")].c_str(), nullptr), ea);
        EXPECT_EQ(std::strtod(f[col("rel_error_b")].c_str(), nullptr), eb);
        EXPECT_EQ(std::strtod(f[col("rel_error_diff")].c_str(), nullptr), eb - ea);
        const double ra = layer_of(ja, l)["compression_ratio"], rb = layer_of(jb, l)["compression_ratio"];
        EXPECT_EQ(std::strtod(f[col("ratio_a")].c_str(), nullptr), ra);
        EXPECT_EQ(std::strtod(f[col("ratio_diff")].c_str(), nullptr), rb - ra);
        EXPECT_EQ(f[col("R1_b")], "16");
    }
    EXPECT_EQ(rows, 4);

    // compare.json: checksum, labels, values.
    const auto j = nlohmann::json::parse(read_all(out + "/compare.json"));
    util::verify_json_checksum(j, "compare.json");
    EXPECT_EQ(j["a"]["label"], "base");
    EXPECT_EQ(j["b"]["path"], S.b + "/results.json");
    EXPECT_EQ(j["layers"].size(), 4u);
    EXPECT_EQ(j["layers"][2]["rel_error_b"].get<double>(), layer_of(jb, 2)["rel_error"].get<double>());
    EXPECT_EQ(j["heads"].size(), 8u);  // layers 1 and 2, 4 heads each
    EXPECT_EQ(j["heads"][0]["error_a"].get<double>(), layer_of(ja, 1)["head_error"][0].get<double>());

    // Figures: valid PNG and SVG, a spectra figure per layer in both sides.
    for (const std::string name : {"compare_error_per_layer", "compare_error_difference", "compare_ratio_per_layer",
                                   "compare_spectra_layer_1", "compare_spectra_layer_2"}) {
        SCOPED_TRACE(name);
#ifndef TLLM_CLI_DRAWS_FIGURES
        // A CLI built without the ui library writes the tables only.
        EXPECT_FALSE(fs::exists(out + "/" + name + ".png"));
        continue;
#endif
        const std::string png = read_all(out + "/" + name + ".png");
        ASSERT_GT(png.size(), 1000u);
        EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
        const std::string svg = read_all(out + "/" + name + ".svg");
        EXPECT_NE(svg.find("<svg"), std::string::npos);
        EXPECT_EQ(read_all(out + "/" + name + ".pdf").substr(0, 5), "%PDF-");
        EXPECT_TRUE(fs::exists(out + "/" + name + ".csv"));
    }
    EXPECT_FALSE(fs::exists(out + "/compare_spectra_layer_0.png"));  // only in A
#ifdef TLLM_CLI_DRAWS_FIGURES
    // The overlay's data: both labels as columns.
    EXPECT_EQ(read_all(out + "/compare_error_per_layer.csv").substr(0, 23), "layer,base,small,differ");
#endif
    // Nothing left beside the output.
    for (const auto& e : fs::directory_iterator(S.dir.path()))
        EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST(CliCompare, JsonOutputAndHdf5Input) {
    auto& S = sets();
    auto [code, text] = run_tensorllm("compare " + S.a + "/results.json " + S.b_h5 + " --json", false);
    ASSERT_EQ(code, 0) << text;
    const auto j = nlohmann::json::parse(text);
    EXPECT_EQ(j["a"]["kind"], "results set");
    EXPECT_EQ(j["b"]["kind"], "HDF5 results");
    EXPECT_FALSE(j["b"]["fingerprint"].is_null());
    EXPECT_EQ(j["only_a"], nlohmann::json::array({0}));
}

// Two sweep sets of the same edits on different amounts of text: the points matched by
// (layer, method, edit), each side's values from its own results.json, B - A, the baselines.
TEST(CliCompare, SweepsSideBySide) {
    TempDir dir;
    const std::string text = std::string(TLLM_TEST_DIR) + "/data/kjv/validation.txt";
    const std::string common =
        "sweep --demo --text " + text + " --ctx 128 --stride 64 --layers 0,2 --ranks-list \"32,16,4;16,8,2\" --quiet";
    ASSERT_EQ(run_tensorllm(common + " --max-tokens 3000 --out " + dir.file("sa")).first, 0);
    ASSERT_EQ(run_tensorllm(common + " --max-tokens 1500 --out " + dir.file("sb") + " --h5 " + dir.file("sb.h5")).first,
              0);
    auto [code, text_out] =
        run_tensorllm("compare " + dir.file("sa") + " " + dir.file("sb") + " --out " + dir.file("c"), false);
    ASSERT_EQ(code, 0) << text_out;
    const auto ja = nlohmann::json::parse(read_all(dir.file("sa/results.json")));
    const auto jb = nlohmann::json::parse(read_all(dir.file("sb/results.json")));
    EXPECT_NE(text_out.find("sweep: unedited mean NLL A "), std::string::npos) << text_out;
    const auto j = nlohmann::json::parse(read_all(dir.file("c/compare.json")));
    util::verify_json_checksum(j, "compare.json");
    EXPECT_EQ(j["sweep"]["baseline_mean_nll_a"].get<double>(), ja["baseline"]["mean_nll"].get<double>());
    EXPECT_EQ(j["sweep"]["baseline_mean_nll_b"].get<double>(), jb["baseline"]["mean_nll"].get<double>());
    const auto& pts = j["sweep"]["points"];
    ASSERT_EQ(pts.size(), 4u);
    for (const auto& p : pts) {
        SCOPED_TRACE(p.dump());
        EXPECT_TRUE(p["in_a"].get<bool>() && p["in_b"].get<bool>());
        auto find = [&](const nlohmann::json& doc) {
            for (const auto& q : doc["points"])
                if (q["layer"] == p["layer"] && q["label"] == p["edit"]) return q;
            return nlohmann::json();
        };
        const auto qa = find(ja), qb = find(jb);
        ASSERT_FALSE(qa.is_null() || qb.is_null());
        EXPECT_EQ(p["delta_nll_a"].get<double>(), qa["delta_nll"].get<double>());
        EXPECT_EQ(p["delta_nll_b"].get<double>(), qb["delta_nll"].get<double>());
        EXPECT_EQ(p["delta_nll_diff"].get<double>(), qb["delta_nll"].get<double>() - qa["delta_nll"].get<double>());
        EXPECT_EQ(p["kl_mean_b"].get<double>(), qb["kl_mean"].get<double>());
    }
    EXPECT_TRUE(fs::exists(dir.file("c/compare_sweep.csv")));
#ifdef TLLM_CLI_DRAWS_FIGURES
    EXPECT_EQ(read_all(dir.file("c/compare_sweep_delta_loss.png")).substr(0, 4), "\x89PNG");
#else
    EXPECT_FALSE(fs::exists(dir.file("c/compare_sweep_delta_loss.png")));
#endif
    // No decomposition in either: no per-layer figures.
    EXPECT_FALSE(fs::exists(dir.file("c/compare_error_per_layer.png")));
    // The HDF5 copy of B's sweep compares the same.
    auto [hcode, hout] = run_tensorllm("compare " + dir.file("sa") + " " + dir.file("sb.h5") + " --json", false);
    ASSERT_EQ(hcode, 0) << hout;
    const auto jh = nlohmann::json::parse(hout);
    EXPECT_EQ(jh["b"]["kind"], "HDF5 sweep");
    ASSERT_EQ(jh["sweep"]["points"].size(), 4u);
    for (std::size_t k = 0; k < 4; ++k)
        EXPECT_EQ(jh["sweep"]["points"][k]["delta_nll_diff"], pts[k]["delta_nll_diff"]) << k;
}

TEST(CliCompare, BadInputsAreClearErrors) {
    auto& S = sets();
    const std::string missing = S.dir.file("missing.h5");
    auto [c1, o1] = run_tensorllm("compare " + S.a + " " + missing);
    EXPECT_EQ(c1, 1);
    EXPECT_NE(o1.find("tensorllm compare: " + missing + ": no such file or directory"), std::string::npos) << o1;
    const std::string junk = S.dir.file("junk.bin");
    std::ofstream(junk) << "not a result";
    auto [c2, o2] = run_tensorllm("compare " + junk + " " + S.b);
    EXPECT_EQ(c2, 1);
    EXPECT_NE(o2.find(junk + ": not a results file"), std::string::npos) << o2;
    // --out may not be an input.
    auto [c3, o3] = run_tensorllm("compare " + S.a + " " + S.b + " --out " + S.a);
    EXPECT_EQ(c3, 2) << o3;
    EXPECT_NE(o3.find("--out"), std::string::npos) << o3;
    EXPECT_TRUE(fs::exists(S.a + "/results.json"));
    auto [c4, o4] = run_tensorllm("compare " + S.a);
    EXPECT_EQ(c4, 2);
    EXPECT_NE(o4.find("expected two results"), std::string::npos) << o4;
    auto [c5, o5] = run_tensorllm("compare " + S.a + " " + S.b + " --label-a x --label-b x");
    EXPECT_EQ(c5, 2) << o5;
}

}  // namespace
}  // namespace tllm::test
