// GPT-2 byte-level BPE against an independent reference: tests/data/gpt2-bpe/cases.jsonl and
// tests/data/tokenizer/gpt2-small-hf/cases.jsonl hold the ids that
// tests/reference/gpt2_bpe_reference.py (OpenAI's published algorithm with the regex module's
// pattern) gives for a few hundred varied strings, with GPT-2's real vocab.json and
// merges.txt and with a small tokenizer.json made from them (see the PROVENANCE.md files).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "eval/bpe_tokenizer.h"
#include "eval/tokenizer.h"
#include "support/test_util.h"

using namespace tllm;
using nlohmann::json;

namespace {

const std::string kGpt2Dir = std::string(TLLM_TEST_DIR) + "/data/gpt2-bpe";
const std::string kSmallHfDir = std::string(TLLM_TEST_DIR) + "/data/tokenizer/gpt2-small-hf";

struct Case {
    std::string text;
    std::vector<std::int32_t> ids;
};

std::vector<Case> read_cases(const std::string& path) {
    std::ifstream in(path);
    EXPECT_TRUE(in) << path;
    std::vector<Case> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const json j = json::parse(line);
        out.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<std::int32_t>>()});
    }
    return out;
}

const eval::BpeTokenizer& gpt2() {
    static const auto tok =
        eval::BpeTokenizer::from_vocab_merges(kGpt2Dir + "/vocab.json", kGpt2Dir + "/merges.txt", "");
    return *tok;
}

std::string show(const std::vector<std::int32_t>& ids) {
    std::string s = "[";
    for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
    return s + "]";
}

std::vector<std::string> words(std::string_view text) {
    std::vector<std::string_view> v;
    eval::gpt2_pretokenize(text, v);
    return {v.begin(), v.end()};
}

}  // namespace

TEST(TokenizerGpt2, ByteToUnicodeTable) {
    const auto& t = eval::gpt2_byte_to_unicode();
    EXPECT_EQ(t['!'], U'!');
    EXPECT_EQ(t['~'], U'~');
    EXPECT_EQ(t[0xA1], U'\u00A1');
    EXPECT_EQ(t[0], 256u);          // Ā
    EXPECT_EQ(t[' '], 256u + 32);   // Ġ
    EXPECT_EQ(t['\n'], 256u + 10);  // Ċ
    EXPECT_EQ(t[0xAD], 256u + 67);  // the last unprintable byte: Ń (323)
    std::vector<char32_t> all(t.begin(), t.end());
    std::sort(all.begin(), all.end());
    EXPECT_EQ(std::unique(all.begin(), all.end()), all.end());
}

TEST(TokenizerGpt2, PretokenizerFollowsThePattern) {
    using V = std::vector<std::string>;
    EXPECT_EQ(words("Hello world"), (V{"Hello", " world"}));
    EXPECT_EQ(words("I'm don't we'll"), (V{"I", "'m", " don", "'t", " we", "'ll"}));
    EXPECT_EQ(words("a   b"), (V{"a", "  ", " b"}));        // \s+(?!\S) leaves one space for " b"
    EXPECT_EQ(words("a   "), (V{"a", "   "}));              // a run that ends the text
    EXPECT_EQ(words("a\n\nb"), (V{"a", "\n", "\n", "b"}));  // no space to lean on: "\s+" alone
    EXPECT_EQ(words(" 123 !? x"), (V{" 123", " !?", " x"}));
    EXPECT_EQ(words("'re're'S"), (V{"'re", "'re", "'", "S"}));  // case-sensitive contractions
    EXPECT_EQ(words("café 日本語"), (V{"café", " 日本語"}));
    EXPECT_EQ(words("x\u3000y"), (V{"x", "\u3000", "y"}));  // U+3000 is \s but not " "
    EXPECT_EQ(words("😀😀 😀"), (V{"😀😀", " 😀"}));
    EXPECT_EQ(words("½3"), (V{"½3"}));  // No and Nd are both \p{N}
    // Bytes that are not UTF-8 are "other" characters and are kept.
    EXPECT_EQ(words("a\xff\xfe b\xc3"), (V{"a", "\xff\xfe", " b", "\xc3"}));
    EXPECT_TRUE(words("").empty());
}

TEST(TokenizerGpt2, MatchesTheReferenceOnEveryCase) {
    const auto cases = read_cases(kGpt2Dir + "/cases.jsonl");
    ASSERT_GE(cases.size(), 300u);
    int mismatches = 0;
    for (const auto& c : cases) {
        const auto ids = gpt2().encode(c.text);
        if (ids != c.ids && ++mismatches <= 10)
            ADD_FAILURE() << json(c.text).dump() << ": got " << show(ids) << ", reference " << show(c.ids);
    }
    EXPECT_EQ(mismatches, 0) << "of " << cases.size() << " cases";
}

