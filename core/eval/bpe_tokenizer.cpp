// GPT-2 byte-level BPE: readers for vocab.json + merges.txt and tokenizer.json and the GPT-2
// pre-tokeniser (bpe_encode.cpp has the merge loop; bpe_tokenizer.h the algorithm).
#include "eval/bpe_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <queue>
#include <stdexcept>
#include <system_error>

#include "eval/bpe_detail.h"
#include "eval/tokenizer_detail.h"
#include "eval/unicode_classes.h"
#include "io/model_config.h"

namespace tllm::eval {

using bpe_detail::pair_key;
using detail::quote;
using detail::quote_json;
using unicode::CharClass;

namespace {

// The pattern of GPT-2's encoder.py, as tokenizer.json spells it in a Split pre-tokeniser.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Code point -> byte, the inverse of gpt2_byte_to_unicode (the table's code points are below 324).
const std::array<std::int16_t, 324>& unicode_to_byte() {
    static const auto table = [] {
        std::array<std::int16_t, 324> t;
        t.fill(-1);
        const auto& fwd = gpt2_byte_to_unicode();
        for (int b = 0; b < 256; ++b) t[fwd[static_cast<std::size_t>(b)]] = static_cast<std::int16_t>(b);
        return t;
    }();
    return table;
}

// The bytes a vocabulary spelling stands for: each table character becomes its byte, any
// other character is kept as its UTF-8 bytes.
std::string spelling_to_bytes(std::string_view spelling) {
    const auto& inv = unicode_to_byte();
    std::string out;
    out.reserve(spelling.size());
    for (std::size_t pos = 0; pos < spelling.size();) {
        const auto d = unicode::decode_utf8(spelling, pos);
        if (d.cp < inv.size() && inv[d.cp] >= 0)
            out += static_cast<char>(inv[d.cp]);
        else
            out.append(spelling.substr(pos, d.len));
        pos += d.len;
    }
    return out;
}

const nlohmann::json* member(const nlohmann::json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    const auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
}

bool bool_field(const nlohmann::json& obj, const char* key, bool dflt, const std::string& where) {
    const auto* v = member(obj, key);
    if (!v) return dflt;
    if (!v->is_boolean()) throw std::runtime_error(where + "." + key + " must be true or false, got " + quote_json(*v));
    return v->get<bool>();
}

std::string string_field(const nlohmann::json& obj, const char* key, const std::string& where) {
    const auto* v = member(obj, key);
    if (!v) return {};
    if (!v->is_string()) throw std::runtime_error(where + "." + key + " must be a string, got " + quote_json(*v));
    return v->get<std::string>();
}

// An id field of a JSON file: an integer in [0, kMaxTokenizerVocab).
std::int32_t id_value(const nlohmann::json& v, const std::string& where) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() >= kMaxTokenizerVocab)
        throw std::runtime_error(where + ": id must be an integer from 0 to " + std::to_string(kMaxTokenizerVocab - 1) +
                                 ", got " + quote_json(v));
    return static_cast<std::int32_t>(v.get<std::int64_t>());
}

// The pre-tokeniser of a tokenizer.json: whether it is GPT-2's ByteLevel, and its
// add_prefix_space. Returns false for anything else.
bool byte_level_pretokenizer(const nlohmann::json& pre, bool& add_prefix_space) {
    if (!pre.is_object()) return false;
    const auto type = pre.find("type");
    if (type == pre.end() || !type->is_string()) return false;
    const auto flag = [&](const nlohmann::json& o, const char* k, bool d) {
        const auto* v = member(o, k);
        return v && v->is_boolean() ? v->get<bool>() : d;
    };
    if (*type == "ByteLevel") {
        add_prefix_space = flag(pre, "add_prefix_space", true);
        return flag(pre, "use_regex", true);
    }
    if (*type == "Sequence") {
        // [Split(GPT-2 pattern, Isolated), ByteLevel(use_regex false)]: the same as ByteLevel.
        const auto* list = member(pre, "pretokenizers");
        if (!list || !list->is_array() || list->size() != 2) return false;
        const auto& split = (*list)[0];
        const auto& bl = (*list)[1];
        if (!split.is_object() || split.value("type", "") != "Split" || split.value("behavior", "") != "Isolated" ||
            flag(split, "invert", false))
            return false;
        const auto* pat = member(split, "pattern");
        const auto* re = pat ? member(*pat, "Regex") : nullptr;
        if (!re || !re->is_string() || re->get<std::string>() != kGpt2Pattern) return false;
        if (!bl.is_object() || bl.value("type", "") != "ByteLevel" || flag(bl, "use_regex", true)) return false;
        add_prefix_space = flag(bl, "add_prefix_space", true);
        return true;
    }
    return false;
}

}  // namespace

