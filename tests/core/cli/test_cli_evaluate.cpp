// tensorllm evaluate and generate: output, --json, exit codes and error messages.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "support/test_util.h"

namespace tllm::test {
namespace {

TEST(CliEvaluate, TextJsonAndErrors) {
    TempDir dir;
    write_text(dir.file("t.txt"), "In the beginning God created the heaven and the earth.\n");
    auto [code, out] = run_tensorllm("evaluate --demo --text " + dir.file("t.txt") + " --ctx 32 --stride 16 --json");
    ASSERT_EQ(code, 0) << out;
    const auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["task"], "perplexity");
    EXPECT_EQ(j["scored_tokens"], 54);
    EXPECT_GT(j["mean_nll"].get<double>(), 0.5);
    EXPECT_NEAR(j["perplexity"].get<double>(), std::exp(j["mean_nll"].get<double>()), 1e-9);

    std::tie(code, out) = run_tensorllm("evaluate --demo --text " + dir.file("t.txt"));
    EXPECT_EQ(code, 0) << out;
    EXPECT_NE(out.find("bits per byte"), std::string::npos) << out;

    write_text(dir.file("empty.txt"), "");
    std::tie(code, out) = run_tensorllm("evaluate --demo --text " + dir.file("empty.txt"));
    EXPECT_EQ(code, 1);
    EXPECT_NE(out.find("empty.txt: the text is empty"), std::string::npos) << out;
    std::tie(code, out) = run_tensorllm("evaluate --demo --text " + dir.file("t.txt") + " --ctx 4096");
    EXPECT_EQ(code, 2);
    EXPECT_NE(out.find("above the model's 128 positions"), std::string::npos) << out;
    // The demo model without a task scores its bundled text; another model needs a task.
    std::tie(code, out) = run_tensorllm("evaluate --demo --max-tokens 600 --json");
    EXPECT_EQ(code, 0) << out;
    EXPECT_NE(out.find("kjv-validation-64k.txt"), std::string::npos) << out;
    std::tie(code, out) = run_tensorllm("evaluate " + std::string(TLLM_TEST_DIR) + "/data/stories260K");
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("give exactly one of --text FILE"), std::string::npos) << out;
    std::tie(code, out) = run_tensorllm("evaluate --help");
    EXPECT_EQ(code, 0);
    EXPECT_NE(out.find("--last-word"), std::string::npos);
}

TEST(CliEvaluate, MultipleChoiceAndBadLine) {
    TempDir dir;
    write_text(dir.file("mc.jsonl"),
               R"({"context": "And God said, Let there be", "choices": [" light", " xqz"], "answer": 0})"
               "\n{\"context\": \"x\", \"choices\": [\"a\"\n");
    auto [code, out] = run_tensorllm("evaluate --demo --mc " + dir.file("mc.jsonl"));
    EXPECT_EQ(code, 1);
    EXPECT_NE(out.find("mc.jsonl:2: not valid JSON"), std::string::npos) << out;
    write_text(dir.file("mc.jsonl"),
               R"({"context": "And God said, Let there be", "choices": [" light", " xqz"], "answer": 0})"
               "\n");
    std::tie(code, out) = run_tensorllm("evaluate --demo --mc " + dir.file("mc.jsonl") + " --json");
    ASSERT_EQ(code, 0) << out;
    const auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["acc"], 1.0);
    EXPECT_EQ(j["per_item"][0]["pick"], 0);
}

TEST(CliGenerate, DemoGreedy) {
    auto [code, out] = run_tensorllm("generate --demo --prompt 'And God said' -n 64");
    ASSERT_EQ(code, 0) << out;
    EXPECT_EQ(out, "And God said unto him, The son of Jerusalem, and the son of Jerusalem, and t\n");
    std::tie(code, out) = run_tensorllm("generate --demo");
    EXPECT_EQ(code, 2);
}

TEST(CliEvaluate, UnsupportedModelType) {
    TempDir dir;
    auto [c0, o0] = run_tensorllm("synth " + dir.path().string() + "/m --type opt");
    ASSERT_EQ(c0, 0) << o0;
    auto [code, out] = run_tensorllm("evaluate " + dir.path().string() + "/m --text /dev/null");
    EXPECT_EQ(code, 1);
    EXPECT_NE(out.find("evaluation is not available for model_type opt; decomposition is"), std::string::npos) << out;
}

}  // namespace
}  // namespace tllm::test
