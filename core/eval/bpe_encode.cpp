// GPT-2 byte-level BPE: encoding (pre-tokeniser, added tokens, the merge loop by rank with
// its word cache) and decoding (see bpe_tokenizer.h for the algorithm).
#include <algorithm>
#include <queue>
#include <stdexcept>

#include "eval/bpe_detail.h"
#include "eval/bpe_tokenizer.h"
#include "eval/tokenizer_detail.h"
#include "eval/unicode_classes.h"

namespace tllm::eval {

using namespace bpe_detail;
using unicode::CharClass;

// ---- encoding and decoding -----------------------------------------------------------------

std::int32_t BpeTokenizer::token_id(const std::string& token) const {
    for (const auto& a : added_)
        if (a.content == token) return a.id;
    const auto it = vocab_.find(token);
    return it == vocab_.end() ? -1 : it->second;
}

std::string BpeTokenizer::describe() const { return "GPT-2 BPE (" + std::to_string(vocab_size()) + ")"; }

void BpeTokenizer::encode_word(std::string_view word, std::vector<std::int32_t>& out) const {
    const bool cacheable = word.size() <= kMaxCachedWordBytes;
    if (cacheable) {
        const std::lock_guard lock(cache_mutex_);
        const auto it = cache_.find(std::string(word));
        if (it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<std::int32_t> ids;
    if (ignore_merges_) {
        const auto it = vocab_.find(bytes_to_spelling(word));
        if (it != vocab_.end()) ids.push_back(it->second);
    }
    if (ids.empty()) {
        struct Sym {
            std::int32_t id, prev, next;
            bool alive;
        };
        std::vector<Sym> sym(word.size());
        for (std::size_t i = 0; i < word.size(); ++i) {
            const auto b = static_cast<unsigned char>(word[i]);
            if (byte_id_[b] < 0)
                throw std::runtime_error(path_ + ": byte 0x" + std::string(1, "0123456789abcdef"[b >> 4]) +
                                         "0123456789abcdef"[b & 15] + " has no token in the vocabulary");
            sym[i] = {byte_id_[b], static_cast<std::int32_t>(i) - 1,
                      i + 1 < word.size() ? static_cast<std::int32_t>(i + 1) : -1, true};
        }
        // Candidates (rank, position of the left symbol); the lowest rank, then the leftmost,
        // merges first. Entries made stale by an earlier merge are skipped when popped.
        using Cand = std::pair<std::int32_t, std::int32_t>;
        std::priority_queue<Cand, std::vector<Cand>, std::greater<>> heap;
        const auto rule = [&](std::int32_t l, std::int32_t r) -> const MergeRule* {
            const auto it =
                merges_.find(pair_key(sym[static_cast<std::size_t>(l)].id, sym[static_cast<std::size_t>(r)].id));
            return it == merges_.end() ? nullptr : &it->second;
        };
        for (std::int32_t i = 0; i + 1 < static_cast<std::int32_t>(word.size()); ++i)
            if (const auto* m = rule(i, i + 1)) heap.emplace(m->rank, i);
        while (!heap.empty()) {
            const auto [rank, i] = heap.top();
            heap.pop();
            Sym& s = sym[static_cast<std::size_t>(i)];
            if (!s.alive || s.next < 0) continue;
            const MergeRule* m = rule(i, s.next);
            if (!m || m->rank != rank) continue;
            Sym& r = sym[static_cast<std::size_t>(s.next)];
            s.id = m->result;
            r.alive = false;
            s.next = r.next;
            if (s.next >= 0) sym[static_cast<std::size_t>(s.next)].prev = i;
            if (s.prev >= 0)
                if (const auto* p = rule(s.prev, i)) heap.emplace(p->rank, s.prev);
            if (s.next >= 0)
                if (const auto* q = rule(i, s.next)) heap.emplace(q->rank, i);
        }
        for (std::int32_t i = 0; i >= 0 && !sym.empty(); i = sym[static_cast<std::size_t>(i)].next)
            ids.push_back(sym[static_cast<std::size_t>(i)].id);
    }
    out.insert(out.end(), ids.begin(), ids.end());
    if (cacheable) {
        const std::lock_guard lock(cache_mutex_);
        if (cache_.size() >= kMaxCacheEntries) cache_.clear();
        cache_.emplace(std::string(word), std::move(ids));
    }
}

void BpeTokenizer::encode_plain(std::string_view text, std::vector<std::int32_t>& out) const {
    if (text.empty()) return;
    std::string prefixed;
    if (add_prefix_space_ && text.front() != ' ') {
        prefixed = " " + std::string(text);
        text = prefixed;
    }
    std::vector<std::string_view> words;
    gpt2_pretokenize(text, words);
    for (const auto w : words) encode_word(w, out);
}

std::vector<std::int32_t> BpeTokenizer::encode(std::string_view text) const {
    std::vector<std::int32_t> out;
    out.reserve(text.size() / 3 + 1);
    const auto char_class = [&](std::size_t pos) {
        const auto d = unicode::decode_utf8(text, pos);
        return std::pair{unicode::classify(d.cp), d};
    };
    std::size_t seg = 0;  // start of the text not yet encoded
    for (std::size_t pos = 0; pos < text.size();) {
        const AddedToken* hit = nullptr;
        std::size_t from = pos, to = pos;
        for (const auto idx : added_by_byte_[static_cast<unsigned char>(text[pos])]) {
            const AddedToken& a = added_[idx];
            if (text.compare(pos, a.content.size(), a.content) != 0) continue;
            std::size_t s = pos, e = pos + a.content.size();
            if (a.single_word) {
                const bool before_ok = s == 0 || [&] {
                    const auto [c, d] = char_class(previous_char_start(text, s));
                    return !is_word_char(c, d.cp);
                }();
                const bool after_ok = e >= text.size() || [&] {
                    const auto [c, d] = char_class(e);
                    return !is_word_char(c, d.cp);
                }();
                if (!before_ok || !after_ok) continue;
            }
            if (a.lstrip)
                while (s > seg) {
                    const std::size_t p = previous_char_start(text, s);
                    if (char_class(p).first != CharClass::Whitespace) break;
                    s = p;
                }
            if (a.rstrip)
                while (e < text.size()) {
                    const auto [c, d] = char_class(e);
                    if (c != CharClass::Whitespace) break;
                    e += d.len;
                }
            hit = &a, from = s, to = e;
            break;
        }
        if (!hit) {
            ++pos;
            continue;
        }
        encode_plain(text.substr(seg, from - seg), out);
        out.push_back(hit->id);
        seg = pos = to;
    }
    encode_plain(text.substr(seg), out);
    return out;
}

std::string BpeTokenizer::decode(std::span<const std::int32_t> ids) const {
    std::string out;
    for (const std::int32_t id : ids) {
        if (id < 0 || id >= vocab_size() || id_kind_[static_cast<std::size_t>(id)] == 0)
            throw std::out_of_range("token id " + std::to_string(id) + " is not in the vocabulary of " +
                                    std::to_string(vocab_size()) + " ids");
        out += id_text_[static_cast<std::size_t>(id)];
    }
    return out;
}

}  // namespace tllm::eval