TEST(TokenizerGpt2, DecodeRoundTripsEveryCase) {
    const auto& tok = gpt2();
    for (const auto& c : read_cases(kGpt2Dir + "/cases.jsonl")) {
        if (c.text.find("<|endoftext|>") != std::string::npos) continue;  // special: decodes to nothing
        EXPECT_EQ(tok.decode(c.ids), c.text) << json(c.text).dump();
    }
}

TEST(TokenizerGpt2, SpecialTokenIsCutOutFirstAndDecodesToNothing) {
    const auto& tok = gpt2();
    EXPECT_EQ(tok.vocab_size(), 50257);
    EXPECT_EQ(tok.eos_id(), 50256);
    EXPECT_EQ(tok.bos_id(), -1);
    EXPECT_EQ(tok.describe(), "GPT-2 BPE (50257)");
    const auto ids = tok.encode("Hi<|endoftext|>there");
    ASSERT_EQ(ids.size(), 3u);
    EXPECT_EQ(ids[1], 50256);
    EXPECT_EQ(tok.decode(ids), "Hithere");
    EXPECT_EQ(tok.encode_with_bos("a"), tok.encode("a"));
}

TEST(TokenizerGpt2, AnyBytesRoundTrip) {
    const auto& tok = gpt2();
    std::string all;
    for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
    const std::vector<std::string> texts = {all,
                                            "\xff\xfe\xfd",
                                            "ok\xc3(",
                                            "\xed\xa0\x80 surrogate",
                                            "\xf0\x9f\x98 cut emoji",
                                            std::string(3000, 'z'),
                                            std::string(5000, ' ') + "x"};
    for (const auto& t : texts) EXPECT_EQ(tok.decode(tok.encode(t)), t);
}

TEST(TokenizerGpt2, DecodeRejectsIdsOutsideTheVocabulary) {
    const std::vector<std::int32_t> bad = {50257}, negative = {-1};
    EXPECT_THROW((void)gpt2().decode(bad), std::out_of_range);
    EXPECT_THROW((void)gpt2().decode(negative), std::out_of_range);
}

TEST(TokenizerGpt2, LoadTokenizerPicksVocabAndMerges) {
    const auto tok = eval::load_tokenizer(kGpt2Dir, 50257);
    EXPECT_EQ(tok->describe(), "GPT-2 BPE (50257)");
    EXPECT_EQ(tok->encode(" Hello world"), (std::vector<std::int32_t>{18435, 995}));
    try {
        (void)eval::load_tokenizer(kGpt2Dir, 50000);
        FAIL() << "a model smaller than the tokenizer was accepted";
    } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("vocab.json"), std::string::npos) << m;
        EXPECT_NE(m.find("50257"), std::string::npos) << m;
        EXPECT_NE(m.find("50000"), std::string::npos) << m;
    }
}

TEST(TokenizerGpt2, TokenizerConfigNamesSpecialTokensAndBos) {
    tllm::test::TempDir dir;
    std::filesystem::copy_file(kGpt2Dir + "/vocab.json", dir.file("vocab.json"));
    std::filesystem::copy_file(kGpt2Dir + "/merges.txt", dir.file("merges.txt"));
    tllm::test::write_text(dir.file("tokenizer_config.json"),
                           R"({"add_bos_token": true, "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                               "additional_special_tokens": ["Hello"]})");
    const auto tok = eval::load_tokenizer(dir.path().string(), 50257);
    EXPECT_EQ(tok->bos_id(), 50256);
    EXPECT_EQ(tok->eos_id(), 50256);
    // "Hello" (15496) is now special: cut out before the pattern, and decodes to nothing.
    EXPECT_EQ(tok->encode_with_bos("Hello world"), (std::vector<std::int32_t>{50256, 15496, 995}));
    EXPECT_EQ(tok->decode(tok->encode("Hello world")), " world");
}

TEST(TokenizerGpt2Hf, SmallTokenizerJsonMatchesTheReference) {
    const auto tok = eval::load_tokenizer(kSmallHfDir, 3258);
    EXPECT_EQ(tok->vocab_size(), 3258);
    EXPECT_EQ(tok->eos_id(), 3256);
    EXPECT_EQ(tok->bos_id(), -1);
    const auto cases = read_cases(kSmallHfDir + "/cases.jsonl");
    ASSERT_GE(cases.size(), 300u);
    int mismatches = 0;
    for (const auto& c : cases) {
        const auto ids = tok->encode(c.text);
        if (ids != c.ids && ++mismatches <= 10)
            ADD_FAILURE() << json(c.text).dump() << ": got " << show(ids) << ", reference " << show(c.ids);
        const bool added =
            c.text.find("<|endoftext|>") != std::string::npos || c.text.find("[MASK]") != std::string::npos;
        if (!added) {
            EXPECT_EQ(tok->decode(ids), c.text) << json(c.text).dump();
        }
    }
    EXPECT_EQ(mismatches, 0) << "of " << cases.size() << " cases";
    // [MASK] is added but not special: it decodes to its text (the space it took does not come back).
    EXPECT_EQ(tok->decode(tok->encode("a [MASK]")), "a[MASK]");
}

