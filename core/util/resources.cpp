#include "util/resources.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace fs = std::filesystem;

#ifndef TENSORLLM_SOURCE_RESOURCES
#define TENSORLLM_SOURCE_RESOURCES ""
#endif

namespace tllm::util {

std::string resource_dir() {
    std::vector<fs::path> tried;
    if (const char* env = std::getenv("TENSORLLM_RESOURCES"); env && *env) tried.emplace_back(env);
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) tried.push_back(exe.parent_path().parent_path() / "share" / "tensorllm-studio");
    tried.emplace_back(TENSORLLM_SOURCE_RESOURCES);
    std::string list;
    for (const auto& p : tried) {
        if (!p.empty() && fs::is_directory(p / "models")) return p.string();
        list += (list.empty() ? "" : ", ") + p.string();
    }
    throw std::runtime_error("bundled resources not found (tried: " + list + "); set TENSORLLM_RESOURCES");
}

std::string default_model_dir() {
    const fs::path root = fs::path(resource_dir()) / "models";
    for (const char* name : {"demo-gpt2", "tiny-gpt2"})
        if (fs::is_directory(root / name)) return (root / name).string();
    throw std::runtime_error("no bundled model in " + root.string());
}

std::string default_eval_text() {
    const fs::path p = fs::path(resource_dir()) / "eval" / "kjv-validation-64k.txt";
    if (!fs::is_regular_file(p)) throw std::runtime_error("no bundled evaluation text: " + p.string() + " is missing");
    return p.string();
}

std::string format_bytes(std::uint64_t b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(b);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    if (u == 0)
        std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
    else
        std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    return buf;
}

}  // namespace tllm::util
