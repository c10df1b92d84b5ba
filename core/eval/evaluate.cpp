#include "eval/evaluate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/mapped_file.h"

namespace tllm::eval {
namespace {

// Standard error of a mean of 0/1 (or any) samples: sample standard deviation / sqrt(n),
// as lm-evaluation-harness's mean_stderr.
double mean_stderr(const std::vector<double>& x) {
    const std::size_t n = x.size();
    if (n < 2) return 0.0;
    double mean = 0;
    for (double v : x) mean += v;
    mean /= double(n);
    double ss = 0;
    for (double v : x) ss += (v - mean) * (v - mean);
    return std::sqrt(ss / double(n - 1) / double(n));
}

// Installs a Control on the transformer for one evaluation; removes it on any exit.
struct ControlScope {
    Transformer& t;
    ControlScope(Transformer& tr, const util::Control& c) : t(tr) { t.set_control(c); }
    ~ControlScope() { t.set_control({}); }
    ControlScope(const ControlScope&) = delete;
    ControlScope& operator=(const ControlScope&) = delete;
};

// Positions a sequence may use: the model's.
int model_positions(const Transformer& t) { return t.config().max_positions; }

// Scores continuations after a shared prefix through the key/value cache: the prefix runs
// once, then each continuation at the positions after it. loglik[c] is the sum of log p of
// continuation c's tokens; greedy[c] is whether every one of them is the argmax.
void score_continuations(Transformer& t, std::vector<std::int32_t> prefix,
                         const std::vector<std::vector<std::int32_t>>& conts, std::vector<double>& loglik,
                         std::vector<bool>& greedy) {
    std::size_t longest = 1;
    for (const auto& c : conts) longest = std::max(longest, c.size());
    const int positions = model_positions(t);
    if (int(longest) >= positions)
        throw std::runtime_error("a continuation of " + std::to_string(longest) + " tokens does not fit the model's " +
                                 std::to_string(positions) + " positions");
    // Left-truncate the prefix so that prefix + the longest continuation minus its last token fit.
    const std::size_t keep = std::size_t(positions) - (longest - 1);
    if (prefix.size() > keep) prefix.erase(prefix.begin(), prefix.end() - std::ptrdiff_t(keep));
    const int P = int(prefix.size());
    const int max_seq = P + int(longest) - 1;
    auto s = t.make_state(std::max(max_seq, 1), std::max(P, int(longest)));
    t.forward(s, prefix, 0);
    const int d = t.config().dim;
    const std::vector<float> last(s.x.begin() + std::ptrdiff_t(P - 1) * d, s.x.begin() + std::ptrdiff_t(P) * d);
    loglik.assign(conts.size(), 0.0);
    greedy.assign(conts.size(), true);
    std::vector<double> lp(longest);
    std::vector<std::int32_t> am(longest);
    for (std::size_t c = 0; c < conts.size(); ++c) {
        const auto& k = conts[c];
        t.score(s, last.data(), 1, std::span(k).first(1), lp.data(), am.data());
        double sum = lp[0];
        bool all = am[0] == k[0];
        if (k.size() > 1) {
            const int m = int(k.size()) - 1;
            t.forward(s, std::span(k).first(std::size_t(m)), P);
            t.score(s, s.x.data(), m, std::span(k).subspan(1), lp.data(), am.data());
            for (int i = 0; i < m; ++i) {
                sum += lp[std::size_t(i)];
                all = all && am[std::size_t(i)] == k[std::size_t(i) + 1];
            }
        }
        loglik[c] = sum;
        greedy[c] = all;
    }
}

// lm-evaluation-harness's split of a request into conditioning and continuation ids.
void encode_pair(const Tokenizer& tok, std::string context, std::string cont, std::vector<std::int32_t>& prefix,
                 std::vector<std::int32_t>& cont_ids, const std::string& where) {
    std::size_t spaces = 0;
    while (spaces < context.size() && context[context.size() - 1 - spaces] == ' ') ++spaces;
    if (spaces > 0) {
        cont = context.substr(context.size() - spaces) + cont;
        context.resize(context.size() - spaces);
    }
    const auto whole = tok.encode(context + cont);
    const auto ctx = tok.encode(context);
    if (whole.size() <= ctx.size())
        throw std::runtime_error(where + ": the continuation '" + cont + "' adds no tokens");
    cont_ids.assign(whole.begin() + std::ptrdiff_t(ctx.size()), whole.end());
    prefix.clear();
    if (tok.bos_id() >= 0) prefix.push_back(tok.bos_id());
    prefix.insert(prefix.end(), ctx.begin(), ctx.end());
    if (prefix.empty()) {
        if (tok.eos_id() < 0)
            throw std::runtime_error(where + ": empty context and the tokenizer has no BOS or end-of-text token");
        prefix.push_back(tok.eos_id());
    }
}

std::string read_text_file(const std::string& path) { return io::read_regular_file(path, kMaxEvalFileBytes); }

}  // namespace

std::vector<std::int32_t> token_byte_counts(const Tokenizer& tok, std::span<const std::int32_t> ids) {
    std::vector<std::int32_t> b(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i == 0) {
            b[i] = std::int32_t(tok.decode(ids.first(1)).size());
        } else {
            const auto two = tok.decode(ids.subspan(i - 1, 2)).size();
            const auto one = tok.decode(ids.subspan(i - 1, 1)).size();
            b[i] = std::int32_t(std::max<std::ptrdiff_t>(0, std::ptrdiff_t(two) - std::ptrdiff_t(one)));
        }
    }
    return b;
}

