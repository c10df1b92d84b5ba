#include "eval/gguf_tokenizer.h"

#include <bit>
#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "eval/bpe_tokenizer.h"
#include "eval/sentencepiece_tokenizer.h"
#include "eval/tokenizer_detail.h"
#include "io/gguf.h"

namespace tllm::eval {
namespace {

// Protocol-buffer wire format: the subset a ModelProto uses (varint, 32-bit, length-delimited).
enum Wire : std::uint32_t { Varint = 0, Fixed64 = 1, Bytes = 2, Fixed32 = 5 };

void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out += char((v & 0x7F) | 0x80);
        v >>= 7;
    }
    out += char(v);
}
void put_tag(std::string& out, std::uint32_t field, Wire w) { put_varint(out, (std::uint64_t(field) << 3) | w); }
void put_int(std::string& out, std::uint32_t field, std::int64_t v) {
    put_tag(out, field, Varint);
    put_varint(out, std::uint64_t(v));  // negative int32 as ten bytes, as protobuf does
}
void put_bytes(std::string& out, std::uint32_t field, const std::string& s) {
    put_tag(out, field, Bytes);
    put_varint(out, s.size());
    out += s;
}
void put_float(std::string& out, std::uint32_t field, float f) {
    put_tag(out, field, Fixed32);
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
    for (int i = 0; i < 4; ++i) out += char((bits >> (8 * i)) & 0xFF);
}

struct Field {
    std::uint32_t number = 0;
    Wire wire = Varint;
    std::uint64_t value = 0;  ///< varint or fixed value
    std::string_view bytes;   ///< length-delimited payload
};

class Reader {
public:
    Reader(std::string_view data, const std::string& name) : d_(data), name_(name) {}
    bool done() const { return i_ >= d_.size(); }
    Field next() {
        Field f;
        const std::uint64_t key = varint();
        f.number = std::uint32_t(key >> 3);
        f.wire = Wire(key & 7);
        switch (f.wire) {
            case Varint: f.value = varint(); break;
            case Fixed64: f.value = fixed(8); break;
            case Fixed32: f.value = fixed(4); break;
            case Bytes: {
                const std::uint64_t n = varint();
                if (n > d_.size() - i_) bad("a length-delimited field runs past the end");
                f.bytes = d_.substr(i_, n);
                i_ += n;
                break;
            }
            default: bad("wire type " + std::to_string(key & 7) + " is not supported");
        }
        return f;
    }

private:
    [[noreturn]] void bad(const std::string& what) const {
        throw std::runtime_error(name_ + ": not a valid SentencePiece model: " + what + " (byte " + std::to_string(i_) +
                                 ")");
    }
    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (i_ >= d_.size()) bad("truncated varint");
            const auto c = std::uint8_t(d_[i_++]);
            v |= std::uint64_t(c & 0x7F) << shift;
            if (c < 0x80) return v;
        }
        bad("varint longer than ten bytes");
    }
    std::uint64_t fixed(int n) {
        if (std::size_t(n) > d_.size() - i_) bad("truncated fixed-size field");
        std::uint64_t v = 0;
        for (int k = 0; k < n; ++k) v |= std::uint64_t(std::uint8_t(d_[i_ + k])) << (8 * k);
        i_ += n;
        return v;
    }
    std::string_view d_;
    std::size_t i_ = 0;
    const std::string& name_;
};

std::int32_t as_int32(std::uint64_t v) { return std::int32_t(std::uint32_t(v & 0xFFFFFFFFu)); }

std::vector<std::string> string_array(const io::GgufFile& f, const std::string& key, bool required) {
    const nlohmann::json* a = f.get_array(key);
    if (!a) {
        if (required) throw std::runtime_error(f.path() + ": metadata key " + key + " is missing");
        return {};
    }
    std::vector<std::string> out;
    out.reserve(a->size());
    for (std::size_t i = 0; i < a->size(); ++i) {
        if (!(*a)[i].is_string())
            throw std::runtime_error(f.path() + ": metadata key " + key + "[" + std::to_string(i) +
                                     "] is not a string");
        out.push_back((*a)[i].get<std::string>());
    }
    return out;
}

template <class T>
std::vector<T> number_array(const io::GgufFile& f, const std::string& key, std::size_t n, T fallback) {
    const nlohmann::json* a = f.get_array(key);
    if (!a) return std::vector<T>(n, fallback);
    if (a->size() != n)
        throw std::runtime_error(f.path() + ": metadata key " + key + " has " + std::to_string(a->size()) +
                                 " entries, tokenizer.ggml.tokens has " + std::to_string(n));
    std::vector<T> out(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (!(*a)[i].is_number())
            throw std::runtime_error(f.path() + ": metadata key " + key + "[" + std::to_string(i) +
                                     "] is not a number");
        out[i] = (*a)[i].get<T>();
    }
    return out;
}

