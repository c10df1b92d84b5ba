// libFuzzer harness: the tokenizer readers (eval::load_tokenizer on a model directory) and
// the GPT-2 BPE encoder on arbitrary text. The first byte picks what the rest is:
//   0 vocab.json (beside a valid merges.txt)     1 merges.txt (beside a valid vocab.json)
//   2 tokenizer.json                             3 tokenizer.model (SentencePiece)
//   4 tokenizer_config.json (beside valid vocab.json + merges.txt)
//   5 text for a fixed GPT-2 style BPE tokenizer: decode(encode(text)) must give it back
//   6 text for the stories260K SentencePiece model: ids in range, decode succeeds
// A tokenizer that loads is exercised: encoding a few strings gives ids inside its
// vocabulary that decode without an error.
#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "eval/bpe_tokenizer.h"
#include "eval/tokenizer.h"
#include "fuzz_common.h"

using namespace tllm;
namespace fs = std::filesystem;

namespace {

// A vocabulary of the 256 byte tokens (GPT-2's spelling) and the merges below, plus
// <|endoftext|>: enough for the merge loop and the added-token cut to run on any text.
std::string tiny_vocab() {
    const auto& t = eval::gpt2_byte_to_unicode();
    std::string out = "{";
    for (int b = 0; b < 256; ++b) {
        std::string s;
        const char32_t c = t[static_cast<std::size_t>(b)];
        if (c < 0x80) {
            if (c == '"' || c == '\\') s += '\\';
            s += static_cast<char>(c);
        } else {
            s += static_cast<char>(0xC0 | (c >> 6));
            s += static_cast<char>(0x80 | (c & 0x3F));
        }
        out += "\"" + s + "\": " + std::to_string(b) + ", ";
    }
    return out +
           "\"\xc4\xa0t\": 256, \"he\": 257, \"\xc4\xa0the\": 258, \"\xc4\xa0th\": 259, \"aa\": 260, "
           "\"aaaa\": 261, \"<|endoftext|>\": 262}";
}
const std::string kTinyMerges = "#version: 0.2\n\xc4\xa0 t\nh e\n\xc4\xa0t he\naa aa\na a\n\xc4\xa0t h\n";

const std::array<std::string, 6> kProbe = {
    "Hello world",    "It's 2024!  ok\n\t", "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
    "<|endoftext|>a", "\xff\xfe ",          "   "};

// What a loaded tokenizer promises: ids inside its vocabulary, which decode.
void exercise(const eval::Tokenizer& tok) {
    fuzz::require(tok.vocab_size() > 0 && tok.vocab_size() <= eval::kMaxTokenizerVocab, "vocabulary size in range");
    fuzz::require(tok.bos_id() >= -1 && tok.bos_id() < tok.vocab_size(), "BOS inside the vocabulary");
    fuzz::require(tok.eos_id() >= -1 && tok.eos_id() < tok.vocab_size(), "EOS inside the vocabulary");
    for (const auto& s : kProbe) {
        const auto ids = tok.encode_with_bos(s);
        for (const auto id : ids) fuzz::require(id >= 0 && id < tok.vocab_size(), "encoded id inside the vocabulary");
        (void)tok.decode(ids);
    }
}

const std::string& test_data() {
    static const std::string d = TLLM_FUZZ_TEST_DATA;
    return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const int mode = data[0] % 7;
    const char* rest = reinterpret_cast<const char*>(data + 1);
    const std::size_t n = size - 1;
    static const fs::path dir = fuzz::scratch_dir() / "model";
    static const std::string vocab = tiny_vocab();

    if (mode == 5) {
        static const auto tok = [&] {
            const fs::path fixed = fuzz::scratch_dir() / "fixed";
            fs::create_directories(fixed);
            fuzz::write_file((fixed / "vocab.json").string(), vocab.data(), vocab.size());
            fuzz::write_file((fixed / "merges.txt").string(), kTinyMerges.data(), kTinyMerges.size());
            return eval::load_tokenizer(fixed.string(), 0);
        }();
        const std::string text(rest, n);
        const auto ids = tok->encode(text);  // byte-level: never throws
        for (const auto id : ids) fuzz::require(id >= 0 && id < tok->vocab_size(), "id inside the vocabulary");
        if (text.find("<|endoftext|>") == std::string::npos)
            fuzz::require(tok->decode(ids) == text, "decode(encode(text)) == text");
        return 0;
    }
    if (mode == 6) {
        static const auto tok = eval::load_tokenizer(test_data() + "/stories260K", 512);
        const std::string text(rest, n);
        fuzz::expect_clean(
            [&] {
                const auto ids = tok->encode(text);
                for (const auto id : ids) fuzz::require(id >= 0 && id < tok->vocab_size(), "id inside the vocabulary");
                (void)tok->decode(ids);
            },
            "tokenizer.model");
        return 0;
    }

    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir);
    const auto put = [&](const char* name, const std::string& bytes) {
        fuzz::write_file((dir / name).string(), bytes.data(), bytes.size());
        return (dir / name).string();
    };
    const std::string fuzzed(rest, n);
    std::string named;
    switch (mode) {
        case 0: named = put("vocab.json", fuzzed), put("merges.txt", kTinyMerges); break;
        case 1: named = put("merges.txt", fuzzed), put("vocab.json", vocab); break;
        case 2: named = put("tokenizer.json", fuzzed); break;
        case 3: named = put("tokenizer.model", fuzzed); break;
        default: named = put("tokenizer_config.json", fuzzed), put("vocab.json", vocab), put("merges.txt", kTinyMerges);
    }
    // Errors may name the fuzzed file or, in the cases that read two, the other one; all lie
    // in `dir`.
    fuzz::expect_clean(
        [&] {
            const auto tok = eval::load_tokenizer(dir.string(), 1 << 22);
            exercise(*tok);
        },
        dir.string());
    return 0;
}
