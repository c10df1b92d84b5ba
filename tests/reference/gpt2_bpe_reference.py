#!/usr/bin/python3
"""Independent reference for GPT-2 byte-level BPE: the published algorithm of OpenAI's
gpt-2/src/encoder.py, written out plainly, with the pre-tokeniser as the `regex` module's
pattern (Debian python3-regex), not the project's hand-written matcher.

It writes the expected ids the C++ tests compare against (the suite itself never runs
Python):

    /usr/bin/python3 tests/reference/gpt2_bpe_reference.py cases
        -> tests/data/gpt2-bpe/cases.jsonl: {"text", "ids"} for every string of strings()
           with the real GPT-2 vocab.json + merges.txt (<|endoftext|> is special, as in
           transformers' GPT2Tokenizer).
    /usr/bin/python3 tests/reference/gpt2_bpe_reference.py small-hf
        -> tests/data/tokenizer/gpt2-small-hf/tokenizer.json: a small Hugging Face
           tokenizer.json made of GPT-2's byte tokens and its first SMALL_MERGES merges (the
           ids are GPT-2's own: merge i makes token 256 + i), plus <|endoftext|> (special)
           and [MASK] (not special, lstrip), and cases.jsonl: its ids for the same strings.

Differences from encoder.py, on purpose: special (added) tokens are cut out of the text
first, leftmost-longest, as the Hugging Face tokenizers do; encoder.py has none.
"""
import json
import os
import random
import sys
import unicodedata

import regex as re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPT2_DIR = os.path.join(ROOT, "data", "gpt2-bpe")
SMALL_DIR = os.path.join(ROOT, "data", "tokenizer", "gpt2-small-hf")
SMALL_MERGES = 3000

PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    """encoder.py's table: printable Latin-1 bytes map to themselves, the rest to 256+n."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def get_pairs(word):
    return {(word[i], word[i + 1]) for i in range(len(word) - 1)}


class Encoder:
    """encoder.py's Encoder, plus added tokens: {content: (id, lstrip)}."""

    def __init__(self, encoder, bpe_merges, added):
        self.encoder = encoder
        self.decoder = {v: k for k, v in encoder.items()}
        self.bpe_ranks = dict(zip(bpe_merges, range(len(bpe_merges))))
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        self.added = added
        self.cache = {}
        parts = []
        for content in sorted(added, key=len, reverse=True):
            lstrip = added[content][1]
            parts.append((r"\s*" if lstrip else "") + re.escape(content))
        self.added_pat = re.compile("|".join(parts)) if parts else None

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return token
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        word = " ".join(word)
        self.cache[token] = word
        return word

    def encode_plain(self, text):
        bpe_tokens = []
        for token in re.findall(PAT, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            bpe_tokens.extend(self.encoder[bpe_token] for bpe_token in self.bpe(token).split(" "))
        return bpe_tokens

    def encode(self, text):
        if self.added_pat is None:
            return self.encode_plain(text)
        out, pos = [], 0
        for m in self.added_pat.finditer(text):
            out += self.encode_plain(text[pos:m.start()])
            out.append(self.added[m.group(0).lstrip()][0])
            pos = m.end()
        return out + self.encode_plain(text[pos:])

    def decode(self, tokens):
        special = {i for i, _ in self.added.values()}
        text = "".join(self.decoder[t] for t in tokens if t not in special)
        return bytearray([self.byte_decoder[c] for c in text]).decode("utf-8", errors="replace")


def load_gpt2():
    with open(os.path.join(GPT2_DIR, "vocab.json"), encoding="utf-8") as f:
        encoder = json.load(f)
    with open(os.path.join(GPT2_DIR, "merges.txt"), encoding="utf-8") as f:
        bpe_data = f.read()
    merges = [tuple(s.split()) for s in bpe_data.split("\n")[1:-1]]
    return encoder, merges


def strings():
    """The test strings: hand-picked cases, then seeded random mixtures of the same pools."""
    base = [
        "", " ", "  ", "\n", "\t", " \n ", "a", "A", "0", "!", "'", "Hello world", "Hello, world!",
        "hello   world", "hello\tworld", "hello\n\nworld", "  leading spaces", "trailing spaces   ",
        "tabs\t\tand\tspaces \t mixed", "line one\nline two\r\nline three\r", "\n\n\n", " \t\n\r ",
        "I'm here", "you're", "we've", "they'll", "he'd", "it's", "don't", "can't", "won't",
        "'s", "'t'", "''", "I'M SHOUTING", "She said 'hello'", "rock'n'roll", "O'Neil's dog's bone",
        "y'all'd've", "'re're", "'lll", "' s", "‘curly’ quotes’s",
        "123", "1234567890", "3.14159", "1,000,000", "-42", "+7", "1e10", "0x1F", "v2.0.1",
        "2023-12-31", "12:30pm", "$100.00", "50%", "#1", "a1b2c3", "abc123def", "123abc",
        "Ⅻ roman", "½ half", "٣ arabic three", "१२३ devanagari", "²³ superscripts",
        "café", "naïve", "résumé", "Ångström", "Zürich", "façade", "e\u0301 combining",
        "A\u030a combining ring", "ß straße", "İstanbul", "ǅungla", "Ελληνικά γράμματα",
        "Русский текст", "Українська мова", "עברית", "العربية", "हिन्दी", "বাংলা", "ไทย",
        "日本語のテキスト", "中文文本测试", "한국어 텍스트", "漢字かなカナ", "ｆｕｌｌｗｉｄｔｈ",
        "emoji 😀", "😀😃😄", "👨‍👩‍👧‍👦 family", "🇫🇷 flag", "thumbs 👍🏽", "❤️ heart", "✓ check",
        "math ∑∫√∞ ≠ ≤", "arrows → ← ↑", "box ─│┌┐", "€£¥₹", "©®™", "«guillemets»",
        "non\u00a0breaking\u00a0space", "em\u2003space", "ideographic\u3000space", "zero\u200bwidth",
        "nel\u0085char", "line\u2028separator", "bom\ufeffchar", "soft\u00adhyphen",
        "<|endoftext|>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", " <|endoftext|> ",
        "<|endoftext", "endoftext|>", "<|endoftext|>The end.",
        "def f(x):\n    return x + 1\n", "if (a && b) { c(); }", "#include <stdio.h>",
        "https://example.com/path?q=1&r=2", "user@example.com", "C:\\Windows\\System32",
        "<html><body>Hi</body></html>", '{"key": "value", "n": 1}', "SELECT * FROM t;",
        "!!!", "???", "...", "---", "***", "...!?", "a.b.c", "(parenthesised)", "[brackets]",
        "mixed CASE Words", "ALLCAPS", "camelCaseWord", "snake_case_word", "kebab-case-word",
        "The quick brown fox jumps over the lazy dog.",
        "Once upon a time, there was a little dog named Max.",
        "In 1492, Columbus sailed the ocean blue.",
        "Supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", " " * 40, "ab" * 30, "\n" * 5 + "x",
        "x" + " " * 7 + "y", "end with space ", "end with newline\n", " a", "  a", "   a",
        "a ", "a  ", "a   b", "a \n b", "a\n b", "a \nb", "1 2  3   4", "word\u00a0word",
    ]
    pools = [
        ["the", "The", " and", "of", "cat", "dog", "runs", "quickly", "Hello", "world", "token",
         "café", "naïve", "Straße", "Москва", "東京", "서울", "مرحبا", "שלום", "नमस्ते"],
        ["0", "7", "42", "2024", "3.5", "1,234", "٤٥", "Ⅳ", "½"],
        [" ", "  ", "\t", "\n", "\r\n", " \n", "\u00a0", "\u3000", "   "],
        [".", ",", "!", "?", ";", ":", "-", "_", "'", "\"", "(", ")", "[", "]", "{", "}", "/",
         "\\", "@", "#", "$", "%", "^", "&", "*", "+", "=", "<", ">", "|", "~", "`"],
        ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'D"],
        ["😀", "🎉", "👍", "🇯🇵", "✨", "🤖", "∑", "→", "€", "©"],
    ]
    rng = random.Random(18)
    mixed = []
    for _ in range(260):
        parts = []
        for _ in range(rng.randint(2, 12)):
            parts.append(rng.choice(rng.choice(pools)))
        mixed.append("".join(parts))
    out, seen = [], set()
    for s in base + mixed:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def check_classes(text):
    """Every character's class must be the same in this Python's Unicode data and the
    regex module's (a character assigned in a newer Unicode would make the ids depend on
    the version; the C++ tables are Unicode 15.1)."""
    for ch in text:
        cat = unicodedata.category(ch)
        assert (re.match(r"\p{L}", ch) is not None) == cat.startswith("L"), (text, ch)
        assert (re.match(r"\p{N}", ch) is not None) == cat.startswith("N"), (text, ch)


def write_cases(path, enc, texts):
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            check_classes(t)
            ids = enc.encode(t)
            f.write(json.dumps({"text": t, "ids": ids}, ensure_ascii=False) + "\n")
    print(f"wrote {len(texts)} cases to {path}")


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "cases"
    encoder, merges = load_gpt2()
    texts = strings()
    if what == "cases":
        enc = Encoder(encoder, merges, {"<|endoftext|>": (encoder["<|endoftext|>"], False)})
        for t in texts:
            if "<|endoftext|>" not in t:
                assert enc.decode(enc.encode(t)) == t, t
        write_cases(os.path.join(GPT2_DIR, "cases.jsonl"), enc, texts)
    elif what == "small-hf":
        small_merges = merges[:SMALL_MERGES]
        inv = {v: k for k, v in encoder.items()}
        vocab = {inv[i]: i for i in range(256 + SMALL_MERGES)}
        for i, (a, b) in enumerate(small_merges):
            assert vocab[a + b] == 256 + i
        eot, mask = 256 + SMALL_MERGES, 256 + SMALL_MERGES + 1
        doc = {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [
                {"id": eot, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                 "rstrip": False, "normalized": True, "special": True},
                {"id": mask, "content": "[MASK]", "single_word": False, "lstrip": True,
                 "rstrip": False, "normalized": False, "special": False},
            ],
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                              "use_regex": True},
            "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                               "use_regex": True},
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                      "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": False, "vocab": vocab, "merges": [list(m) for m in small_merges]},
        }
        os.makedirs(SMALL_DIR, exist_ok=True)
        with open(os.path.join(SMALL_DIR, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
            f.write("\n")
        vocab_with_added = dict(vocab)
        vocab_with_added["<|endoftext|>"] = eot
        vocab_with_added["[MASK]"] = mask
        enc = Encoder(vocab_with_added, small_merges, {"<|endoftext|>": (eot, False), "[MASK]": (mask, True)})
        extra = ["[MASK]", "a [MASK] b", "a   [MASK]", "x\n[MASK]\n", "[MASK][MASK]", "<|endoftext|> [MASK]",
                 "the [MASK] sat on the [MASK].", "[MASK <MASK]"]
        write_cases(os.path.join(SMALL_DIR, "cases.jsonl"), enc, texts + extra)
    else:
        sys.exit(f"unknown command {what!r}: cases | small-hf")


if __name__ == "__main__":
    main()