std::vector<PerplexityWindow> perplexity_windows(const Transformer& t, std::int64_t n_ids, const PerplexityOptions& opt,
                                                 const std::string& source, PerplexityResult& r) {
    const int positions = model_positions(t);
    r.ctx = opt.ctx > 0 ? opt.ctx : std::min(positions, 1024);
    r.stride = opt.stride > 0 ? opt.stride : r.ctx;
    if (opt.ctx < 0) throw std::runtime_error("ctx must be positive, got " + std::to_string(opt.ctx));
    if (r.ctx > positions)
        throw std::runtime_error("ctx " + std::to_string(r.ctx) + " is above the model's " + std::to_string(positions) +
                                 " positions");
    if (r.ctx < 2) throw std::runtime_error("ctx must be at least 2, got " + std::to_string(r.ctx));
    if (opt.stride < 0 || r.stride > r.ctx)
        throw std::runtime_error("stride must be in 1.." + std::to_string(r.ctx) + ", got " +
                                 std::to_string(opt.stride));
    if (opt.max_tokens < 0) throw std::runtime_error("max_tokens must not be negative");
    std::int64_t n = n_ids;
    if (opt.max_tokens > 0) n = std::min(n, opt.max_tokens);
    if (n < 2)
        throw std::runtime_error(source + ": the text has " + std::to_string(n) + " token(s); at least 2 are needed");
    r.n_tokens = n;
    // Window starts: 0, s, 2s, ... until a window reaches the end. Each scores the tokens
    // after the previous window's end, except its own first token.
    std::vector<PerplexityWindow> w;
    std::int64_t prev_end = 0;
    for (std::int64_t b = 0;; b += r.stride) {
        const std::int64_t e = std::min(b + r.ctx, n);
        w.push_back({b, e, std::max(prev_end, b + 1)});
        prev_end = e;
        if (b + r.ctx >= n) break;
    }
    return w;
}

double cluster_stderr(const std::vector<double>& x, const std::vector<std::int64_t>& n) {
    const std::size_t W = x.size();
    if (W < 2) return 0.0;
    double sx = 0;
    std::int64_t sn = 0;
    for (std::size_t w = 0; w < W; ++w) sx += x[w], sn += n[w];
    if (sn <= 0) return 0.0;
    const double mean = sx / double(sn);
    double ss = 0;
    for (std::size_t w = 0; w < W; ++w) {
        const double dev = x[w] - mean * double(n[w]);
        ss += dev * dev;
    }
    return std::sqrt(double(W) / double(W - 1) * ss) / double(sn);
}

void finish_perplexity(PerplexityResult& r) {
    r.mean_nll = r.sum_nll / double(r.n_scored);
    r.perplexity = std::exp(r.mean_nll);
    r.bits_per_byte = r.n_bytes > 0 ? r.sum_nll / (std::log(2.0) * double(r.n_bytes)) : 0.0;
    r.mean_nll_stderr = cluster_stderr(r.window_nll, r.window_scored);
}

