// The tensorllm CLI as a user runs it: output, --json and exit codes.
#include <array>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_util.h"

namespace {
struct Run {
    int code;
    std::string out;
};
// Runs the CLI with `args`; stdout (and stderr when `merge`) captured.
Run run_cli(const std::string& args, bool merge = false) {
    const std::string cmd = std::string(TLLM_CLI) + " " + args + (merge ? " 2>&1" : " 2>/dev/null");
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    std::array<char, 4096> buf;
    while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    const int status = ::pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}
}  // namespace

TEST(CliInfo, StoriesTextAndJson) {
    TLLM_REQUIRE_STORIES(path);
    auto r = run_cli("info " + path);
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("llama"), std::string::npos);
    EXPECT_NE(r.out.find("8 query, 4 key/value"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("head_dim      8"), std::string::npos) << r.out;
    auto j = run_cli("info --json " + path);
    ASSERT_EQ(j.code, 0);
    const auto doc = nlohmann::json::parse(j.out);
    EXPECT_EQ(doc["model_type"], "llama");
    EXPECT_EQ(doc["layers"].size(), 5u);
    EXPECT_EQ(doc["num_heads"], 8);
    EXPECT_EQ(doc["num_kv_heads"], 4);
    EXPECT_EQ(doc["head_dim"], 8);
    EXPECT_EQ(doc["layers"][0]["attention_params"], 2 * 64 * 64 + 2 * 64 * 32);
    bool lm_head = false;
    for (const auto& u : doc["unmapped"]) lm_head |= u["name"] == "lm_head.weight";
    EXPECT_TRUE(lm_head);
}

TEST(CliInfo, ExitCodesAndOneLineErrors) {
    auto missing = run_cli("info /nonexistent/model", true);
    EXPECT_EQ(missing.code, 1);
    EXPECT_NE(missing.out.find("/nonexistent/model"), std::string::npos);
    EXPECT_EQ(std::count(missing.out.begin(), missing.out.end(), '\n'), 1) << missing.out;
    EXPECT_EQ(run_cli("info").code, 2);
    EXPECT_EQ(run_cli("info --bogus x").code, 2);
    EXPECT_EQ(run_cli("frobnicate").code, 2);
    EXPECT_EQ(run_cli("info --help").code, 0);
    EXPECT_EQ(run_cli("info --demo").code, 0);
}
