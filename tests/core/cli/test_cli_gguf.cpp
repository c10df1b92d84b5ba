// tensorllm convert and GGUF models through info, decompose (--denoised FILE.gguf) and evaluate.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "support/test_util.h"

namespace tllm::test {
namespace {

TEST(CliGguf, ConvertInfoDecomposeAndEvaluate) {
    TempDir dir;
    const std::string gguf = dir.file("stories.gguf");
    const std::string stories = std::string(TLLM_TEST_DIR) + "/data/stories260K";
    auto [code, out] = run_tensorllm("convert " + stories + " --gguf " + gguf);
    ASSERT_EQ(code, 0) << out;
    EXPECT_NE(out.find("wrote " + gguf), std::string::npos) << out;

    std::tie(code, out) = run_tensorllm("info --json " + gguf);
    ASSERT_EQ(code, 0) << out;
    const auto info = nlohmann::json::parse(out);
    EXPECT_EQ(info["gguf"]["architecture"], "llama");
    EXPECT_EQ(info["layers"].size(), 5u);

    // The same perplexity from the GGUF file (its own vocabulary) as from the safetensors model.
    const std::string text = std::string(TLLM_TEST_DIR) + "/data/stories-eval/stories.txt";
    std::tie(code, out) = run_tensorllm("evaluate " + stories + " --text " + text + " --max-tokens 300 --json");
    ASSERT_EQ(code, 0) << out;
    const auto a = nlohmann::json::parse(out);
    std::tie(code, out) = run_tensorllm("evaluate " + gguf + " --text " + text + " --max-tokens 300 --json");
    ASSERT_EQ(code, 0) << out;
    const auto b = nlohmann::json::parse(out);
    EXPECT_EQ(a["scored_tokens"], b["scored_tokens"]);
    EXPECT_EQ(b["scored_tokens"], 299);
    EXPECT_EQ(a["mean_nll"].get<double>(), b["mean_nll"].get<double>());

    // A denoised GGUF beside the source, re-quantised to Q8_0.
    const std::string denoised = dir.file("stories-denoised.gguf");
    std::tie(code, out) = run_tensorllm("decompose " + gguf + " --layers 2 --ranks 32,8,3 --denoised " + denoised +
                                        " --gguf-type q8_0 --quiet");
    ASSERT_EQ(code, 0) << out;
    const io::GgufFile f(denoised);
    EXPECT_EQ(f.find("blk.2.attn_v.weight")->type, io::GgmlType::Q8_0);
    EXPECT_EQ(f.find("blk.1.attn_v.weight")->type, io::GgmlType::F32);
    EXPECT_EQ(f.get_string("tensorllm.layers"), "2");

    // Usage errors: a directory name for a GGUF model's denoised output; a bad type; the source.
    std::tie(code, out) = run_tensorllm("decompose " + gguf + " --layers 2 --ranks 32,8,3 --denoised " + dir.file("d"));
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find(".gguf file"), std::string::npos) << out;
    std::tie(code, out) = run_tensorllm("convert " + stories + " --gguf " + dir.file("x.gguf") + " --type q3_k");
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("'q3_k'"), std::string::npos) << out;
    std::tie(code, out) = run_tensorllm("decompose " + gguf + " --layers 2 --ranks 32,8,3 --denoised " + gguf);
    EXPECT_EQ(code, 2) << out;
    EXPECT_TRUE(std::filesystem::exists(gguf));
    std::tie(code, out) =
        run_tensorllm("decompose --demo --layers 0 --ranks 8,8,2 --out " + dir.file("r") + " --gguf-type f16");
    EXPECT_EQ(code, 2) << out;
}

}  // namespace
}  // namespace tllm::test
