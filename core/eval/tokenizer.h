#pragma once
// Tokenizers for evaluation: text <-> token ids of a causal language model.
//
// Kinds (docs/evaluation.md):
//   - byte level: token id = byte value (the bundled demo model, vocabulary 256);
//   - GPT-2 byte-level BPE, from vocab.json + merges.txt or from a Hugging Face
//     tokenizer.json whose model is BPE (pre-tokeniser regex, byte-to-unicode table, merges
//     by rank, added and special tokens);
//   - SentencePiece (tokenizer.model) through the SentencePiece library, with the BOS rule
//     of tokenizer_config.json.
//
// encode() gives exactly the ids of the reference tokenizer of each kind; decode() of
// encode(text) gives text back (BOS/EOS and other special ids decode to nothing).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tllm::io {
class Checkpoint;
}

namespace tllm::eval {

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    /// Ids of `text` without any BOS/EOS. Throws std::runtime_error on text the tokenizer
    /// cannot represent (never for the byte-level and byte-fallback kinds).
    virtual std::vector<std::int32_t> encode(std::string_view text) const = 0;
    /// The text of `ids` (special ids contribute nothing). Throws std::out_of_range naming
    /// the id when one is outside the vocabulary.
    virtual std::string decode(std::span<const std::int32_t> ids) const = 0;
    /// Number of ids (the model's vocab_size must be at least this).
    virtual int vocab_size() const = 0;
    /// Id prepended to every sequence (tokenizer_config.json add_bos_token), or -1.
    virtual std::int32_t bos_id() const = 0;
    /// End-of-text id, or -1 when the tokenizer has none.
    virtual std::int32_t eos_id() const = 0;
    /// Id given to text the vocabulary has no token for (SentencePiece's <unk>), or -1.
    virtual std::int32_t unk_id() const { return -1; }
    /// Short description for reports: "byte level", "GPT-2 BPE (50257)", "SentencePiece (512)".
    virtual std::string describe() const = 0;

    /// encode() with bos_id() first when the tokenizer adds one.
    std::vector<std::int32_t> encode_with_bos(std::string_view text) const {
        std::vector<std::int32_t> ids;
        if (bos_id() >= 0) ids.push_back(bos_id());
        const auto rest = encode(text);
        ids.insert(ids.end(), rest.begin(), rest.end());
        return ids;
    }
};

/// The tokenizer of the model in directory `model_dir`: tokenizer.json, else vocab.json +
/// merges.txt, else tokenizer.model; the byte-level tokenizer when the directory has none
/// of these and `model_vocab_size` is 256. Throws std::runtime_error naming the file and
/// field when a file is malformed, and when the tokenizer's vocabulary is larger than
/// `model_vocab_size` (both sizes named).
/// A tokenizer.json that is not byte-level BPE (a converted SentencePiece model, Llama 2 and
/// Mistral) gives way to a tokenizer.model beside it. A `model_vocab_size` of 0 or less
/// means "unknown": the size check is skipped and no byte-level fallback is made.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_dir, int model_vocab_size);
/// The tokenizer of an opened checkpoint: a GGUF model's own vocabulary (tokenizer.ggml.*,
/// eval/gguf_tokenizer.h) when it has one, else load_tokenizer(directory, vocab size).
std::unique_ptr<Tokenizer> load_tokenizer(const io::Checkpoint& checkpoint, int model_vocab_size);

/// The byte-level tokenizer (id = byte value, vocabulary 256, no BOS/EOS).
std::unique_ptr<Tokenizer> byte_tokenizer();

}  // namespace tllm::eval