std::int32_t token_id(const io::GgufFile& f, const std::string& key, std::size_t n, std::int32_t fallback) {
    const auto v = f.get_int(key);
    if (!v) return fallback;
    if (*v < 0 || std::uint64_t(*v) >= n)
        throw std::runtime_error(f.path() + ": metadata key " + key + " = " + std::to_string(*v) +
                                 " is outside the vocabulary of " + std::to_string(n) + " tokens");
    return std::int32_t(*v);
}

}  // namespace

SentencePieceVocab parse_sentencepiece_model(const std::string& bytes, const std::string& name) {
    SentencePieceVocab v;
    v.model_type = 1;  // the proto's defaults
    Reader top(bytes, name);
    while (!top.done()) {
        const Field f = top.next();
        if (f.number == 1 && f.wire == Bytes) {
            Reader p(f.bytes, name);
            std::string piece;
            float score = 0;
            std::int32_t type = 1;
            while (!p.done()) {
                const Field g = p.next();
                if (g.number == 1 && g.wire == Bytes) piece = std::string(g.bytes);
                if (g.number == 2 && g.wire == Fixed32) score = std::bit_cast<float>(std::uint32_t(g.value));
                if (g.number == 3 && g.wire == Varint) type = as_int32(g.value);
            }
            v.pieces.push_back(std::move(piece));
            v.scores.push_back(score);
            v.types.push_back(type);
        } else if (f.number == 2 && f.wire == Bytes) {
            Reader t(f.bytes, name);
            while (!t.done()) {
                const Field g = t.next();
                if (g.wire != Varint) continue;
                if (g.number == 3) v.model_type = as_int32(g.value);
                if (g.number == 35) v.byte_fallback = g.value != 0;
                if (g.number == 40) v.unk_id = as_int32(g.value);
                if (g.number == 41) v.bos_id = as_int32(g.value);
                if (g.number == 42) v.eos_id = as_int32(g.value);
                if (g.number == 43) v.pad_id = as_int32(g.value);
            }
        } else if (f.number == 3 && f.wire == Bytes) {
            Reader n(f.bytes, name);
            while (!n.done()) {
                const Field g = n.next();
                if (g.wire != Varint) continue;
                if (g.number == 3) v.add_dummy_prefix = g.value != 0;
                if (g.number == 4) v.remove_extra_whitespaces = g.value != 0;
                if (g.number == 5) v.escape_whitespaces = g.value != 0;
            }
        }
    }
    if (v.pieces.empty()) throw std::runtime_error(name + ": not a valid SentencePiece model: no pieces");
    return v;
}

std::string serialize_sentencepiece_model(const SentencePieceVocab& v) {
    std::string out;
    for (std::size_t i = 0; i < v.pieces.size(); ++i) {
        std::string p;
        put_bytes(p, 1, v.pieces[i]);
        put_float(p, 2, i < v.scores.size() ? v.scores[i] : 0.0f);
        const std::int32_t type = i < v.types.size() ? v.types[i] : 1;
        if (type != 1) put_int(p, 3, type);
        put_bytes(out, 1, p);
    }
    std::string t;
    put_int(t, 3, v.model_type);
    put_int(t, 4, std::int64_t(v.pieces.size()));
    put_int(t, 35, v.byte_fallback ? 1 : 0);
    put_int(t, 40, v.unk_id);
    put_int(t, 41, v.bos_id);
    put_int(t, 42, v.eos_id);
    put_int(t, 43, v.pad_id);
    put_bytes(out, 2, t);
    std::string n;
    put_bytes(n, 1, "identity");
    put_int(n, 3, v.add_dummy_prefix ? 1 : 0);
    put_int(n, 4, v.remove_extra_whitespaces ? 1 : 0);
    put_int(n, 5, v.escape_whitespaces ? 1 : 0);
    put_bytes(out, 3, n);
    return out;
}

bool gguf_has_tokenizer(const io::GgufFile& f) { return f.find_kv("tokenizer.ggml.model") != nullptr; }