TEST(TokenizerGpt2Hf, FullTokenizerJsonEqualsVocabAndMerges) {
    // The real GPT-2 tokenizer.json layout (string merges, added <|endoftext|>), built here
    // from the same files: the same ids as the vocab.json + merges.txt path on every case.
    json vocab;
    {
        std::ifstream in(kGpt2Dir + "/vocab.json");
        vocab = json::parse(in);
    }
    json merges = json::array();
    {
        std::ifstream in(kGpt2Dir + "/merges.txt");
        std::string line;
        std::getline(in, line);  // #version
        while (std::getline(in, line))
            if (!line.empty()) merges.push_back(line);
    }
    const json doc = {
        {"version", "1.0"},
        {"added_tokens", json::array({{{"id", 50256},
                                       {"content", "<|endoftext|>"},
                                       {"single_word", false},
                                       {"lstrip", false},
                                       {"rstrip", false},
                                       {"normalized", true},
                                       {"special", true}}})},
        {"normalizer", nullptr},
        {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}}},
        {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model",
         {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"vocab", vocab}, {"merges", merges}}}};
    const auto tok = eval::BpeTokenizer::from_tokenizer_json(doc, "tokenizer.json", "");
    EXPECT_EQ(tok->vocab_size(), 50257);
    for (const auto& c : read_cases(kGpt2Dir + "/cases.jsonl"))
        EXPECT_EQ(tok->encode(c.text), c.ids) << json(c.text).dump();

    // add_prefix_space: as if the text started with a space.
    json prefixed = doc;
    prefixed["pre_tokenizer"]["add_prefix_space"] = true;
    const auto p = eval::BpeTokenizer::from_tokenizer_json(prefixed, "tokenizer.json", "");
    EXPECT_EQ(p->encode("Hello world"), gpt2().encode(" Hello world"));
    EXPECT_EQ(p->encode(" Hello"), gpt2().encode(" Hello"));

    // The same pattern as an explicit Split followed by ByteLevel without its own regex.
    json split = doc;
    split["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Split"},
                       {"pattern",
                        {{"Regex", R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"}}},
                       {"behavior", "Isolated"},
                       {"invert", false}},
                      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
    EXPECT_TRUE(eval::is_byte_level_bpe(split));
    const auto s = eval::BpeTokenizer::from_tokenizer_json(split, "tokenizer.json", "");
    EXPECT_EQ(s->encode("It's 2024, isn't it?"), gpt2().encode("It's 2024, isn't it?"));

    // A template that puts a special token first gives the BOS.
    json templ = doc;
    templ["post_processor"] = {
        {"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<|endoftext|>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"special_tokens",
         {{"<|endoftext|>", {{"id", "<|endoftext|>"}, {"ids", {50256}}, {"tokens", {"<|endoftext|>"}}}}}}};
    EXPECT_EQ(eval::BpeTokenizer::from_tokenizer_json(templ, "tokenizer.json", "")->bos_id(), 50256);
}

TEST(TokenizerGpt2Hf, AddedTokenOptions) {
    // A toy vocabulary: the 256 byte tokens and no merges, plus added tokens with options.
    json vocab = json::object();
    const auto& t = eval::gpt2_byte_to_unicode();
    for (int b = 0; b < 256; ++b) {
        std::string s;
        const char32_t c = t[static_cast<std::size_t>(b)];
        if (c < 0x80) {
            s += static_cast<char>(c);
        } else {
            s += static_cast<char>(0xC0 | (c >> 6));
            s += static_cast<char>(0x80 | (c & 0x3F));
        }
        vocab[s] = b;
    }
    const auto added = [](int id, const char* content, bool lstrip, bool rstrip, bool single_word) {
        return json{{"id", id},         {"content", content},         {"lstrip", lstrip},
                    {"rstrip", rstrip}, {"single_word", single_word}, {"special", true}};
    };
    const json doc = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}}},
                      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
                      {"added_tokens",
                       json::array({added(256, "<L>", true, false, false), added(257, "<R>", false, true, false),
                                    added(258, "cat", false, false, true), added(259, "<LL>", false, false, false)})}};
    const auto tok = eval::BpeTokenizer::from_tokenizer_json(doc, "tokenizer.json", "");
    using V = std::vector<std::int32_t>;
    EXPECT_EQ(tok->encode("a  <L>"), (V{tok->encode("a")[0], 256}));
    EXPECT_EQ(tok->encode("<R>  b"), (V{257, tok->encode("b")[0]}));
    EXPECT_EQ(tok->encode("<LL>"), (V{259}));  // the longest match wins
    EXPECT_EQ(tok->encode("a cat"), (V{tok->encode("a")[0], tok->encode(" ")[0], 258}));
    EXPECT_EQ(tok->encode("cats").size(), 4u);  // single_word: not inside a word
}
