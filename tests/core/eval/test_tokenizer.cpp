// The byte-level tokenizer, the choice of tokenizer for a directory, and the errors for
// malformed tokenizer files: each a one-line std::runtime_error naming the file, the field
// or line, and the value (tests/bad_inputs/catalogue.json has more, as data).
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "eval/bpe_tokenizer.h"
#include "eval/tokenizer.h"
#include "support/test_util.h"

using namespace tllm;
using tllm::test::TempDir;
using tllm::test::write_text;

namespace {

const std::string kGpt2Dir = std::string(TLLM_TEST_DIR) + "/data/gpt2-bpe";

// Runs `f`, which must throw a one-line std::runtime_error containing every fragment.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& fragments) {
    try {
        f();
        ADD_FAILURE() << "no error; expected one containing '" << fragments.front() << "'";
    } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        EXPECT_EQ(m.find('\n'), std::string::npos) << "not one line: " << m;
        for (const auto& frag : fragments)
            EXPECT_NE(m.find(frag), std::string::npos) << "'" << frag << "' not in: " << m;
    } catch (const std::exception& e) {
        ADD_FAILURE() << "expected std::runtime_error, got " << typeid(e).name() << ": " << e.what();
    }
}

// A directory with a tiny GPT-2 style vocabulary: the byte tokens of "a", "b", "c", " ",
// and "ab", "abc" made by two merges; each file can be replaced.
struct TinyBpe {
    TempDir dir;
    std::string vocab = R"({"a": 0, "b": 1, "c": 2, "\u0120": 3, "ab": 4, "abc": 5})";
    std::string merges = "#version: 0.2\na b\nab c\n";
    void write() const {
        write_text(dir.file("vocab.json"), vocab);
        write_text(dir.file("merges.txt"), merges);
    }
    std::unique_ptr<eval::Tokenizer> load(int model_vocab = 1000) const {
        write();
        return eval::load_tokenizer(dir.path().string(), model_vocab);
    }
};

}  // namespace

TEST(TokenizerByte, IdIsTheByte) {
    const auto tok = eval::byte_tokenizer();
    EXPECT_EQ(tok->vocab_size(), 256);
    EXPECT_EQ(tok->bos_id(), -1);
    EXPECT_EQ(tok->eos_id(), -1);
    EXPECT_EQ(tok->describe(), "byte level");
    std::string all;
    for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
    const auto ids = tok->encode(all);
    ASSERT_EQ(ids.size(), 256u);
    for (int b = 0; b < 256; ++b) EXPECT_EQ(ids[static_cast<std::size_t>(b)], b);
    EXPECT_EQ(tok->decode(ids), all);
    EXPECT_EQ(tok->encode_with_bos("And God"), tok->encode("And God"));
    EXPECT_EQ(tok->encode("é"), (std::vector<std::int32_t>{0xC3, 0xA9}));
    const std::vector<std::int32_t> bad = {256};
    EXPECT_THROW((void)tok->decode(bad), std::out_of_range);
}

TEST(TokenizerLoad, ByteLevelOnlyForVocabulary256) {
    TempDir dir;
    EXPECT_EQ(eval::load_tokenizer(dir.path().string(), 256)->describe(), "byte level");
    expect_error([&] { (void)eval::load_tokenizer(dir.path().string(), 512); },
                 {dir.path().string(), "no tokenizer", "vocab_size 512"});
}

TEST(TokenizerLoad, DemoModelIsBytesThroughBpe) {
    // The bundled demo model ships a GPT-2 vocab.json of the 256 byte tokens plus
    // <|endoftext|> = 256 and no merges: the BPE reader gives id = byte value.
    const std::string demo = std::string(TLLM_TEST_DIR) + "/../resources/models/demo-gpt2";
    const auto tok = eval::load_tokenizer(demo, 257);
    EXPECT_EQ(tok->describe(), "GPT-2 BPE (257)");
    EXPECT_EQ(tok->eos_id(), 256);
    EXPECT_EQ(tok->bos_id(), -1);
    std::string all;
    for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
    all += "And God said, Let there be light: and there was light.";
    EXPECT_EQ(tok->encode(all), eval::byte_tokenizer()->encode(all));
    EXPECT_EQ(tok->decode(tok->encode(all)), all);
}

