#pragma once
// Minimal command-line parsing for the tensorllm subcommands: "--name value", "--name=value"
// and flags, with errors that name the option and the value.

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace tllm::cli {

class Args {
public:
    /// `flags` take no value; `options` take one. Anything else starting with "--" is an error.
    Args(const std::vector<std::string>& argv, const std::set<std::string>& flags,
         const std::set<std::string>& options) {
        for (std::size_t i = 0; i < argv.size(); ++i) {
            const std::string& a = argv[i];
            if (a.size() > 2 && a.rfind("--", 0) == 0) {
                std::string name = a.substr(2), value;
                bool has_value = false;
                if (auto eq = name.find('='); eq != std::string::npos) {
                    value = name.substr(eq + 1);
                    name = name.substr(0, eq);
                    has_value = true;
                }
                if (flags.count(name)) {
                    if (has_value) throw std::invalid_argument("option --" + name + " takes no value");
                    flags_.insert(name);
                } else if (options.count(name)) {
                    if (!has_value) {
                        if (i + 1 >= argv.size()) throw std::invalid_argument("option --" + name + " needs a value");
                        value = argv[++i];
                    }
                    values_[name] = value;
                } else {
                    throw std::invalid_argument("unknown option --" + name + " (see --help)");
                }
            } else if (a == "-h") {
                flags_.insert("help");
            } else {
                positional_.push_back(a);
            }
        }
    }
    bool flag(const std::string& n) const { return flags_.count(n) > 0; }
    std::optional<std::string> value(const std::string& n) const {
        auto it = values_.find(n);
        if (it == values_.end()) return std::nullopt;
        return it->second;
    }
    int int_value(const std::string& n, int fallback) const {
        auto v = value(n);
        if (!v) return fallback;
        try {
            std::size_t pos = 0;
            long x = std::stol(*v, &pos);
            if (pos != v->size() || x < -(1l << 30) || x > (1l << 30)) throw std::invalid_argument("");
            return static_cast<int>(x);
        } catch (const std::exception&) {
            throw std::invalid_argument("--" + n + ": expected an integer, got '" + *v + "'");
        }
    }
    double double_value(const std::string& n, double fallback) const {
        auto v = value(n);
        if (!v) return fallback;
        try {
            std::size_t pos = 0;
            double x = std::stod(*v, &pos);
            if (pos != v->size()) throw std::invalid_argument("");
            return x;
        } catch (const std::exception&) {
            throw std::invalid_argument("--" + n + ": expected a number, got '" + *v + "'");
        }
    }
    const std::vector<std::string>& positional() const { return positional_; }

private:
    std::set<std::string> flags_;
    std::map<std::string, std::string> values_;
    std::vector<std::string> positional_;
};

}  // namespace tllm::cli
