// SentencePiece through the library, on the real stories260K tokenizer: the passage ids of
// tests/data/reference/stories260K.json (BOS = 1, then the SentencePiece Python binding's
// encode), the multiple-choice rule of tests/data/reference/README.md, the greedy text, and
// the BOS rule of tokenizer_config.json.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "eval/sentencepiece_tokenizer.h"
#include "eval/tokenizer.h"
#include "support/test_util.h"

using namespace tllm;
using nlohmann::json;

namespace {

const std::string kStories = std::string(TLLM_TEST_DIR) + "/data/stories260K";
const std::string kReference = std::string(TLLM_TEST_DIR) + "/data/reference";

json read_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path + ": cannot open");
    return json::parse(in);
}

const eval::Tokenizer& stories() {
    static const auto tok = eval::load_tokenizer(kStories, 512);
    return *tok;
}

}  // namespace

TEST(TokenizerSentencePiece, LoadsTheStoriesModel) {
    const auto& tok = stories();
    EXPECT_EQ(tok.describe(), "SentencePiece (512)");
    EXPECT_EQ(tok.vocab_size(), 512);
    EXPECT_EQ(tok.bos_id(), 1);
    EXPECT_EQ(tok.eos_id(), 2);
    EXPECT_EQ(tok.unk_id(), 0);
}

TEST(TokenizerSentencePiece, PassageIdsMatchTheReference) {
    const json ref = read_json(kReference + "/stories260K.json");
    const auto& passage = ref.at("passage");
    const auto expected = passage.at("ids").get<std::vector<std::int32_t>>();
    const std::string text = passage.at("text").get<std::string>();
    EXPECT_EQ(stories().encode_with_bos(text), expected);
    EXPECT_EQ(stories().decode(expected), text);  // BOS decodes to nothing
}

TEST(TokenizerSentencePiece, GreedyIdsDecodeToTheReferenceText) {
    const json ref = read_json(kReference + "/stories260K.json");
    const auto& g = ref.at("greedy_from_bos");
    const auto ids = g.at("ids").get<std::vector<std::int32_t>>();
    EXPECT_EQ(stories().decode(ids), g.at("text").get<std::string>());
}

TEST(TokenizerSentencePiece, MultipleChoiceItemsFollowThePrefixRule) {
    // README: a choice's tokens are those encode(context + choice) adds after encode(context),
    // and for these items encode(context) is a prefix of it.
    const json ref = read_json(kReference + "/stories260K.json");
    const auto& items = ref.at("multiple_choice");
    std::ifstream in(kReference + "/stories260K-mc.jsonl");
    ASSERT_TRUE(in);
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const json item = json::parse(line);
        ASSERT_LT(n, items.size());
        const auto& r = items[n++];
        const std::string context = item.at("context").get<std::string>();
        ASSERT_EQ(context, r.at("context").get<std::string>());
        const auto ctx = stories().encode(context);
        const auto& choices = item.at("choices");
        ASSERT_EQ(choices.size(), r.at("choices").size());
        for (std::size_t c = 0; c < choices.size(); ++c) {
            const std::string choice = choices[c].get<std::string>();
            const auto all = stories().encode(context + choice);
            ASSERT_GE(all.size(), ctx.size()) << context << choice;
            EXPECT_TRUE(std::equal(ctx.begin(), ctx.end(), all.begin())) << context << " | " << choice;
            const auto& rc = r.at("choices")[c];
            EXPECT_EQ(static_cast<int>(all.size() - ctx.size()), rc.at("n_tokens").get<int>()) << choice;
            EXPECT_EQ(static_cast<int>(choice.size()), rc.at("n_bytes").get<int>()) << choice;
            EXPECT_EQ(stories().decode(all), context + choice);
        }
    }
    EXPECT_EQ(n, items.size());
    EXPECT_GE(n, 12u);
}

TEST(TokenizerSentencePiece, ByteFallbackCoversAnyUtf8) {
    // stories260K has byte pieces: text outside its 512 pieces still round-trips.
    for (const std::string& t : std::vector<std::string>{"日本語 ü 😀", "tab\there", "a\nb"})
        EXPECT_EQ(stories().decode(stories().encode(t)), t) << t;
    const std::vector<std::int32_t> bad = {512};
    EXPECT_THROW((void)stories().decode(bad), std::out_of_range);
}

TEST(TokenizerSentencePiece, BosFollowsTokenizerConfig) {
    const auto make = [](const std::string& config) {
        tllm::test::TempDir dir;
        std::filesystem::copy_file(kStories + "/tokenizer.model", dir.file("tokenizer.model"));
        if (!config.empty()) tllm::test::write_text(dir.file("tokenizer_config.json"), config);
        return eval::load_tokenizer(dir.path().string(), 512)->bos_id();
    };
    EXPECT_EQ(make(""), 1);                                          // no config: Llama style
    EXPECT_EQ(make(R"({"tokenizer_class": "LlamaTokenizer"})"), 1);  // the class default
    EXPECT_EQ(make(R"({"tokenizer_class": "LlamaTokenizerFast"})"), 1);
    EXPECT_EQ(make(R"({"tokenizer_class": "T5Tokenizer"})"), -1);
    EXPECT_EQ(make(R"({"tokenizer_class": "LlamaTokenizer", "add_bos_token": false})"), -1);
    EXPECT_EQ(make(R"({"tokenizer_class": "T5Tokenizer", "add_bos_token": true})"), 1);
    EXPECT_EQ(make(R"({"add_bos_token": true, "bos_token": {"content": "</s>"}})"), 2);
    EXPECT_THROW(make(R"({"add_bos_token": "yes"})"), std::runtime_error);
    EXPECT_THROW(make(R"({"add_bos_token": true, "bos_token": "<nope>"})"), std::runtime_error);
}

TEST(TokenizerSentencePiece, ConvertedTokenizerJsonGivesWayToTheModel) {
    // A Llama-2 style directory: a tokenizer.json that is not byte-level BPE beside
    // tokenizer.model; the SentencePiece model is used.
    tllm::test::TempDir dir;
    std::filesystem::copy_file(kStories + "/tokenizer.model", dir.file("tokenizer.model"));
    tllm::test::write_text(dir.file("tokenizer.json"),
                           R"({"model": {"type": "BPE", "vocab": {}, "merges": [], "byte_fallback": true},
                               "pre_tokenizer": null,
                               "normalizer": {"type": "Sequence", "normalizers": []}})");
    EXPECT_EQ(eval::load_tokenizer(dir.path().string(), 512)->describe(), "SentencePiece (512)");
}