std::unique_ptr<Tokenizer> gguf_tokenizer(const io::GgufFile& f, int model_vocab_size) {
    const auto kind = f.get_string("tokenizer.ggml.model");
    if (!kind) throw std::runtime_error(f.path() + ": metadata key tokenizer.ggml.model is missing (no vocabulary)");
    const std::string name = f.path() + " (GGUF tokenizer)";
    const auto tokens = string_array(f, "tokenizer.ggml.tokens", true);
    const std::size_t n = tokens.size();
    if (n == 0 || std::int64_t(n) > kMaxTokenizerVocab)
        throw std::runtime_error(f.path() + ": metadata key tokenizer.ggml.tokens has " + std::to_string(n) +
                                 " tokens (1 to " + std::to_string(kMaxTokenizerVocab) + " accepted)");
    if (model_vocab_size > 0 && std::int64_t(n) > model_vocab_size)
        throw std::runtime_error(f.path() + ": the GGUF vocabulary of " + std::to_string(n) +
                                 " tokens is larger than the model's vocab_size " + std::to_string(model_vocab_size));
    const auto types = number_array<std::int32_t>(f, "tokenizer.ggml.token_type", n, 1);

    if (*kind == "llama") {
        SentencePieceVocab v;
        v.pieces = tokens;
        v.scores = number_array<float>(f, "tokenizer.ggml.scores", n, 0.0f);
        v.types = types;
        v.model_type = 2;
        for (const auto t : types) v.byte_fallback = v.byte_fallback || t == 6;
        std::int32_t first_unknown = -1;
        for (std::size_t i = 0; i < n && first_unknown < 0; ++i)
            if (types[i] == 2) first_unknown = std::int32_t(i);
        v.unk_id = token_id(f, "tokenizer.ggml.unknown_token_id", n, first_unknown);
        v.bos_id = token_id(f, "tokenizer.ggml.bos_token_id", n, -1);
        v.eos_id = token_id(f, "tokenizer.ggml.eos_token_id", n, -1);
        v.pad_id = token_id(f, "tokenizer.ggml.padding_token_id", n, -1);
        if (v.pad_id == v.unk_id || v.pad_id == v.bos_id || v.pad_id == v.eos_id) v.pad_id = -1;
        if (v.unk_id < 0)
            throw std::runtime_error(f.path() +
                                     ": the SentencePiece vocabulary has no unknown token "
                                     "(tokenizer.ggml.unknown_token_id, or a token of type 2)");
        v.add_dummy_prefix = f.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
        v.remove_extra_whitespaces = f.get_bool("tokenizer.ggml.remove_extra_whitespaces").value_or(false);
        const bool add_bos = f.get_bool("tokenizer.ggml.add_bos_token").value_or(true) && v.bos_id >= 0;
        return SentencePieceTokenizer::from_serialized(serialize_sentencepiece_model(v), name, add_bos);
    }
    if (*kind == "gpt2") {
        if (const auto pre = f.get_string("tokenizer.ggml.pre"); pre && *pre != "gpt-2" && *pre != "default")
            throw std::runtime_error(f.path() + ": tokenizer.ggml.pre = '" + *pre +
                                     "' is not supported (GPT-2's pre-tokeniser: 'gpt-2' or 'default')");
        nlohmann::json doc;
        nlohmann::json vocab = nlohmann::json::object();
        for (std::size_t i = 0; i < n; ++i) vocab[tokens[i]] = i;
        if (vocab.size() != n)
            throw std::runtime_error(f.path() + ": metadata key tokenizer.ggml.tokens holds a token twice");
        doc["model"] = {
            {"type", "BPE"}, {"vocab", std::move(vocab)}, {"merges", string_array(f, "tokenizer.ggml.merges", false)}};
        doc["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
        nlohmann::json added = nlohmann::json::array();
        for (std::size_t i = 0; i < n; ++i)
            if (types[i] == 3) added.push_back({{"id", i}, {"content", tokens[i]}, {"special", true}});
        doc["added_tokens"] = std::move(added);
        const std::int32_t bos = token_id(f, "tokenizer.ggml.bos_token_id", n, -1);
        if (f.get_bool("tokenizer.ggml.add_bos_token").value_or(false) && bos >= 0)
            doc["post_processor"] = {{"type", "TemplateProcessing"},
                                     {"single", {{{"SpecialToken", {{"id", tokens[std::size_t(bos)]}}}}}},
                                     {"special_tokens", {{tokens[std::size_t(bos)], {{"ids", {bos}}}}}}};
        return BpeTokenizer::from_tokenizer_json(doc, name, "");
    }
    throw std::runtime_error(f.path() + ": tokenizer.ggml.model = '" + *kind +
                             "' is not supported (supported: llama, gpt2)");
}

}  // namespace tllm::eval