const std::array<char32_t, 256>& gpt2_byte_to_unicode() {
    // Printable Latin-1 bytes stand for themselves; the others (controls, space, 0x7F-0xA0,
    // 0xAD) get 256, 257, ... in byte order (OpenAI's bytes_to_unicode).
    static const auto table = [] {
        std::array<char32_t, 256> t{};
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            t[static_cast<std::size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
        }
        return t;
    }();
    return table;
}

void gpt2_pretokenize(std::string_view text, std::vector<std::string_view>& out) {
    struct Ch {
        std::size_t pos;
        char32_t cp;
        CharClass cls;
    };
    std::vector<Ch> chars;
    chars.reserve(text.size());
    for (std::size_t pos = 0; pos < text.size();) {
        const auto d = unicode::decode_utf8(text, pos);
        chars.push_back({pos, d.cp, unicode::classify(d.cp)});
        pos += d.len;
    }
    const std::size_t n = chars.size();
    const auto cls = [&](std::size_t k) { return k < n ? chars[k].cls : CharClass::Whitespace; };
    const auto cp = [&](std::size_t k) { return k < n ? chars[k].cp : char32_t{0}; };
    const auto emit = [&](std::size_t from, std::size_t to) {
        const std::size_t b = chars[from].pos, e = to < n ? chars[to].pos : text.size();
        out.push_back(text.substr(b, e - b));
    };
    // Extends a run of class `c` starting at k.
    const auto run = [&](std::size_t k, CharClass c) {
        while (k < n && chars[k].cls == c) ++k;
        return k;
    };

    std::size_t i = 0;
    while (i < n) {
        const char32_t c0 = chars[i].cp;
        // 's 't 're 've 'm 'll 'd (case-sensitive, ASCII apostrophe only).
        if (c0 == U'\'') {
            const char32_t a = cp(i + 1), b = cp(i + 2);
            std::size_t len = 0;
            if (a == U's' || a == U't' || a == U'm' || a == U'd')
                len = 2;
            else if ((a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l'))
                len = 3;
            if (len > 0) {
                emit(i, i + len);
                i += len;
                continue;
            }
        }
        // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional space, then a run of one class.
        const std::size_t k = (c0 == U' ' && i + 1 < n && cls(i + 1) != CharClass::Whitespace) ? i + 1 : i;
        const CharClass c = chars[k].cls;
        if (c != CharClass::Whitespace) {
            const std::size_t end = run(k, c);
            emit(i, end);
            i = end;
            continue;
        }
        // "\s+(?!\S)": a whitespace run that ends the text, or all of a longer run but its
        // last character (which then starts the next word); else "\s+".
        const std::size_t end = run(i, CharClass::Whitespace);
        const std::size_t take = (end < n && end - i >= 2) ? end - 1 : end;
        emit(i, take);
        i = take;
    }
}

bool is_byte_level_bpe(const nlohmann::json& doc) {
    const auto* model = member(doc, "model");
    if (!model || !model->is_object() || model->value("type", "") != "BPE") return false;
    const auto* pre = member(doc, "pre_tokenizer");
    bool prefix = false;
    return pre && byte_level_pretokenizer(*pre, prefix);
}

// ---- construction --------------------------------------------------------------------------

void BpeTokenizer::set_vocab(std::unordered_map<std::string, std::int32_t> vocab, const std::string& where) {
    std::int32_t max_id = -1;
    for (const auto& [token, id] : vocab) max_id = std::max(max_id, id);
    id_text_.assign(static_cast<std::size_t>(max_id + 1), std::string());
    id_kind_.assign(static_cast<std::size_t>(max_id + 1), 0);
    for (const auto& [token, id] : vocab) {
        if (token.empty())
            throw std::runtime_error(where + ": the empty string is not a token (id " + std::to_string(id) + ")");
        auto& kind = id_kind_[static_cast<std::size_t>(id)];
        if (kind != 0) {
            // Name the two spellings in a stable order.
            const std::int32_t dup = id;  // (clang 14 cannot capture structured bindings)
            const std::string& first = token;
            const auto other = std::find_if(vocab.begin(), vocab.end(),
                                            [&](const auto& e) { return e.second == dup && e.first != first; });
            std::string a = token, b = other == vocab.end() ? token : other->first;
            if (b < a) std::swap(a, b);
            throw std::runtime_error(where + ": id " + std::to_string(id) + " is given to both " + quote(a) + " and " +
                                     quote(b));
        }
        kind = 1;
        id_text_[static_cast<std::size_t>(id)] = spelling_to_bytes(token);
    }
    vocab_ = std::move(vocab);
    const auto& fwd = gpt2_byte_to_unicode();
    for (std::size_t b = 0; b < 256; ++b) {
        std::string s;
        unicode::append_utf8(s, fwd[b]);
        const auto it = vocab_.find(s);
        byte_id_[b] = it == vocab_.end() ? -1 : it->second;
    }
}

void BpeTokenizer::add_merge(const std::string& left, const std::string& right, std::int64_t rank,
                             const std::string& where) {
    const auto find = [&](const std::string& t, const char* role) {
        const auto it = vocab_.find(t);
        if (it == vocab_.end())
            throw std::runtime_error(where + ": merge " + quote(left + " " + right) + " names " + role + " " +
                                     quote(t) + ", which is not in the vocabulary");
        return it->second;
    };
    const std::int32_t a = find(left, "the token");
    const std::int32_t b = find(right, "the token");
    const std::int32_t r = find(left + right, "the merged token");
    // A repeated pair takes its last rank, as in encoder.py's dict and the tokenizers library.
    merges_[pair_key(a, b)] = MergeRule{static_cast<std::int32_t>(rank), r};
}

void BpeTokenizer::add_added_token(AddedToken token, const std::string& where) {
    if (token.content.empty()) throw std::runtime_error(where + ": an added token's content is empty");
    const auto id = static_cast<std::size_t>(token.id);
    if (id >= id_text_.size()) {
        id_text_.resize(id + 1);
        id_kind_.resize(id + 1, 0);
    }
    for (auto& a : added_)
        if (a.content == token.content) {
            // Named twice (tokenizer.json and tokenizer_config.json): the first wins.
            return;
        }
    id_kind_[id] = token.special ? 3 : 2;
    id_text_[id] = token.special ? std::string() : token.content;
    added_.push_back(std::move(token));
}

void BpeTokenizer::finish(const std::string& config_path, const std::string& where, bool gpt2_defaults) {
    std::string eos_name, bos_name;
    std::optional<bool> add_bos;
    if (!config_path.empty()) {
        const nlohmann::json cfg = io::read_json_file(config_path, 16ull << 20);
        if (!cfg.is_object()) throw std::runtime_error(config_path + ": not a JSON object");
        // Tokens by id first (added_tokens_decoder), then the named special tokens.
        if (const auto* dec = member(cfg, "added_tokens_decoder")) {
            if (!dec->is_object())
                throw std::runtime_error(config_path + ": added_tokens_decoder must be an object, got " +
                                         quote_json(*dec));
            for (const auto& [key, spec] : dec->items()) {
                const std::string at = config_path + ": added_tokens_decoder." + key;
                std::int64_t id = -1;
                try {
                    std::size_t used = 0;
                    id = std::stoll(key, &used);
                    if (used != key.size()) id = -1;
                } catch (const std::exception&) {
                    id = -1;
                }
                if (id < 0 || id >= kMaxTokenizerVocab)
                    throw std::runtime_error(at + ": the key must be a token id from 0 to " +
                                             std::to_string(kMaxTokenizerVocab - 1));
                if (!spec.is_object()) throw std::runtime_error(at + " must be an object, got " + quote_json(spec));
                AddedToken t;
                t.content = string_field(spec, "content", at);
                t.id = static_cast<std::int32_t>(id);
                t.special = bool_field(spec, "special", false, at);
                t.lstrip = bool_field(spec, "lstrip", false, at);
                t.rstrip = bool_field(spec, "rstrip", false, at);
                t.single_word = bool_field(spec, "single_word", false, at);
                add_added_token(std::move(t), at);
            }
        }
        std::vector<std::pair<std::string, std::string>> named;  // field, content
        for (const char* f :
             {"bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"}) {
            const std::string c = detail::config_token(cfg, f, config_path);
            if (!c.empty()) named.emplace_back(f, c);
        }
        if (const auto* extra = member(cfg, "additional_special_tokens")) {
            if (!extra->is_array())
                throw std::runtime_error(config_path + ": additional_special_tokens must be a list, got " +
                                         quote_json(*extra));
            for (std::size_t i = 0; i < extra->size(); ++i) {
                const nlohmann::json wrap = {{"t", (*extra)[i]}};
                const std::string field = "additional_special_tokens[" + std::to_string(i) + "]";
                const std::string c = detail::config_token(wrap, "t", config_path + " (" + field + ")");
                if (!c.empty()) named.emplace_back(field, c);
            }
        }
        for (const auto& [field, content] : named) {
            const std::int32_t id = token_id(content);
            if (id < 0)
                throw std::runtime_error(config_path + ": " + field + " " + quote(content) +
                                         " is not in the vocabulary");
            if (id_kind_[static_cast<std::size_t>(id)] == 1) add_added_token({content, id, true}, config_path);
            if (field == "eos_token") eos_name = content;
            if (field == "bos_token") bos_name = content;
        }
        // GPT2Tokenizer's add_prefix_space (tokenizer.json has its own, in the pre-tokeniser);
        // applied as the fast tokenizer does: only to text that does not start with a space.
        if (const auto* v = member(cfg, "add_prefix_space"); v && gpt2_defaults) {
            if (!v->is_boolean())
                throw std::runtime_error(config_path + ": add_prefix_space must be true or false, got " +
                                         quote_json(*v));
            add_prefix_space_ = v->get<bool>();
        }
        if (const auto* v = member(cfg, "add_bos_token")) {
            if (!v->is_boolean())
                throw std::runtime_error(config_path + ": add_bos_token must be true or false, got " + quote_json(*v));
            add_bos = v->get<bool>();
        }
    }
    // GPT2Tokenizer's default (vocab.json + merges.txt): <|endoftext|> is the special BOS,
    // EOS and UNK token. In a tokenizer.json it is special only when added_tokens says so.
    const std::int32_t eot = token_id("<|endoftext|>");
    if (gpt2_defaults && eot >= 0 && id_kind_[static_cast<std::size_t>(eot)] == 1)
        add_added_token({"<|endoftext|>", eot, true}, where);
    if (!eos_name.empty())
        eos_id_ = token_id(eos_name);
    else if (eot >= 0)
        eos_id_ = eot;
    if (add_bos.has_value()) {
        if (!*add_bos) {
            bos_id_ = -1;
        } else {
            const std::string name = !bos_name.empty() ? bos_name : (eot >= 0 ? "<|endoftext|>" : "");
            if (name.empty())
                throw std::runtime_error(config_path + ": add_bos_token is true but bos_token is not given");
            bos_id_ = token_id(name);
        }
    }
    // Longest first, so that the first match at a position is the longest.
    std::stable_sort(added_.begin(), added_.end(),
                     [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
    for (auto& v : added_by_byte_) v.clear();
    for (std::size_t i = 0; i < added_.size(); ++i)
        added_by_byte_[static_cast<unsigned char>(added_[i].content[0])].push_back(static_cast<std::uint32_t>(i));
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_vocab_merges(const std::string& vocab_json,
                                                              const std::string& merges_txt,
                                                              const std::string& tokenizer_config) {
    std::unique_ptr<BpeTokenizer> tok(new BpeTokenizer());
    tok->path_ = vocab_json;
    std::error_code ec;
    if (!std::filesystem::exists(vocab_json, ec))
        throw std::runtime_error(vocab_json + ": missing (merges.txt needs the vocabulary beside it)");
    if (!std::filesystem::exists(merges_txt, ec))
        throw std::runtime_error(merges_txt + ": missing (vocab.json needs the merges beside it)");

    const nlohmann::json doc = io::read_json_file(vocab_json, detail::kMaxTokenizerFileBytes);
    if (!doc.is_object())
        throw std::runtime_error(vocab_json + ": must be a JSON object of token -> id, got " + quote_json(doc));
    if (static_cast<std::int64_t>(doc.size()) > kMaxTokenizerVocab)
        throw std::runtime_error(vocab_json + ": " + std::to_string(doc.size()) + " tokens, more than the " +
                                 std::to_string(kMaxTokenizerVocab) + " accepted");
    std::unordered_map<std::string, std::int32_t> vocab;
    vocab.reserve(doc.size());
    for (const auto& [token, id] : doc.items())
        vocab.emplace(token, id_value(id, vocab_json + ": token " + quote(token)));
    tok->set_vocab(std::move(vocab), vocab_json);

    const std::string text = detail::read_file_bounded(merges_txt);
    std::int64_t rank = 0, line_no = 0;
    for (std::size_t pos = 0; pos < text.size();) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
        const std::string where = merges_txt + ": line " + std::to_string(line_no);
        const std::size_t sp = line.find(' ');
        if (sp == std::string_view::npos || sp == 0 || sp + 1 == line.size() ||
            line.find(' ', sp + 1) != std::string_view::npos)
            throw std::runtime_error(where + ": expected two tokens separated by one space, got " + quote(line));
        if (rank >= kMaxTokenizerVocab)
            throw std::runtime_error(where + ": more than " + std::to_string(kMaxTokenizerVocab) + " merges");
        tok->add_merge(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)), rank++, where);
    }
    tok->finish(tokenizer_config, vocab_json, true);
    return tok;
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_tokenizer_json_file(const std::string& path,
                                                                     const std::string& tokenizer_config) {
    return from_tokenizer_json(io::read_json_file(path, detail::kMaxTokenizerFileBytes), path, tokenizer_config);
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_tokenizer_json(const nlohmann::json& doc, const std::string& path,
                                                                const std::string& tokenizer_config) {
    std::unique_ptr<BpeTokenizer> tok(new BpeTokenizer());
    tok->path_ = path;
    if (!doc.is_object()) throw std::runtime_error(path + ": not a JSON object");
    const auto* model = member(doc, "model");
    if (!model || !model->is_object()) throw std::runtime_error(path + ": field 'model' is missing or not an object");
    const std::string type = string_field(*model, "type", path + ": model");
    if (type != "BPE")
        throw std::runtime_error(path + ": model.type " + quote(type) +
                                 " is not supported (byte-level BPE; SentencePiece through tokenizer.model)");
    if (const auto* norm = member(doc, "normalizer"))
        throw std::runtime_error(path + ": normalizer " + quote(norm->is_object() ? norm->value("type", "?") : "?") +
                                 " is not supported (byte-level BPE has none)");
    const auto* pre = member(doc, "pre_tokenizer");
    if (!pre || !byte_level_pretokenizer(*pre, tok->add_prefix_space_))
        throw std::runtime_error(path + ": pre_tokenizer " + (pre ? quote_json(*pre) : std::string("null")) +
                                 " is not supported (GPT-2's ByteLevel)");
    if (const auto* d = member(*model, "dropout"); d && !(d->is_number() && d->get<double>() == 0.0))
        throw std::runtime_error(path + ": model.dropout " + quote_json(*d) + " is not supported (null)");
    for (const char* f : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (!string_field(*model, f, path + ": model").empty())
            throw std::runtime_error(path + ": model." + f + " is not supported in byte-level BPE");
    tok->ignore_merges_ = bool_field(*model, "ignore_merges", false, path + ": model");

    const auto* vdoc = member(*model, "vocab");
    if (!vdoc || !vdoc->is_object()) throw std::runtime_error(path + ": model.vocab must be an object of token -> id");
    if (static_cast<std::int64_t>(vdoc->size()) > kMaxTokenizerVocab)
        throw std::runtime_error(path + ": model.vocab has " + std::to_string(vdoc->size()) +
                                 " tokens, more than the " + std::to_string(kMaxTokenizerVocab) + " accepted");
    std::unordered_map<std::string, std::int32_t> vocab;
    vocab.reserve(vdoc->size());
    for (const auto& [token, id] : vdoc->items())
        vocab.emplace(token, id_value(id, path + ": model.vocab " + quote(token)));
    tok->set_vocab(std::move(vocab), path + ": model.vocab");

    const auto* merges = member(*model, "merges");
    if (!merges || !merges->is_array()) throw std::runtime_error(path + ": model.merges must be a list");
    if (static_cast<std::int64_t>(merges->size()) > kMaxTokenizerVocab)
        throw std::runtime_error(path + ": model.merges has " + std::to_string(merges->size()) +
                                 " entries, more than the " + std::to_string(kMaxTokenizerVocab) + " accepted");
    for (std::size_t i = 0; i < merges->size(); ++i) {
        const auto& m = (*merges)[i];
        const std::string where = path + ": model.merges[" + std::to_string(i) + "]";
        std::string left, right;
        if (m.is_string()) {  // "left right"
            const std::string s = m.get<std::string>();
            const std::size_t sp = s.find(' ');
            if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() || s.find(' ', sp + 1) != std::string::npos)
                throw std::runtime_error(where + ": expected two tokens separated by one space, got " + quote(s));
            left = s.substr(0, sp);
            right = s.substr(sp + 1);
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {  // ["left", "right"]
            left = m[0].get<std::string>();
            right = m[1].get<std::string>();
        } else {
            throw std::runtime_error(where + ": expected \"left right\" or [left, right], got " + quote_json(m));
        }
        tok->add_merge(left, right, static_cast<std::int64_t>(i), where);
    }

    if (const auto* added = member(doc, "added_tokens")) {
        if (!added->is_array()) throw std::runtime_error(path + ": added_tokens must be a list");
        if (static_cast<std::int64_t>(added->size()) > kMaxTokenizerVocab)
            throw std::runtime_error(path + ": added_tokens has " + std::to_string(added->size()) + " entries");
        for (std::size_t i = 0; i < added->size(); ++i) {
            const auto& a = (*added)[i];
            const std::string where = path + ": added_tokens[" + std::to_string(i) + "]";
            if (!a.is_object()) throw std::runtime_error(where + " must be an object, got " + quote_json(a));
            const auto* id = member(a, "id");
            if (!id) throw std::runtime_error(where + ": field 'id' is missing");
            AddedToken t;
            t.id = id_value(*id, where);
            t.content = string_field(a, "content", where);
            t.special = bool_field(a, "special", false, where);
            t.lstrip = bool_field(a, "lstrip", false, where);
            t.rstrip = bool_field(a, "rstrip", false, where);
            t.single_word = bool_field(a, "single_word", false, where);
            tok->add_added_token(std::move(t), where);
        }
    }

    // A TemplateProcessing post-processor that puts a special token before the text: BOS.
    if (const auto* post = member(doc, "post_processor"); post && post->value("type", "") == "TemplateProcessing") {
        const auto* single = member(*post, "single");
        const auto* specials = member(*post, "special_tokens");
        if (single && single->is_array() && !single->empty() && (*single)[0].is_object()) {
            const auto* first = member((*single)[0], "SpecialToken");
            const auto* name = first ? member(*first, "id") : nullptr;
            if (name && name->is_string()) {
                const auto* entry = specials ? member(*specials, name->get<std::string>().c_str()) : nullptr;
                const auto* ids = entry ? member(*entry, "ids") : nullptr;
                if (!ids || !ids->is_array() || ids->size() != 1)
                    throw std::runtime_error(path + ": post_processor.special_tokens has no single id for " +
                                             quote(name->get<std::string>()));
                tok->bos_id_ = id_value((*ids)[0], path + ": post_processor.special_tokens");
            }
        }
    }
    tok->finish(tokenizer_config, path, false);
    if (tok->bos_id_ >= tok->vocab_size())
        throw std::runtime_error(path + ": BOS id " + std::to_string(tok->bos_id_) + " is outside the vocabulary");
    return tok;
}

}  // namespace tllm::eval
