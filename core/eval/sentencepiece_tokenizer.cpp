// SentencePieceTokenizer: a bounded read of tokenizer.model, the library's own parser and
// encoder, and the BOS rule of tokenizer_config.json.
#include "eval/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include <stdexcept>

#include "eval/bpe_tokenizer.h"
#include "eval/tokenizer_detail.h"
#include "io/model_config.h"

namespace tllm::eval {

namespace {

// Classes whose tokenizer adds BOS by default (transformers' add_bos_token default).
bool adds_bos_by_default(const std::string& tokenizer_class) {
    for (const char* c : {"LlamaTokenizer", "CodeLlamaTokenizer", "GemmaTokenizer"})
        if (tokenizer_class == c || tokenizer_class == std::string(c) + "Fast") return true;
    return tokenizer_class.empty();
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer() : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

void SentencePieceTokenizer::parse(const std::string& bytes) {
    if (bytes.empty()) throw std::runtime_error(path_ + ": empty file, not a SentencePiece model");
    sentencepiece::util::Status st;
    try {
        st = sp_->LoadFromSerializedProto(bytes);
    } catch (const std::exception& e) {
        throw std::runtime_error(path_ + ": not a valid SentencePiece model: " + e.what());
    }
    if (!st.ok())
        throw std::runtime_error(path_ + ": not a valid SentencePiece model: " + detail::quote(st.ToString(), 160));
    const int n = sp_->GetPieceSize();
    if (n <= 0 || n > kMaxTokenizerVocab)
        throw std::runtime_error(path_ + ": the model has " + std::to_string(n) + " pieces (1 to " +
                                 std::to_string(kMaxTokenizerVocab) + " accepted)");
    vocab_size_ = n;
    const auto valid = [n](int id) { return id >= 0 && id < n ? id : -1; };
    eos_id_ = valid(sp_->eos_id());
    unk_id_ = valid(sp_->unk_id());
}

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::from_serialized(const std::string& bytes,
                                                                                const std::string& name, bool add_bos) {
    std::unique_ptr<SentencePieceTokenizer> tok(new SentencePieceTokenizer());
    tok->path_ = name;
    tok->parse(bytes);
    if (add_bos) {
        const int id = tok->sp_->bos_id();
        tok->bos_id_ = id >= 0 && id < tok->vocab_size_ ? id : -1;
    }
    return tok;
}

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::load(const std::string& model_path,
                                                                     const std::string& tokenizer_config) {
    std::unique_ptr<SentencePieceTokenizer> tok(new SentencePieceTokenizer());
    tok->path_ = model_path;
    tok->parse(detail::read_file_bounded(model_path));
    const int n = tok->vocab_size_;
    const auto valid = [n](int id) { return id >= 0 && id < n ? id : -1; };

    bool add_bos = true;
    std::string bos_name;
    if (!tokenizer_config.empty()) {
        const nlohmann::json cfg = io::read_json_file(tokenizer_config, 16ull << 20);
        if (!cfg.is_object()) throw std::runtime_error(tokenizer_config + ": not a JSON object");
        std::string cls;
        if (const auto it = cfg.find("tokenizer_class"); it != cfg.end() && !it->is_null()) {
            if (!it->is_string())
                throw std::runtime_error(tokenizer_config + ": tokenizer_class must be a string, got " +
                                         detail::quote_json(*it));
            cls = it->get<std::string>();
        }
        add_bos = adds_bos_by_default(cls);
        if (const auto it = cfg.find("add_bos_token"); it != cfg.end() && !it->is_null()) {
            if (!it->is_boolean())
                throw std::runtime_error(tokenizer_config + ": add_bos_token must be true or false, got " +
                                         detail::quote_json(*it));
            add_bos = it->get<bool>();
        }
        bos_name = detail::config_token(cfg, "bos_token", tokenizer_config);
    }
    if (add_bos) {
        if (!bos_name.empty()) {
            const int id = tok->sp_->PieceToId(bos_name);
            if (id < 0 || id >= n || tok->sp_->IdToPiece(id) != bos_name)
                throw std::runtime_error(tokenizer_config + ": bos_token " + detail::quote(bos_name) +
                                         " is not a piece of " + model_path);
            tok->bos_id_ = id;
        } else {
            tok->bos_id_ = valid(tok->sp_->bos_id());
            if (tok->bos_id_ < 0 && !tokenizer_config.empty())
                throw std::runtime_error(tokenizer_config + ": add_bos_token is true but " + model_path +
                                         " has no BOS piece");
        }
    }
    return tok;
}

std::vector<std::int32_t> SentencePieceTokenizer::encode(std::string_view text) const {
    std::vector<int> ids;
    const auto st = sp_->Encode(text, &ids);
    if (!st.ok()) throw std::runtime_error(path_ + ": cannot encode the text: " + st.ToString());
    return {ids.begin(), ids.end()};
}

std::string SentencePieceTokenizer::decode(std::span<const std::int32_t> ids) const {
    std::vector<int> v(ids.begin(), ids.end());
    for (const int id : v)
        if (id < 0 || id >= vocab_size_)
            throw std::out_of_range("token id " + std::to_string(id) + " is not in the vocabulary of " +
                                    std::to_string(vocab_size_) + " ids");
    std::string out;
    const auto st = sp_->Decode(v, &out);
    if (!st.ok()) throw std::runtime_error(path_ + ": cannot decode: " + st.ToString());
    return out;
}

std::string SentencePieceTokenizer::describe() const { return "SentencePiece (" + std::to_string(vocab_size_) + ")"; }

std::string SentencePieceTokenizer::piece(std::int32_t id) const {
    if (id < 0 || id >= vocab_size_)
        throw std::out_of_range("token id " + std::to_string(id) + " is not in the vocabulary of " +
                                std::to_string(vocab_size_) + " ids");
    return sp_->IdToPiece(id);
}

}  // namespace tllm::eval
