#pragma once
// GPT-2 byte-level BPE (docs/evaluation.md): the published algorithm of OpenAI's encoder.py
// and of Hugging Face tokenizers' ByteLevel BPE.
//
//   1. Added tokens (special ones such as <|endoftext|> and others) are cut out of the text
//      first, leftmost-longest, exactly as written.
//   2. Each remaining piece is split by the GPT-2 pattern
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      matched by hand over UTF-8 code points (unicode_classes.h; bytes that are not valid
//      UTF-8 count as "other" characters and are kept).
//   3. The bytes of each word become the printable characters of GPT-2's byte-to-unicode
//      table, one token each, and adjacent tokens are merged by the rank of their pair in
//      merges.txt (lowest rank first, leftmost first among equal ranks) until no pair has
//      a rank. Words are cached.
//
// decode() maps each token's characters back to bytes; special tokens give nothing.

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/tokenizer.h"

namespace tllm::eval {

/// Largest vocabulary (and number of merges) a tokenizer file may declare; bounds every
/// allocation sized by a file before it is made.
inline constexpr std::int64_t kMaxTokenizerVocab = 1 << 22;

/// A token matched in the raw text before pre-tokenisation (tokenizer.json added_tokens,
/// tokenizer_config.json special tokens).
struct AddedToken {
    std::string content;       ///< the exact text it matches
    std::int32_t id = -1;      ///< its id
    bool special = true;       ///< special tokens decode to nothing
    bool lstrip = false;       ///< also takes the whitespace before it
    bool rstrip = false;       ///< also takes the whitespace after it
    bool single_word = false;  ///< matches only between non-word characters
};

/// The pre-tokeniser's word boundaries: the GPT-2 pattern applied to `text`, appended to
/// `out` as views into `text` (they cover `text` exactly, in order).
void gpt2_pretokenize(std::string_view text, std::vector<std::string_view>& out);

/// GPT-2's byte-to-unicode table: the code point that stands for each byte in vocabulary
/// and merge files.
const std::array<char32_t, 256>& gpt2_byte_to_unicode();

/// True when a parsed tokenizer.json is a BPE model over GPT-2 bytes (a ByteLevel
/// pre-tokeniser), the kind BpeTokenizer reads.
bool is_byte_level_bpe(const nlohmann::json& tokenizer_json);

/// GPT-2 byte-level BPE tokenizer.
class BpeTokenizer final : public Tokenizer {
public:
    /// From vocab.json and merges.txt; `tokenizer_config` (tokenizer_config.json, may be
    /// absent) names the special tokens and add_bos_token. Without it <|endoftext|>, when in
    /// the vocabulary, is the special end-of-text token (GPT2Tokenizer's default).
    static std::unique_ptr<BpeTokenizer> from_vocab_merges(const std::string& vocab_json, const std::string& merges_txt,
                                                           const std::string& tokenizer_config);
    /// From a Hugging Face tokenizer.json (`path` names it in errors) whose model is BPE with
    /// a ByteLevel pre-tokeniser; `tokenizer_config` as above.
    static std::unique_ptr<BpeTokenizer> from_tokenizer_json(const nlohmann::json& doc, const std::string& path,
                                                             const std::string& tokenizer_config);
    /// Reads and parses `path` (size and depth bounded), then as above.
    static std::unique_ptr<BpeTokenizer> from_tokenizer_json_file(const std::string& path,
                                                                  const std::string& tokenizer_config);

    std::vector<std::int32_t> encode(std::string_view text) const override;
    std::string decode(std::span<const std::int32_t> ids) const override;
    int vocab_size() const override { return static_cast<int>(id_text_.size()); }
    std::int32_t bos_id() const override { return bos_id_; }
    std::int32_t eos_id() const override { return eos_id_; }
    std::string describe() const override;

    /// Id of a token given in the vocabulary's own spelling (byte-level characters for
    /// ordinary tokens, the literal text for added tokens), or -1.
    std::int32_t token_id(const std::string& token) const;
    /// The added tokens, in the order they are matched (longest first).
    const std::vector<AddedToken>& added_tokens() const { return added_; }

private:
    BpeTokenizer() = default;

    struct MergeRule {
        std::int32_t rank;    ///< position in the merges list (lower merges first)
        std::int32_t result;  ///< id of the merged token
    };

    // Construction steps shared by the two readers.
    void set_vocab(std::unordered_map<std::string, std::int32_t> vocab, const std::string& where);
    void add_merge(const std::string& left, const std::string& right, std::int64_t rank, const std::string& where);
    void add_added_token(AddedToken token, const std::string& where);
    // Reads tokenizer_config.json (special tokens, add_bos_token); `gpt2_defaults` makes
    // <|endoftext|> special as GPT2Tokenizer does for vocab.json + merges.txt.
    void finish(const std::string& tokenizer_config, const std::string& where, bool gpt2_defaults);

    void encode_word(std::string_view word, std::vector<std::int32_t>& out) const;
    void encode_plain(std::string_view text, std::vector<std::int32_t>& out) const;

    std::unordered_map<std::string, std::int32_t> vocab_;        ///< byte-level spelling -> id
    std::vector<std::string> id_text_;                           ///< bytes each id decodes to
    std::vector<std::uint8_t> id_kind_;                          ///< 0 hole, 1 ordinary, 2 added, 3 special
    std::unordered_map<std::uint64_t, MergeRule> merges_;        ///< (left id, right id) -> rule
    std::array<std::int32_t, 256> byte_id_{};                    ///< id of each single byte, or -1
    std::vector<AddedToken> added_;                              ///< longest first
    std::array<std::vector<std::uint32_t>, 256> added_by_byte_;  ///< indices into added_ by first byte
    bool add_prefix_space_ = false;                              ///< ByteLevel add_prefix_space
    bool ignore_merges_ = false;                                 ///< a word in the vocabulary is one token
    std::int32_t bos_id_ = -1;
    std::int32_t eos_id_ = -1;
    std::string path_;  ///< the vocabulary file, named in encoding errors

    mutable std::mutex cache_mutex_;
    mutable std::unordered_map<std::string, std::vector<std::int32_t>> cache_;  ///< word -> ids
};

}  // namespace tllm::eval
