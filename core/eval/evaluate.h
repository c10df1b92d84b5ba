#pragma once
// Evaluations of a causal language model (docs/evaluation.md): perplexity of a text with
// sliding windows, multiple-choice accuracy (acc and acc_norm, as lm-evaluation-harness
// defines them), last-word accuracy (LAMBADA style) and greedy generation. Each takes a
// util::Control for progress and cancel (throws util::Cancelled) and reports bad input as
// std::runtime_error naming the file (and line).

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eval/forward.h"
#include "eval/tokenizer.h"
#include "util/control.h"

namespace tllm::eval {

/// Largest evaluation text or task file read (a larger one is an error naming the file).
inline constexpr std::uint64_t kMaxEvalFileBytes = 4ull << 30;

/// Sliding-window layout of a perplexity evaluation.
struct PerplexityOptions {
    int ctx = 0;                  ///< window length in tokens; 0: the model's positions, at most 1024
    int stride = 0;               ///< distance between window starts; 0: ctx
    std::int64_t max_tokens = 0;  ///< score only the first N tokens of the text (0: all)
};

/// Result of a perplexity evaluation.
struct PerplexityResult {
    int ctx = 0, stride = 0;
    std::int64_t n_tokens = 0;                ///< tokens of the text evaluated (after max_tokens)
    std::int64_t n_scored = 0;                ///< tokens whose log-probability was summed
    std::int64_t n_bytes = 0;                 ///< UTF-8 bytes of the scored tokens
    double sum_nll = 0;                       ///< nats
    double mean_nll = 0;                      ///< nats per scored token
    double perplexity = 0;                    ///< exp(mean_nll)
    double bits_per_byte = 0;                 ///< sum_nll / (ln 2 * n_bytes)
    double mean_nll_stderr = 0;               ///< standard error of mean_nll with windows as the sampling unit
    std::vector<double> window_nll;           ///< per window: sum of its scored tokens' NLL
    std::vector<std::int64_t> window_scored;  ///< per window: tokens it scored
    int n_windows() const { return int(window_nll.size()); }
};

/// One window of a perplexity evaluation: tokens [begin, end) run together; tokens
/// [first_scored, end) are scored (each predicted from the window's tokens before it).
struct PerplexityWindow {
    std::int64_t begin = 0, end = 0, first_scored = 0;
};
/// The windows of a text of `n_ids` tokens, with ctx / stride / max_tokens resolved into
/// `r` (ctx, stride, n_tokens). Throws std::runtime_error as perplexity_ids() does.
std::vector<PerplexityWindow> perplexity_windows(const Transformer& t, std::int64_t n_ids, const PerplexityOptions& opt,
                                                 const std::string& source, PerplexityResult& r);
/// Fills mean_nll, perplexity, bits_per_byte and mean_nll_stderr of `r` from its sums and
/// per-window vectors.
void finish_perplexity(PerplexityResult& r);
/// Standard error of sum(x_w) / sum(n_w) with windows as clusters (ratio estimator):
/// sqrt(W / (W - 1) * sum_w (x_w - mean * n_w)^2) / sum(n_w); 0 for fewer than two windows.
double cluster_stderr(const std::vector<double>& x, const std::vector<std::int64_t>& n);

/// Perplexity of the token sequence `ids` by the window rule of docs/evaluation.md (the
/// Hugging Face "perplexity of fixed-length models" loop): windows begin at 0, s, 2s, ...,
/// hold at most ctx tokens, the last ends at the last token; each window scores the tokens
/// after the previous window's end except its own first token. `token_bytes[i]` is the byte
/// count of token i (empty: one byte per token). `source` names the input in errors.
/// Throws std::runtime_error: fewer than 2 tokens, ctx above the model's positions,
/// stride outside 1..ctx.
PerplexityResult perplexity_ids(Transformer& t, std::span<const std::int32_t> ids,
                                std::span<const std::int32_t> token_bytes, const PerplexityOptions& opt,
                                const std::string& source, const util::Control& ctl = {});
/// Perplexity of `text` tokenised by `tok` (with its BOS rule; BOS counts as a token of
/// zero bytes). Throws std::runtime_error naming `source` for an empty text.
PerplexityResult perplexity(Transformer& t, const Tokenizer& tok, std::string_view text, const PerplexityOptions& opt,
                            const std::string& source, const util::Control& ctl = {});

/// Byte count of each token of `ids` as decoded in sequence by `tok`: |decode(ids[i-1..i])|
/// - |decode(ids[i-1])| (so a SentencePiece word piece counts its leading space).
std::vector<std::int32_t> token_byte_counts(const Tokenizer& tok, std::span<const std::int32_t> ids);

/// One multiple-choice item.
struct McItem {
    std::string context;
    std::vector<std::string> choices;
    int answer = 0;  ///< index of the correct choice
    int line = 0;    ///< 1-based line in the source file
};

/// Reads JSONL items {"context"|"query": str, "choices": [str, ...], "answer"|"gold": int}
/// (blank lines skipped). Throws std::runtime_error "FILE:LINE: ..." for a line that does
/// not parse, lacks or mistypes a field, has fewer than two choices, an empty choice, or an
/// answer out of range; and for a file without items.
std::vector<McItem> read_mc_jsonl(const std::string& path);
/// Same from text already read (`source` names it in errors).
std::vector<McItem> parse_mc_jsonl(std::string_view text, const std::string& source);

/// Scores of one multiple-choice item.
struct McItemResult {
    std::vector<double> loglik;       ///< sum of log p of each choice's tokens given the context
    std::vector<std::int64_t> bytes;  ///< UTF-8 bytes of each choice
    std::vector<int> n_tokens;        ///< tokens of each choice
    int pick = 0;                     ///< argmax loglik (lowest index on ties)
    int pick_norm = 0;                ///< argmax loglik / bytes
    int answer = 0;
};

/// Result of a multiple-choice evaluation.
struct McResult {
    double acc = 0, acc_stderr = 0;            ///< fraction with pick == answer, its standard error
    double acc_norm = 0, acc_norm_stderr = 0;  ///< same with pick_norm
    std::vector<McItemResult> items;
};

/// Log-likelihood of each choice given BOS + context, lm-evaluation-harness style: trailing
/// spaces of the context move to the choice; the choice's tokens are those that
/// encode(context + choice) has after the length of encode(context); an empty context
/// becomes the end-of-text token. The context is left-truncated to fit the model's positions.
McResult multiple_choice(Transformer& t, const Tokenizer& tok, const std::vector<McItem>& items,
                         const std::string& source, const util::Control& ctl = {});

/// Result of a last-word evaluation.
struct LastWordResult {
    int n_items = 0;
    double acc = 0, acc_stderr = 0;  ///< fraction of lines whose last word is the greedy prediction
    double mean_loglik = 0;          ///< mean over lines of log p(last word | text before it)
    double perplexity = 0;           ///< exp(-mean_loglik)
};

/// LAMBADA-style accuracy: for each non-blank line (trailing whitespace removed), the text
/// after its last space (with that space) is the target; the line counts as correct when
/// every target token is the argmax given the tokens before it. Throws std::runtime_error
/// "SOURCE:LINE: ..." for a line without a space, and for a text without lines.
LastWordResult last_word(Transformer& t, const Tokenizer& tok, std::string_view text, const std::string& source,
                         const util::Control& ctl = {});

/// Greedy generation with the key/value cache: up to `n` ids after `prompt` (argmax, lowest
/// id on ties), stopping after `stop_id` (when >= 0) or at the model's last position.
/// `on_token` sees each id as it is produced. Throws std::runtime_error for an empty prompt
/// or one that fills the model's positions.
std::vector<std::int32_t> generate_greedy(Transformer& t, std::span<const std::int32_t> prompt, int n,
                                          std::int32_t stop_id, const util::Control& ctl = {},
                                          const std::function<void(std::int32_t)>& on_token = {});

}  // namespace tllm::eval
