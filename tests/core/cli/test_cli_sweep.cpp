// tensorllm sweep and evaluate --edit: the set written, agreement with the denoised
// checkpoint and with the stored decompositions, exit codes and error messages.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <filesystem>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "support/test_util.h"
#include "util/json_checksum.h"

namespace tllm::test {
namespace {

namespace fs = std::filesystem;

std::string read_all(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// RFC 4180 fields of one line: commas inside double quotes, "" for a quote.
std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> f(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"')
            f.back() += '"', ++i;
        else if (c == '"')
            quoted = !quoted;
        else if (c == ',' && !quoted)
            f.emplace_back();
        else
            f.back() += c;
    }
    return f;
}

std::string demo_dir() { return std::string(TLLM_TEST_DIR) + "/../resources/models/demo-gpt2"; }
std::string kjv() { return std::string(TLLM_TEST_DIR) + "/data/kjv/validation.txt"; }

// The sweep's point, `evaluate --edit` of the same decomposition stored in HDF5, and
// `evaluate` of the written denoised checkpoint: one mean NLL.
TEST(CliSweep, SetAgreesWithEditAndDenoisedCheckpoint) {
    TempDir dir;
    const std::string common = " --text " + kjv() + " --ctx 128 --stride 64 --max-tokens 3000";
    auto [code, out] =
        run_tensorllm("sweep --demo" + common +
                      " --layers 0,3 --method hosvd --ranks-list \"32,16,4;8,8,2\" --tols 0.5 --laser down:16 --quiet"
                      " --out " +
                      dir.file("sw") + " --h5 " + dir.file("sw.h5"));
    ASSERT_EQ(code, 0) << out;
    // The HDF5 copy prints the same points.
    auto [scode, sout] = run_tensorllm("show " + dir.file("sw.h5") + " --json", false);
    ASSERT_EQ(scode, 0) << sout;
    EXPECT_EQ(nlohmann::json::parse(sout)["points"].size(), 8u);
    EXPECT_NE(out.find("unedited: mean NLL"), std::string::npos) << out;
    const auto j = nlohmann::json::parse(read_all(dir.file("sw/results.json")));
    util::verify_json_checksum(j, "results.json");
    ASSERT_EQ(j["points"].size(), 8u);
    EXPECT_EQ(j["grid_size"], 8);
    EXPECT_FALSE(j["cancelled"].get<bool>());
    // sweep.csv: a header and one row per point, the same numbers as results.json.
    std::istringstream csv(read_all(dir.file("sw/sweep.csv")));
    std::string line;
    std::getline(csv, line);
    EXPECT_EQ(line.rfind("layer,label,method,R1,R2,R3,laser,weight_error", 0), 0u) << line;
    int rows = 0;
    while (std::getline(csv, line)) {
        const auto& p = j["points"][std::size_t(rows)];
        const auto f = csv_fields(line);
        ASSERT_EQ(f.size(), 28u) << line;
        EXPECT_EQ(std::stoi(f[0]), p["layer"].get<int>());
        EXPECT_EQ(f[1], p["label"].get<std::string>());
        EXPECT_NEAR(std::stod(f[15]), p["mean_nll"].get<double>(), 1e-8);  // mean_nll column
        ++rows;
    }
    EXPECT_EQ(rows, 8);
    EXPECT_EQ(j["points"][4]["label"], "32,16,4");
    EXPECT_EQ(j["points"][4]["layer"], 3);

    // Layer 3 at (32, 16, 4) by HOSVD, stored in HDF5 and as a denoised checkpoint.
    std::tie(code, out) = run_tensorllm("decompose --demo --layers 3 --method hosvd --ranks 32,16,4 --quiet --h5 " +
                                        dir.file("d.h5") + " --denoised " + dir.file("den"));
    ASSERT_EQ(code, 0) << out;
    std::tie(code, out) = run_tensorllm("evaluate --demo" + common + " --edit " + dir.file("d.h5") + " --json", false);
    ASSERT_EQ(code, 0) << out;
    const auto e = nlohmann::json::parse(out);
    std::tie(code, out) = run_tensorllm("evaluate " + dir.file("den") + common + " --json", false);
    ASSERT_EQ(code, 0) << out;
    const auto w = nlohmann::json::parse(out);
    const double sweep_nll = j["points"][4]["mean_nll"].get<double>();
    EXPECT_EQ(e["edited"]["mean_nll"].get<double>(), w["mean_nll"].get<double>());
    EXPECT_EQ(sweep_nll, w["mean_nll"].get<double>());
    EXPECT_EQ(e["unedited"]["mean_nll"].get<double>(), j["baseline"]["mean_nll"].get<double>());
    EXPECT_NEAR(e["delta_nll"].get<double>(), j["points"][4]["delta_nll"].get<double>(), 1e-12);
    EXPECT_EQ(e["kl_mean"].get<double>(), j["points"][4]["kl_mean"].get<double>());
    EXPECT_EQ(e["edit"]["layers"], nlohmann::json::array({3}));

    // A second sweep replaces the set whole; the JSON on stdout is the same document.
    std::tie(code, out) =
        run_tensorllm("sweep --demo" + common + " --layers 5 --laser up:4 --json --out " + dir.file("sw"), false);
    ASSERT_EQ(code, 0) << out;
    EXPECT_EQ(nlohmann::json::parse(out)["points"].size(), 1u);
    EXPECT_EQ(nlohmann::json::parse(read_all(dir.file("sw/results.json")))["points"].size(), 1u);
}

// --resume with a results file cut to its first points (as --save-partial leaves one): the
// resumed run reports what it kept and ran, and its set holds every point with the numbers of
// the uninterrupted run. A file of another sweep, or a damaged one, is refused before anything
// runs; a file holding every point leaves nothing to run.
TEST(CliSweep, ResumeRunsOnlyTheMissingPoints) {
    TempDir dir;
    const std::string sweep = "sweep --demo --text " + kjv() +
                              " --ctx 128 --max-tokens 1500 --layers 1,4 --ranks-list \"16,8,2;8,8,2\" --laser "
                              "down:8 --quiet";
    auto [code, out] = run_tensorllm(sweep + " --out " + dir.file("whole"));
    ASSERT_EQ(code, 0) << out;
    auto whole = nlohmann::json::parse(read_all(dir.file("whole/results.json")));
    ASSERT_EQ(whole["points"].size(), 6u);
    auto cut = whole;
    cut["points"] = nlohmann::json::array({whole["points"][0], whole["points"][1], whole["points"][4]});
    cut.erase("checksum");
    write_text(dir.file("cut.json"), cut.dump());
    std::tie(code, out) = run_tensorllm(sweep + " --resume " + dir.file("cut.json") + " --out " + dir.file("resumed"));
    ASSERT_EQ(code, 0) << out;
    EXPECT_NE(out.find("3 of 6 points done, 3 to run"), std::string::npos) << out;
    const auto resumed = nlohmann::json::parse(read_all(dir.file("resumed/results.json")));
    ASSERT_EQ(resumed["points"].size(), 6u);
    for (std::size_t i = 0; i < 6; ++i) {
        SCOPED_TRACE(i);
        const auto& a = whole["points"][i];
        const auto& b = resumed["points"][i];
        EXPECT_EQ(a["layer"], b["layer"]);
        EXPECT_EQ(a["label"], b["label"]);
        EXPECT_EQ(a["mean_nll"].get<double>(), b["mean_nll"].get<double>());
        EXPECT_EQ(a["kl_mean"].get<double>(), b["kl_mean"].get<double>());
        EXPECT_EQ(a["top1_agreement"].get<double>(), b["top1_agreement"].get<double>());
    }
    // Another sweep's file: other rank choices, other layers.
    std::tie(code, out) = run_tensorllm("sweep --demo --text " + kjv() +
                                        " --ctx 128 --max-tokens 1500 --layers 1,4 --ranks-list 4,4,1 --quiet" +
                                        " --resume " + dir.file("cut.json") + " --out " + dir.file("other"));
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("the edits (rank choices, LASER) differ"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(dir.file("other")));
    std::tie(code, out) = run_tensorllm("sweep --demo --text " + kjv() +
                                        " --ctx 128 --max-tokens 1500 --layers 1 --ranks-list \"16,8,2;8,8,2\"" +
                                        " --laser down:8 --quiet --resume " + dir.file("cut.json"));
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("layers 1,4 differ from this run's 1"), std::string::npos) << out;
    // A changed value under an intact checksum; then the complete file.
    auto damaged = nlohmann::json::parse(read_all(dir.file("whole/results.json")));
    damaged["points"][0]["mean_nll"] = 0.5;
    write_text(dir.file("damaged.json"), damaged.dump());
    std::tie(code, out) = run_tensorllm(sweep + " --resume " + dir.file("damaged.json"));
    EXPECT_EQ(code, 1) << out;
    EXPECT_NE(out.find("damaged.json"), std::string::npos) << out;
    std::tie(code, out) = run_tensorllm(sweep + " --resume " + dir.file("whole/results.json"));
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("every point of the sweep is already there (6)"), std::string::npos) << out;
}

