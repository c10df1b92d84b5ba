// The export options of `tensorllm decompose` and `tensorllm show`, run as a user would.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/results/export_test_util.h"
#include "io/checkpoint.h"
#include "support/test_util.h"

using namespace tllm;
namespace fs = std::filesystem;

namespace {
std::pair<int, std::string> cli(const std::string& args) {
    return test::run_command(std::string(TLLM_CLI) + " " + args);
}
// stdout only (stderr dropped), for JSON.
std::pair<int, std::string> cli_stdout(const std::string& args) {
    return test::run_command(std::string(TLLM_CLI) + " " + args + " 2>/dev/null");
}
}  // namespace

TEST(CliExport, DecomposeWritesEveryOutputAndShowReadsItBack) {
    test::TempDir dir;
    const std::string m = dir.file("m");
    auto [c0, o0] =
        cli("synth " + m + " --type llama --hidden 32 --heads 4 --kv-heads 2 --layers 3 --shards 2 --dtype BF16");
    ASSERT_EQ(c0, 0) << o0;
    const std::string outs = " --h5 " + dir.file("r.h5") + " --denoised " + dir.file("den") + " --factorised " +
                             dir.file("fac") + " --out " + dir.file("tables");
    auto [c1, o1] = cli("decompose " + m + " --ranks 8,4,2 --layers 0,2 --quiet" + outs);
    ASSERT_EQ(c1, 0) << o1;
    EXPECT_NE(o1.find("wrote " + dir.file("r.h5")), std::string::npos) << o1;
    EXPECT_TRUE(fs::exists(dir.file("tables/results.json")));
    const io::Checkpoint den(dir.file("den")), fac(dir.file("fac"));
    EXPECT_EQ(den.shards().size(), 2u);
    EXPECT_TRUE(den.find("model.layers.2.self_attn.q_proj.weight").has_value());
    EXPECT_FALSE(fac.find("model.layers.2.self_attn.q_proj.weight").has_value());
    EXPECT_TRUE(fac.find("tensorllm.layers.2.core").has_value());
    EXPECT_TRUE(fac.find("model.layers.1.self_attn.q_proj.weight").has_value());

    auto [c2, text] = cli("show " + dir.file("r.h5"));
    ASSERT_EQ(c2, 0) << text;
    EXPECT_NE(text.find("ranks 8,4,2"), std::string::npos) << text;
    EXPECT_NE(text.find("4 query heads, 2 key/value heads"), std::string::npos) << text;
    auto [c3, heads] = cli("show --heads " + dir.file("r.h5"));
    ASSERT_EQ(c3, 0);
    EXPECT_NE(heads.find("layer 2 per head"), std::string::npos) << heads;

    auto [c4, js] = cli_stdout("show --json " + dir.file("r.h5"));
    ASSERT_EQ(c4, 0) << js;
    const auto doc = nlohmann::json::parse(js);
    const auto tables = io::read_json_file(dir.file("tables/results.json"));
    ASSERT_EQ(doc["layers"].size(), 2u);
    for (std::size_t k = 0; k < 2; ++k) {
        EXPECT_EQ(doc["layers"][k]["layer"], tables["layers"][k]["layer"]);
        EXPECT_EQ(doc["layers"][k]["ranks"], nlohmann::json::array({8, 4, 2}));
        // The very numbers of the run, stored and read back without recomputation.
        EXPECT_EQ(doc["layers"][k]["rel_error"].get<double>(), tables["layers"][k]["rel_error"].get<double>());
        EXPECT_EQ(doc["layers"][k]["head_type_error"], tables["layers"][k]["head_type_error"]);
        EXPECT_EQ(doc["layers"][k]["trace"], tables["layers"][k]["trace"]);
    }
    EXPECT_EQ(doc["model"]["num_kv_heads"], 2);
    EXPECT_EQ(doc["source"]["shard_files"].size(), 2u);
    EXPECT_EQ(doc["source"]["header_sha256"].get<std::string>().size(), 64u);
    EXPECT_EQ(doc["options"]["method"], "hooi");
    EXPECT_EQ(doc["layers"][0]["tensors"]["K"], "model.layers.0.self_attn.k_proj.weight");

    auto [c5, one] = cli_stdout("show --json --layers 2 " + dir.file("r.h5"));
    ASSERT_EQ(c5, 0);
    EXPECT_EQ(nlohmann::json::parse(one)["layers"].size(), 1u);

    // A non-empty destination is refused before any computation, unless --overwrite.
    auto [c6, o6] = cli("decompose " + m + " --ranks 8,4,2 --layers 0 --quiet --denoised " + dir.file("den"));
    EXPECT_EQ(c6, 2) << o6;
    EXPECT_NE(o6.find("--overwrite"), std::string::npos) << o6;
    auto [c7, o7] =
        cli("decompose " + m + " --ranks 8,4,2 --layers 0 --quiet --overwrite --denoised " + dir.file("den"));
    EXPECT_EQ(c7, 0) << o7;
    EXPECT_EQ(io::Checkpoint(dir.file("den")).shards()[0]->metadata().at("tensorllm.layers"), "0");
    EXPECT_TRUE(test::leftovers(dir.path()).empty());
}

TEST(CliExport, UsageAndErrors) {
    test::TempDir dir;
    auto [c0, help] = cli("decompose --help");
    EXPECT_EQ(c0, 0);
    for (const char* opt : {"--h5 FILE", "--denoised DIR", "--factorised DIR", "--overwrite"})
        EXPECT_NE(help.find(opt), std::string::npos) << opt;
    auto [c1, show_help] = cli("show --help");
    EXPECT_EQ(c1, 0);
    for (const char* opt : {"--json", "--layers", "--heads"}) EXPECT_NE(show_help.find(opt), std::string::npos) << opt;
    EXPECT_EQ(cli("show").first, 2);
    EXPECT_EQ(cli("show --bogus x.h5").first, 2);
    auto [c2, missing] = cli("show " + dir.file("missing.h5"));
    EXPECT_EQ(c2, 1);
    EXPECT_NE(missing.find(dir.file("missing.h5")), std::string::npos) << missing;
    EXPECT_EQ(std::count(missing.begin(), missing.end(), '\n'), 1) << missing;
    test::write_text(dir.file("text.h5"), "plain text");
    EXPECT_EQ(cli("show " + dir.file("text.h5")).first, 1);
    auto [c3, none] = cli("decompose --demo --ranks 8,4,2");
    EXPECT_EQ(c3, 2);
    EXPECT_NE(none.find("at least one output"), std::string::npos) << none;
    auto [c4, bad] = cli("decompose --demo --ranks 8,4,2 --h5 " + dir.file("no/such/r.h5"));
    EXPECT_EQ(c4, 2) << bad;
}