PerplexityResult perplexity_ids(Transformer& t, std::span<const std::int32_t> ids,
                                std::span<const std::int32_t> token_bytes, const PerplexityOptions& opt,
                                const std::string& source, const util::Control& ctl) {
    if (!token_bytes.empty() && token_bytes.size() != ids.size())
        throw std::invalid_argument("perplexity_ids: token_bytes must have one entry per token");
    PerplexityResult r;
    const auto windows = perplexity_windows(t, std::int64_t(ids.size()), opt, source, r);
    auto s = t.make_state(r.ctx, r.ctx);
    const ControlScope scope(t, ctl);
    std::vector<std::int32_t> targets(std::size_t(r.ctx));
    std::vector<double> lp(std::size_t(r.ctx));
    for (std::size_t w = 0; w < windows.size(); ++w) {
        ctl.check();
        const auto [b, e, first] = windows[w];
        const int len = int(e - b);
        // Row i predicts token b+i+1.
        std::fill(targets.begin(), targets.end(), -1);
        for (std::int64_t tok = first; tok < e; ++tok) targets[std::size_t(tok - b - 1)] = ids[std::size_t(tok)];
        t.forward(s, ids.subspan(std::size_t(b), std::size_t(len)), 0);
        t.score(s, s.x.data(), len, std::span(targets).first(std::size_t(len)), lp.data());
        double sum = 0;
        for (std::int64_t tok = first; tok < e; ++tok) {
            sum -= lp[std::size_t(tok - b - 1)];
            r.n_bytes += token_bytes.empty() ? 1 : token_bytes[std::size_t(tok)];
        }
        r.window_nll.push_back(sum);
        r.window_scored.push_back(e - first);
        r.sum_nll += sum;
        r.n_scored += e - first;
        ctl.report(float(w + 1) / float(windows.size()));
    }
    finish_perplexity(r);
    return r;
}

PerplexityResult perplexity(Transformer& t, const Tokenizer& tok, std::string_view text, const PerplexityOptions& opt,
                            const std::string& source, const util::Control& ctl) {
    if (text.empty()) throw std::runtime_error(source + ": the text is empty");
    const auto ids = tok.encode_with_bos(text);
    const auto bytes = token_byte_counts(tok, ids);
    std::vector<std::int32_t> b = bytes;
    if (tok.bos_id() >= 0 && !b.empty()) b[0] = 0;
    return perplexity_ids(t, ids, b, opt, source, ctl);
}

std::vector<McItem> parse_mc_jsonl(std::string_view text, const std::string& source) {
    std::vector<McItem> items;
    int line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
        const std::string where = source + ":" + std::to_string(line_no);
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            throw std::runtime_error(where + ": not valid JSON (" + std::string(e.what()) + ")");
        }
        if (!j.is_object()) throw std::runtime_error(where + ": expected a JSON object");
        McItem it;
        it.line = line_no;
        const char* ctx_key = j.contains("context") ? "context" : j.contains("query") ? "query" : nullptr;
        if (!ctx_key || !j[ctx_key].is_string())
            throw std::runtime_error(where + ": missing string field \"context\" (or \"query\")");
        it.context = j[ctx_key].get<std::string>();
        if (!j.contains("choices") || !j["choices"].is_array())
            throw std::runtime_error(where + ": missing array field \"choices\"");
        for (const auto& c : j["choices"]) {
            if (!c.is_string()) throw std::runtime_error(where + ": \"choices\" must hold strings");
            if (c.get<std::string>().empty())
                throw std::runtime_error(where + ": choice " + std::to_string(it.choices.size()) + " is empty");
            it.choices.push_back(c.get<std::string>());
        }
        if (it.choices.size() < 2) throw std::runtime_error(where + ": \"choices\" needs at least two entries");
        const char* ans_key = j.contains("answer") ? "answer" : j.contains("gold") ? "gold" : nullptr;
        if (!ans_key || !j[ans_key].is_number_integer())
            throw std::runtime_error(where + ": missing integer field \"answer\" (or \"gold\")");
        const long long a = j[ans_key].get<long long>();
        if (a < 0 || a >= (long long)it.choices.size())
            throw std::runtime_error(where + ": answer " + std::to_string(a) + " is out of range (" +
                                     std::to_string(it.choices.size()) + " choices)");
        it.answer = int(a);
        items.push_back(std::move(it));
    }
    if (items.empty()) throw std::runtime_error(source + ": no items");
    return items;
}

std::vector<McItem> read_mc_jsonl(const std::string& path) { return parse_mc_jsonl(read_text_file(path), path); }

