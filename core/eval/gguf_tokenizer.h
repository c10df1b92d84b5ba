#pragma once
// Tokenizers from a GGUF file's vocabulary (tokenizer.ggml.*), and the SentencePiece model
// format both ways, so that a converted model carries its tokenizer and a GGUF model needs no
// tokenizer files.
//
//   tokenizer.ggml.model "llama": a SentencePiece BPE model. tokens, scores and token_type
//     (1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte: SentencePiece's own
//     piece types) become the pieces of a serialized ModelProto, with bos/eos/unknown ids,
//     add_space_prefix (add_dummy_prefix) and remove_extra_whitespaces; the SentencePiece
//     library then encodes exactly as for the original tokenizer.model.
//   tokenizer.ggml.model "gpt2": GPT-2 byte-level BPE from tokens (in GPT-2's byte-to-unicode
//     spelling) and merges ("left right", by rank); control tokens are special.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "eval/tokenizer.h"

namespace tllm::io {
class GgufFile;
}

namespace tllm::eval {

/// The parts of a SentencePiece ModelProto a GGUF vocabulary carries.
struct SentencePieceVocab {
    std::vector<std::string> pieces;
    std::vector<float> scores;
    std::vector<std::int32_t> types;  ///< SentencePiece piece types (1 normal ... 6 byte)
    int model_type = 2;               ///< TrainerSpec.ModelType: 1 unigram, 2 BPE
    bool byte_fallback = false;
    std::int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
    bool add_dummy_prefix = true;
    bool remove_extra_whitespaces = true;
    bool escape_whitespaces = true;
};

/// Reads the pieces and settings of serialized ModelProto `bytes` (`name` names it in
/// errors). Throws std::runtime_error on malformed protobuf.
SentencePieceVocab parse_sentencepiece_model(const std::string& bytes, const std::string& name);
/// A serialized ModelProto holding `v` (what parse_sentencepiece_model reads back).
std::string serialize_sentencepiece_model(const SentencePieceVocab& v);

/// True when `f` holds a tokenizer (tokenizer.ggml.model).
bool gguf_has_tokenizer(const io::GgufFile& f);
/// The tokenizer of `f`'s vocabulary. Throws std::runtime_error naming the file and key when
/// the vocabulary is missing, malformed, of an unsupported kind, or larger than
/// `model_vocab_size` (when > 0).
std::unique_ptr<Tokenizer> gguf_tokenizer(const io::GgufFile& f, int model_vocab_size);

}  // namespace tllm::eval
