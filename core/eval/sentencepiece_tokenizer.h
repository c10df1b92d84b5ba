#pragma once
// SentencePiece models (tokenizer.model) through the SentencePiece library, with the BOS
// rule of tokenizer_config.json. The library does the encoding, so the ids are those of
// the reference implementation (the Python binding wraps the same code).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eval/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace tllm::eval {

/// A SentencePiece tokenizer.
class SentencePieceTokenizer final : public Tokenizer {
public:
    /// Loads `model_path` (a serialized SentencePiece ModelProto, at most 64 MiB).
    /// `tokenizer_config` (tokenizer_config.json; "" when absent) gives add_bos_token and
    /// bos_token; without add_bos_token, BOS is added for the Llama-style classes
    /// (LlamaTokenizer, CodeLlamaTokenizer, GemmaTokenizer and their Fast forms) and when
    /// tokenizer_class is not given, not for other classes. Throws std::runtime_error naming
    /// the file and field on a malformed file.
    static std::unique_ptr<SentencePieceTokenizer> load(const std::string& model_path,
                                                        const std::string& tokenizer_config);
    /// From the bytes of a serialized ModelProto (`name` names them in errors), adding the
    /// model's BOS piece when `add_bos` (a GGUF vocabulary, eval/gguf_tokenizer.h).
    static std::unique_ptr<SentencePieceTokenizer> from_serialized(const std::string& bytes, const std::string& name,
                                                                   bool add_bos);
    ~SentencePieceTokenizer() override;

    std::vector<std::int32_t> encode(std::string_view text) const override;
    std::string decode(std::span<const std::int32_t> ids) const override;
    int vocab_size() const override { return vocab_size_; }
    std::int32_t bos_id() const override { return bos_id_; }
    std::int32_t eos_id() const override { return eos_id_; }
    std::int32_t unk_id() const override { return unk_id_; }
    std::string describe() const override;

    /// The piece of `id` (its spelling in the model, "▁" for a space), e.g. for reports.
    std::string piece(std::int32_t id) const;

private:
    SentencePieceTokenizer();
    /// Parses `bytes` into sp_ and sets the vocabulary size, EOS and UNK; path_ names them.
    void parse(const std::string& bytes);

    std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
    std::string path_;  ///< the model file, named in errors
    int vocab_size_ = 0;
    std::int32_t bos_id_ = -1;
    std::int32_t eos_id_ = -1;
    std::int32_t unk_id_ = -1;
};

}  // namespace tllm::eval