TEST(TokenizerLoad, TinyBpeMerges) {
    TinyBpe t;
    const auto tok = t.load();
    EXPECT_EQ(tok->vocab_size(), 6);
    EXPECT_EQ(tok->encode("abc"), (std::vector<std::int32_t>{5}));
    EXPECT_EQ(tok->encode("abcab cb"), (std::vector<std::int32_t>{5, 4, 3, 2, 1}));
    EXPECT_EQ(tok->eos_id(), -1);
    expect_error([&] { (void)tok->encode("d"); }, {"byte 0x64", "no token"});
}

TEST(TokenizerBadInput, VocabJson) {
    {
        TinyBpe t;
        t.vocab = R"({"a": 0, "b": )";
        expect_error([&] { t.load(); }, {t.dir.file("vocab.json"), "not valid JSON"});
    }
    {
        TinyBpe t;
        t.vocab = R"(["a", "b"])";
        expect_error([&] { t.load(); }, {t.dir.file("vocab.json"), "JSON object of token -> id"});
    }
    {
        TinyBpe t;
        t.vocab = R"({"a": 0, "b": "one", "c": 2, "ab": 4, "abc": 5})";
        expect_error([&] { t.load(); }, {t.dir.file("vocab.json"), "token 'b'", "id must be an integer", "\"one\""});
    }
    {
        TinyBpe t;
        t.vocab = R"({"a": 0, "b": -3, "c": 2, "ab": 4, "abc": 5})";
        expect_error([&] { t.load(); }, {t.dir.file("vocab.json"), "token 'b'", "-3"});
    }
    {
        TinyBpe t;
        t.vocab = R"({"a": 0, "b": 99999999999, "c": 2, "ab": 4, "abc": 5})";  // bounded before allocating
        expect_error([&] { t.load(); }, {t.dir.file("vocab.json"), "99999999999"});
    }
    {
        TinyBpe t;
        t.vocab = R"({"a": 0, "b": 0, "c": 2, "ab": 4, "abc": 5})";
        expect_error([&] { t.load(); }, {t.dir.file("vocab.json"), "id 0 is given to both 'a' and 'b'"});
    }
    {
        TinyBpe t;
        t.vocab = R"({"": 0})";
        expect_error([&] { t.load(); }, {t.dir.file("vocab.json"), "empty string"});
    }
}

TEST(TokenizerBadInput, MergesTxt) {
    {
        TinyBpe t;
        t.merges = "#version: 0.2\na b\nab  c\n";
        expect_error([&] { t.load(); }, {t.dir.file("merges.txt"), "line 3", "two tokens", "'ab  c'"});
    }
    {
        TinyBpe t;
        t.merges = "a b\nlonely\n";
        expect_error([&] { t.load(); }, {t.dir.file("merges.txt"), "line 2", "'lonely'"});
    }
    {
        TinyBpe t;
        t.merges = "#version: 0.2\na b\nab x\n";
        expect_error([&] { t.load(); }, {t.dir.file("merges.txt"), "line 3", "'x'", "not in the vocabulary"});
    }
    {
        TinyBpe t;
        t.merges = "#version: 0.2\nb c\n";  // "bc" is not a token
        expect_error([&] { t.load(); }, {t.dir.file("merges.txt"), "line 2", "merged token 'bc'"});
    }
    {
        TinyBpe t;
        t.write();
        std::filesystem::remove(t.dir.file("merges.txt"));
        expect_error([&] { eval::load_tokenizer(t.dir.path().string(), 100); }, {t.dir.file("merges.txt"), "missing"});
    }
    {
        TinyBpe t;
        t.write();
        std::filesystem::remove(t.dir.file("vocab.json"));
        expect_error([&] { eval::load_tokenizer(t.dir.path().string(), 100); }, {t.dir.file("vocab.json"), "missing"});
    }
}