McResult multiple_choice(Transformer& t, const Tokenizer& tok, const std::vector<McItem>& items,
                         const std::string& source, const util::Control& ctl) {
    McResult r;
    std::vector<double> hit, hit_norm;
    const ControlScope scope(t, ctl);
    for (std::size_t i = 0; i < items.size(); ++i) {
        ctl.check();
        const McItem& it = items[i];
        const std::string where = source + ":" + std::to_string(it.line);
        std::vector<std::int32_t> prefix;
        std::vector<std::vector<std::int32_t>> conts(it.choices.size());
        for (std::size_t c = 0; c < it.choices.size(); ++c)
            encode_pair(tok, it.context, it.choices[c], prefix, conts[c], where);
        McItemResult ir;
        std::vector<bool> greedy;
        score_continuations(t, prefix, conts, ir.loglik, greedy);
        ir.answer = it.answer;
        for (std::size_t c = 0; c < it.choices.size(); ++c) {
            ir.bytes.push_back(std::int64_t(it.choices[c].size()));
            ir.n_tokens.push_back(int(conts[c].size()));
            if (ir.loglik[c] > ir.loglik[std::size_t(ir.pick)]) ir.pick = int(c);
            if (ir.loglik[c] / double(ir.bytes[c]) >
                ir.loglik[std::size_t(ir.pick_norm)] / double(ir.bytes[std::size_t(ir.pick_norm)]))
                ir.pick_norm = int(c);
        }
        hit.push_back(ir.pick == ir.answer ? 1.0 : 0.0);
        hit_norm.push_back(ir.pick_norm == ir.answer ? 1.0 : 0.0);
        r.items.push_back(std::move(ir));
        ctl.report(float(i + 1) / float(items.size()));
    }
    for (double v : hit) r.acc += v;
    for (double v : hit_norm) r.acc_norm += v;
    r.acc /= double(hit.size());
    r.acc_norm /= double(hit.size());
    r.acc_stderr = mean_stderr(hit);
    r.acc_norm_stderr = mean_stderr(hit_norm);
    return r;
}

LastWordResult last_word(Transformer& t, const Tokenizer& tok, std::string_view text, const std::string& source,
                         const util::Control& ctl) {
    struct Line {
        std::string context, target;
        int no;
    };
    std::vector<Line> lines;
    int no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string line(text.substr(pos, end - pos));
        pos = end + 1;
        ++no;
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        const auto sp = line.rfind(' ');
        if (sp == std::string::npos || line.find_first_not_of(' ') >= sp)
            throw std::runtime_error(source + ":" + std::to_string(no) + ": no text before the last word");
        lines.push_back({line.substr(0, sp), line.substr(sp), no});
    }
    if (lines.empty()) throw std::runtime_error(source + ": the text has no lines");
    LastWordResult r;
    std::vector<double> hit;
    double ll = 0;
    const ControlScope scope(t, ctl);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        ctl.check();
        const std::string where = source + ":" + std::to_string(lines[i].no);
        std::vector<std::int32_t> prefix;
        std::vector<std::vector<std::int32_t>> conts(1);
        encode_pair(tok, lines[i].context, lines[i].target, prefix, conts[0], where);
        std::vector<double> lik;
        std::vector<bool> greedy;
        score_continuations(t, prefix, conts, lik, greedy);
        hit.push_back(greedy[0] ? 1.0 : 0.0);
        ll += lik[0];
        ctl.report(float(i + 1) / float(lines.size()));
    }
    r.n_items = int(hit.size());
    for (double v : hit) r.acc += v;
    r.acc /= double(hit.size());
    r.acc_stderr = mean_stderr(hit);
    r.mean_loglik = ll / double(hit.size());
    r.perplexity = std::exp(-r.mean_loglik);
    return r;
}

std::vector<std::int32_t> generate_greedy(Transformer& t, std::span<const std::int32_t> prompt, int n,
                                          std::int32_t stop_id, const util::Control& ctl,
                                          const std::function<void(std::int32_t)>& on_token) {
    const int positions = model_positions(t);
    const int P = int(prompt.size());
    if (P == 0) throw std::runtime_error("the prompt is empty (no tokens)");
    if (P >= positions)
        throw std::runtime_error("the prompt has " + std::to_string(P) + " tokens; the model has " +
                                 std::to_string(positions) + " positions");
    if (n < 0) throw std::runtime_error("the number of tokens to generate must not be negative");
    std::vector<std::int32_t> out;
    if (n == 0) return out;
    // The last generated id is never fed back, so P + n - 1 positions suffice.
    const int max_seq = std::min(positions, P + n - 1);
    auto s = t.make_state(std::max(max_seq, P), P);
    const ControlScope scope(t, ctl);
    t.forward(s, prompt, 0);
    const std::int32_t none = -1;
    double lp = 0;
    std::int32_t next = 0;
    t.score(s, s.x.data() + std::size_t(P - 1) * t.config().dim, 1, std::span(&none, 1), &lp, &next);
    int pos = P;
    while (true) {
        ctl.check();
        out.push_back(next);
        if (on_token) on_token(next);
        ctl.report(float(out.size()) / float(n));
        if (int(out.size()) >= n || next == stop_id || pos >= s.max_seq) break;
        t.forward(s, std::span(&next, 1), pos);
        ++pos;
        t.score(s, s.x.data(), 1, std::span(&none, 1), &lp, &next);
    }
    return out;
}

}  // namespace tllm::eval
