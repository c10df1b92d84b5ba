#include "model/architecture.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>

#include "io/model_config.h"

namespace tllm::model {

extern const char* const kBuiltinArchitecturesJson;  // generated from resources/architectures.json

namespace {

constexpr const char* kFormatDoc = "docs/architectures.md";

WeightLayout parse_layout(const nlohmann::json& v, const std::string& where) {
    if (!v.is_string()) throw std::runtime_error(where + ": must be \"linear\" or \"conv1d\", got " + v.dump());
    const auto s = v.get<std::string>();
    if (s == "linear") return WeightLayout::Linear;
    if (s == "conv1d") return WeightLayout::Conv1D;
    throw std::runtime_error(where + ": must be \"linear\" or \"conv1d\", got \"" + s + "\"");
}

TensorPattern parse_pattern(const nlohmann::json& a, const char* key, WeightLayout def, const std::string& where) {
    TensorPattern p;
    auto it = a.find(key);
    if (it == a.end()) return p;
    const std::string w = where + "." + key;
    if (it->is_string()) {
        p.pattern = it->get<std::string>();
        p.layout = def;
    } else if (it->is_object()) {
        auto t = it->find("tensor");
        if (t == it->end() || !t->is_string()) throw std::runtime_error(w + ".tensor: missing or not a string");
        p.pattern = t->get<std::string>();
        auto wl = it->find("weight");
        p.layout = wl == it->end() ? def : parse_layout(*wl, w + ".weight");
    } else {
        throw std::runtime_error(w + ": must be a pattern string or {\"tensor\": ..., \"weight\": ...}");
    }
    try {
        PatternMatcher m(p.pattern);
    } catch (const std::exception& e) {
        throw std::runtime_error(w + ": " + e.what());
    }
    return p;
}

}  // namespace

PatternMatcher::PatternMatcher(const std::string& pattern) {
    std::string p = pattern;
    const std::string prefix_tok = "{prefix}";
    if (p.rfind(prefix_tok, 0) == 0) {
        has_prefix_ = true;
        p = p.substr(prefix_tok.size());
    }
    if (p.find(prefix_tok) != std::string::npos)
        throw std::runtime_error("pattern '" + pattern + "': {prefix} may only stand at the start");
    const auto pos = p.find("{L}");
    if (pos == std::string::npos) throw std::runtime_error("pattern '" + pattern + "' has no {L} placeholder");
    if (p.find("{L}", pos + 3) != std::string::npos)
        throw std::runtime_error("pattern '" + pattern + "' has more than one {L}");
    before_ = p.substr(0, pos);
    after_ = p.substr(pos + 3);
    if (after_.empty() || std::isdigit(static_cast<unsigned char>(after_.front())))
        throw std::runtime_error("pattern '" + pattern + "': {L} must be followed by a non-digit");
    // A digit before {L} would be read as part of the layer number, so the pattern could
    // never match the names it expands to.
    if (!before_.empty() && std::isdigit(static_cast<unsigned char>(before_.back())))
        throw std::runtime_error("pattern '" + pattern + "': {L} must be preceded by a non-digit");
}

std::optional<PatternMatcher::Match> PatternMatcher::match(const std::string& name) const {
    if (name.size() < before_.size() + after_.size() + 1) return std::nullopt;
    if (name.compare(name.size() - after_.size(), after_.size(), after_) != 0) return std::nullopt;
    std::size_t end = name.size() - after_.size();
    std::size_t start = end;
    while (start > 0 && std::isdigit(static_cast<unsigned char>(name[start - 1]))) --start;
    if (start == end || end - start > 9) return std::nullopt;
    if (start < before_.size() || name.compare(start - before_.size(), before_.size(), before_) != 0)
        return std::nullopt;
    std::string prefix = name.substr(0, start - before_.size());
    if (!prefix.empty() && (!has_prefix_ || prefix.back() != '.')) return std::nullopt;
    return Match{std::stoi(name.substr(start, end - start)), std::move(prefix)};
}

std::string PatternMatcher::expand(int layer, const std::string& prefix) const {
    return (has_prefix_ ? prefix : std::string()) + before_ + std::to_string(layer) + after_;
}

std::vector<ArchitectureSpec> parse_architectures(const nlohmann::json& j, const std::string& source) {
    if (!j.is_object()) throw std::runtime_error(source + ": not a JSON object");
    auto fmt = j.find("format");
    if (fmt == j.end() || *fmt != "tensorllm-architectures/1")
        throw std::runtime_error(source + ": field 'format' must be \"tensorllm-architectures/1\" (see " + kFormatDoc +
                                 ")");
    auto arr = j.find("architectures");
    if (arr == j.end() || !arr->is_array())
        throw std::runtime_error(source + ": field 'architectures' must be an array");
    std::vector<ArchitectureSpec> out;
    std::set<std::string> names;
    for (std::size_t i = 0; i < arr->size(); ++i) {
        const auto& a = (*arr)[i];
        std::string where = source + ": architectures[" + std::to_string(i) + "]";
        if (!a.is_object()) throw std::runtime_error(where + ": not an object");
        ArchitectureSpec s;
        s.source = source;
        auto nm = a.find("name");
        if (nm == a.end() || !nm->is_string() || nm->get<std::string>().empty())
            throw std::runtime_error(where + ".name: missing or not a non-empty string");
        s.name = nm->get<std::string>();
        where += " ('" + s.name + "')";
        if (!names.insert(s.name).second) throw std::runtime_error(where + ": duplicate name");
        if (auto d = a.find("description"); d != a.end() && d->is_string()) s.description = d->get<std::string>();
        auto mts = a.find("model_types");
        if (mts == a.end() || !mts->is_array() || mts->empty())
            throw std::runtime_error(where + ".model_types: must be a non-empty array of strings");
        for (const auto& m : *mts) {
            if (!m.is_string())
                throw std::runtime_error(where + ".model_types: entry " + m.dump() + " is not a string");
            s.model_types.push_back(m.get<std::string>());
        }
        WeightLayout def = WeightLayout::Linear;
        if (auto w = a.find("weight"); w != a.end()) def = parse_layout(*w, where + ".weight");
        s.q = parse_pattern(a, "q", def, where);
        s.k = parse_pattern(a, "k", def, where);
        s.v = parse_pattern(a, "v", def, where);
        s.qkv = parse_pattern(a, "qkv", def, where);
        s.o = parse_pattern(a, "o", def, where);
        if (s.o.empty()) throw std::runtime_error(where + ".o: missing (the output projection pattern)");
        const bool separate = !s.q.empty() || !s.k.empty() || !s.v.empty();
        if (separate && !s.qkv.empty()) throw std::runtime_error(where + ": give either q, k and v or qkv, not both");
        if (separate) {
            if (s.q.empty() || s.k.empty() || s.v.empty())
                throw std::runtime_error(where + ": q, k and v must all be given");
            s.qkv_order = QkvOrder::Separate;
        } else {
            if (s.qkv.empty()) throw std::runtime_error(where + ": neither q/k/v nor qkv is given");
            auto ord = a.find("qkv_order");
            if (ord == a.end() || !ord->is_string())
                throw std::runtime_error(where + ".qkv_order: required with qkv: \"blocks\" or \"head_interleaved\"");
            const auto o = ord->get<std::string>();
            if (o == "blocks")
                s.qkv_order = QkvOrder::Blocks;
            else if (o == "head_interleaved")
                s.qkv_order = QkvOrder::HeadInterleaved;
            else
                throw std::runtime_error(where + ".qkv_order: must be \"blocks\" or \"head_interleaved\", got \"" + o +
                                         "\"");
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<ArchitectureSpec> read_architectures(const std::string& path) {
    return parse_architectures(io::read_json_file(path, 4ull << 20), path);
}

const std::vector<ArchitectureSpec>& builtin_architectures() {
    static const std::vector<ArchitectureSpec> specs =
        parse_architectures(nlohmann::json::parse(kBuiltinArchitecturesJson), "built-in");
    return specs;
}

const ArchitectureSpec& find_architecture(const std::string& model_type, const std::vector<ArchitectureSpec>& extra) {
    for (const auto* list : {&extra, &builtin_architectures()})
        for (const auto& s : *list)
            if (std::find(s.model_types.begin(), s.model_types.end(), model_type) != s.model_types.end()) return s;
    std::string names;
    for (const auto& m : supported_model_types(extra)) names += (names.empty() ? "" : ", ") + m;
    throw std::runtime_error("unsupported model_type '" + model_type + "'; supported: " + names +
                             ". Describe a new architecture in a JSON file (format: " + kFormatDoc +
                             ") and pass it with --arch FILE");
}

std::vector<std::string> supported_model_types(const std::vector<ArchitectureSpec>& extra) {
    std::set<std::string> all;
    for (const auto* list : {&extra, &builtin_architectures()})
        for (const auto& s : *list) all.insert(s.model_types.begin(), s.model_types.end());
    return {all.begin(), all.end()};
}

}  // namespace tllm::model
