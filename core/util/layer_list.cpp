#include "util/layer_list.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>

namespace tllm::util {
namespace {
int parse_index(const std::string& s, const std::string& part) {
    try {
        std::size_t pos = 0;
        const long v = std::stol(s, &pos);
        if (pos != s.size() || v < 0 || v > kMaxLayerIndex) throw std::invalid_argument("");
        return static_cast<int>(v);
    } catch (const std::exception&) {
        throw std::invalid_argument("layers: '" + part + "' is not a layer index or range low-high");
    }
}
}  // namespace

std::vector<int> parse_layer_list(const std::string& text) {
    if (text.empty() || text == "all") return {};
    std::set<int> out;
    std::istringstream in(text);
    std::string part;
    while (std::getline(in, part, ',')) {
        part.erase(std::remove(part.begin(), part.end(), ' '), part.end());
        if (part.empty()) throw std::invalid_argument("layers: empty entry in '" + text + "'");
        const auto dash = part.find('-', 1);
        if (dash == std::string::npos) {
            out.insert(parse_index(part, part));
        } else {
            const int a = parse_index(part.substr(0, dash), part), b = parse_index(part.substr(dash + 1), part);
            if (b < a) throw std::invalid_argument("layers: '" + part + "' is not a range low-high");
            for (int l = a; l <= b; ++l) out.insert(l);
        }
    }
    return {out.begin(), out.end()};
}

std::string format_layer_list(const std::vector<int>& layers) {
    std::vector<int> v = layers;
    std::sort(v.begin(), v.end());
    std::string s;
    for (std::size_t i = 0; i < v.size();) {
        std::size_t j = i;
        while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
        if (!s.empty()) s += ',';
        s += std::to_string(v[i]);
        if (j > i) s += '-' + std::to_string(v[j]);
        i = j + 1;
    }
    return s;
}

}  // namespace tllm::util