TEST(CliSweep, BadInputIsAClearError) {
    TempDir dir;
    const std::string edits = " --ranks-list 8,8,2 --layers 0 --quiet";
    auto [code, out] = run_tensorllm("sweep --demo --text " + dir.file("missing.txt") + edits);
    EXPECT_EQ(code, 1) << out;
    EXPECT_NE(out.find(dir.file("missing.txt")), std::string::npos) << out;
    write_text(dir.file("empty.txt"), "");
    std::tie(code, out) = run_tensorllm("sweep --demo --text " + dir.file("empty.txt") + edits);
    EXPECT_EQ(code, 1) << out;
    EXPECT_NE(out.find("empty.txt: the text is empty"), std::string::npos) << out;
    write_text(dir.file("t.txt"), "In the beginning God created the heaven and the earth.\n");
    write_text(dir.file("bad.jsonl"), "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"answer\": 0}\n{not json\n");
    std::tie(code, out) =
        run_tensorllm("sweep --demo --text " + dir.file("t.txt") + " --mc " + dir.file("bad.jsonl") + edits);
    EXPECT_EQ(code, 1) << out;
    EXPECT_NE(out.find("bad.jsonl:2: not valid JSON"), std::string::npos) << out;
    std::tie(code, out) = run_tensorllm("sweep --demo --text " + dir.file("t.txt") + " --layers 0");
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("give at least one edit"), std::string::npos) << out;
    std::tie(code, out) = run_tensorllm("sweep --demo --text " + dir.file("t.txt") + " --laser side:3");
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("unknown matrix 'side'"), std::string::npos) << out;
    std::tie(code, out) = run_tensorllm("sweep --demo --text " + dir.file("t.txt") + edits + " --out " + demo_dir());
    EXPECT_EQ(code, 2) << out;
    std::tie(code, out) =
        run_tensorllm("sweep --demo --text " + dir.file("t.txt") + edits + " --h5 " + dir.file("t.txt"));
    EXPECT_EQ(code, 2) << out;  // the evaluation text is a source too
    EXPECT_NE(read_all(dir.file("t.txt")).find("In the beginning"), std::string::npos);
    // An architecture without a forward pass: evaluation says why, decomposition still works.
    std::tie(code, out) = run_tensorllm("synth " + dir.file("opt") + " --type opt --layers 2");
    ASSERT_EQ(code, 0) << out;
    std::tie(code, out) =
        run_tensorllm("sweep " + dir.file("opt") + " --text " + dir.file("t.txt") + " --ranks-list 4,4,2");
    EXPECT_EQ(code, 1) << out;
    EXPECT_NE(out.find("evaluation is not available for model_type opt; decomposition is"), std::string::npos) << out;
    std::tie(code, out) =
        run_tensorllm("decompose " + dir.file("opt") + " --ranks 4,4,2 --quiet --out " + dir.file("opt-out"));
    EXPECT_EQ(code, 0) << out;
    // --edit: results of another checkpoint are refused.
    std::tie(code, out) =
        run_tensorllm("decompose " + dir.file("opt") + " --ranks 4,4,2 --quiet --h5 " + dir.file("opt.h5"));
    ASSERT_EQ(code, 0) << out;
    std::tie(code, out) =
        run_tensorllm("evaluate --demo --text " + dir.file("t.txt") + " --edit " + dir.file("opt.h5"));
    EXPECT_EQ(code, 1) << out;
    EXPECT_NE(out.find("differ from those of the checkpoint the results were computed from"), std::string::npos) << out;
}

}  // namespace
}  // namespace tllm::test
