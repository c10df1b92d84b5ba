// The byte-level tokenizer, the choice of tokenizer for a model directory, and the helpers
// the tokenizer readers share (tokenizer_detail.h).
#include "eval/tokenizer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include "eval/bpe_tokenizer.h"
#include "eval/gguf_tokenizer.h"
#include "eval/sentencepiece_tokenizer.h"
#include "eval/tokenizer_detail.h"
#include "eval/unicode_classes.h"
#include "io/checkpoint.h"
#include "io/mapped_file.h"
#include "io/model_config.h"

namespace tllm::eval {

namespace detail {

std::string quote(std::string_view value, std::size_t max) {
    std::string out = "'";
    std::size_t i = 0;
    while (i < value.size() && out.size() <= max) {
        const auto d = unicode::decode_utf8(value, i);
        const auto c = static_cast<unsigned char>(value[i]);
        if (d.cp == unicode::kInvalid || c < 0x20 || c == 0x7F) {  // control or not UTF-8: \xNN
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            if (c == '\'' || c == '\\') out += '\\';
            out.append(value.substr(i, d.len));
        }
        i += d.len;
    }
    if (i < value.size()) out += "...";
    return out + "'";
}

std::string quote_json(const nlohmann::json& value) {
    return quote(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::string read_file_bounded(const std::string& path, std::uint64_t max_bytes) {
    return io::read_regular_file(path, max_bytes, "a tokenizer file");
}

std::string config_token(const nlohmann::json& config, const char* field, const std::string& path) {
    const auto it = config.find(field);
    if (it == config.end() || it->is_null()) return {};
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object()) {
        const auto c = it->find("content");
        if (c != it->end() && c->is_string()) return c->get<std::string>();
    }
    throw std::runtime_error(path + ": field '" + field + "' must be a token (a string or an object with " +
                             "a string 'content'), got " + quote_json(*it));
}

}  // namespace detail

namespace {

// Token id = byte value; every byte string round-trips.
class ByteTokenizer final : public Tokenizer {
public:
    std::vector<std::int32_t> encode(std::string_view text) const override {
        std::vector<std::int32_t> ids(text.size());
        for (std::size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
        return ids;
    }
    std::string decode(std::span<const std::int32_t> ids) const override {
        std::string out(ids.size(), '\0');
        for (std::size_t i = 0; i < ids.size(); ++i) {
            if (ids[i] < 0 || ids[i] > 255)
                throw std::out_of_range("token id " + std::to_string(ids[i]) +
                                        " is outside the byte-level vocabulary (0 to 255)");
            out[i] = static_cast<char>(ids[i]);
        }
        return out;
    }
    int vocab_size() const override { return 256; }
    std::int32_t bos_id() const override { return -1; }
    std::int32_t eos_id() const override { return -1; }
    std::string describe() const override { return "byte level"; }
};

}  // namespace

std::unique_ptr<Tokenizer> byte_tokenizer() { return std::make_unique<ByteTokenizer>(); }

std::unique_ptr<Tokenizer> load_tokenizer(const io::Checkpoint& checkpoint, int model_vocab_size) {
    if (const auto* g = checkpoint.gguf(); g && gguf_has_tokenizer(g->file()))
        return gguf_tokenizer(g->file(), model_vocab_size);
    return load_tokenizer(checkpoint.directory(), model_vocab_size);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_dir, int model_vocab_size) {
    namespace fs = std::filesystem;
    const fs::path dir(model_dir);
    std::error_code ec;
    const auto present = [&](const char* name) { return fs::exists(dir / name, ec); };
    const std::string config = (dir / "tokenizer_config.json").string();
    const std::string config_arg = present("tokenizer_config.json") ? config : std::string();

    std::unique_ptr<Tokenizer> tok;
    std::string source;  // the file named when the vocabulary is too large
    if (present("tokenizer.json")) {
        source = (dir / "tokenizer.json").string();
        const nlohmann::json doc = io::read_json_file(source, detail::kMaxTokenizerFileBytes);
        if (is_byte_level_bpe(doc)) {
            tok = BpeTokenizer::from_tokenizer_json(doc, source, config_arg);
        } else if (present("tokenizer.model")) {
            // A SentencePiece model converted to tokenizer.json (Llama 2, Mistral): the
            // original model beside it is what the reference tokenizer runs.
            source = (dir / "tokenizer.model").string();
            tok = SentencePieceTokenizer::load(source, config_arg);
        } else {
            tok = BpeTokenizer::from_tokenizer_json(doc, source, config_arg);  // throws: names what it lacks
        }
    } else if (present("vocab.json") || present("merges.txt")) {
        source = (dir / "vocab.json").string();
        tok = BpeTokenizer::from_vocab_merges(source, (dir / "merges.txt").string(), config_arg);
    } else if (present("tokenizer.model")) {
        source = (dir / "tokenizer.model").string();
        tok = SentencePieceTokenizer::load(source, config_arg);
    } else if (model_vocab_size == 256) {
        return byte_tokenizer();
    } else {
        throw std::runtime_error(model_dir + ": no tokenizer (tokenizer.json, vocab.json + merges.txt or " +
                                 "tokenizer.model), and the model's vocab_size " + std::to_string(model_vocab_size) +
                                 " is not the byte level's 256");
    }
    if (model_vocab_size > 0 && tok->vocab_size() > model_vocab_size)
        throw std::runtime_error(source + ": the tokenizer's vocabulary of " + std::to_string(tok->vocab_size()) +
                                 " tokens is larger than the model's vocab_size " + std::to_string(model_vocab_size));
    return tok;
}

}  // namespace tllm::eval