TEST(TokenizerBadInput, TokenizerJson) {
    TempDir dir;
    const std::string path = dir.file("tokenizer.json");
    const auto load = [&](const std::string& text) {
        write_text(path, text);
        return eval::load_tokenizer(dir.path().string(), 1000);
    };
    const std::string pre = R"("pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false})";
    expect_error([&] { load("{\"model\": "); }, {path, "not valid JSON"});
    expect_error([&] { load("[1]"); }, {path, "not a JSON object"});
    expect_error([&] { load("{}"); }, {path, "field 'model' is missing"});
    expect_error([&] { load(R"({"model": {"type": "WordPiece", "vocab": {}}, )" + pre + "}"); },
                 {path, "model.type 'WordPiece'", "not supported"});
    expect_error(
        [&] {
            load(R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}})");
        },
        {path, "pre_tokenizer", "Whitespace", "not supported"});
    expect_error([&] { load(R"({"model": {"type": "BPE", "vocab": [], "merges": []}, )" + pre + "}"); },
                 {path, "model.vocab"});
    expect_error([&] { load(R"({"model": {"type": "BPE", "vocab": {"a": 1.5}, "merges": []}, )" + pre + "}"); },
                 {path, "model.vocab 'a'", "1.5"});
    expect_error(
        [&] { load(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": "a b"}, )" + pre + "}"); },
        {path, "model.merges must be a list"});
    expect_error(
        [&] { load(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}, )" + pre + "}"); },
        {path, "model.merges[0]", "merged token 'ab'"});
    expect_error(
        [&] {
            load(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", 7]]}, )" + pre +
                 "}");
        },
        {path, "model.merges[0]", "[\"a\",7]"});
    expect_error(
        [&] {
            load(
                R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"content": "<s>"}], )" +
                pre + "}");
        },
        {path, "added_tokens[0]", "'id'"});
    expect_error(
        [&] { load(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "dropout": 0.1}, )" + pre + "}"); },
        {path, "model.dropout", "0.1"});
    expect_error(
        [&] {
            load(R"({"normalizer": {"type": "NFC"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, )" +
                 pre + "}");
        },
        {path, "normalizer 'NFC'"});
}

TEST(TokenizerBadInput, TokenizerModel) {
    TempDir dir;
    const std::string path = dir.file("tokenizer.model");
    for (const std::string& bytes : {std::string(), std::string("not a protobuf at all"),
                                     std::string("\x0a\xff\xff\xff\xff\x0f", 6), std::string(1000, '\xff')}) {
        write_text(path, bytes);
        expect_error([&] { (void)eval::load_tokenizer(dir.path().string(), 1000); }, {path});
    }
    // A truncated copy of the real model.
    std::filesystem::copy_file(std::string(TLLM_TEST_DIR) + "/data/stories260K/tokenizer.model", path,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(path, 3000);
    expect_error([&] { (void)eval::load_tokenizer(dir.path().string(), 1000); },
                 {path, "not a valid SentencePiece model"});
}

TEST(TokenizerBadInput, VocabularyLargerThanTheModel) {
    TinyBpe t;
    expect_error([&] { t.load(5); }, {t.dir.file("vocab.json"), "vocabulary of 6 tokens", "vocab_size 5"});
    EXPECT_NO_THROW(t.load(6));
    expect_error([&] { (void)eval::load_tokenizer(std::string(TLLM_TEST_DIR) + "/data/stories260K", 500); },
                 {"tokenizer.model", "512", "500"});
    expect_error(
        [&] { (void)eval::load_tokenizer(std::string(TLLM_TEST_DIR) + "/data/tokenizer/gpt2-small-hf", 3000); },
        {"tokenizer.json", "3258", "3000"});
}

TEST(TokenizerBadInput, TokenizerConfig) {
    TinyBpe t;
    t.write();
    write_text(t.dir.file("tokenizer_config.json"), R"({"eos_token": "<|nope|>"})");
    expect_error([&] { eval::load_tokenizer(t.dir.path().string(), 100); },
                 {t.dir.file("tokenizer_config.json"), "eos_token '<|nope|>'", "not in the vocabulary"});
    write_text(t.dir.file("tokenizer_config.json"), R"({"eos_token": 7})");
    expect_error([&] { eval::load_tokenizer(t.dir.path().string(), 100); },
                 {t.dir.file("tokenizer_config.json"), "'eos_token'", "7"});
    write_text(t.dir.file("tokenizer_config.json"), R"({"add_bos_token": true})");
    expect_error([&] { eval::load_tokenizer(t.dir.path().string(), 100); },
                 {t.dir.file("tokenizer_config.json"), "bos_token is not given"});
}

TEST(TokenizerBadInput, HugeFilesAreRefusedBeforeReading) {
    TinyBpe t;
    t.write();
    std::filesystem::resize_file(t.dir.file("merges.txt"), (64ull << 20) + 1);
    expect_error([&] { eval::load_tokenizer(t.dir.path().string(), 100); },
                 {t.dir.file("merges.txt"), "67108865 bytes"});
}
