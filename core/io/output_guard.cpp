#include "io/output_guard.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"

namespace fs = std::filesystem;

namespace tllm::io {
namespace {

std::string real_path(const std::string& p) {
    char buf[PATH_MAX];
    if (::realpath(p.c_str(), buf)) return buf;
    return {};
}

// Real path of `p` where it may not exist yet: the real path of its nearest existing
// ancestor, followed by the remaining components ("a/b/../c" resolved lexically first).
std::string real_path_of_output(const std::string& p) {
    fs::path abs = fs::absolute(fs::path(p)).lexically_normal();
    std::string tail;
    fs::path cur = abs;
    while (!cur.empty()) {
        const std::string r = real_path(cur.string());
        if (!r.empty()) {
            fs::path out = fs::path(r);
            if (!tail.empty()) out /= tail;
            return out.lexically_normal().string();
        }
        if (cur == cur.root_path()) break;
        tail = tail.empty() ? cur.filename().string() : (cur.filename() / tail).string();
        cur = cur.parent_path();
    }
    return abs.string();
}

std::string strip_slashes(std::string s) {
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
}

// True when `inner` is `outer` or lies below it (both real, normalised paths).
bool is_within(const std::string& inner, const std::string& outer) {
    if (outer.empty() || inner.empty()) return false;
    if (inner == outer) return true;
    const std::string o = outer == "/" ? outer : outer + "/";
    return inner.compare(0, o.size(), o) == 0;
}

bool loader_reads_name(const std::string& name) {
    auto ends = [&](const char* suf) {
        const std::size_t n = std::strlen(suf);
        return name.size() >= n && name.compare(name.size() - n, n, suf) == 0;
    };
    return ends(".safetensors") || ends(".json") || ends(".gguf") || ends(".model") || name == "merges.txt" ||
           name.rfind("tokenizer", 0) == 0;
}

[[noreturn]] void refuse(const std::string& option, const std::string& out, const std::string& why) {
    throw UnsafeOutput(option + " " + out + ": " + why);
}

bool process_alive(long pid) {
    if (pid <= 0 || pid > INT_MAX) return false;
    if (::kill(static_cast<pid_t>(pid), 0) == 0) return true;
    return errno == EPERM;
}

std::string lock_path_for(const std::string& output) {
    const fs::path p = fs::path(strip_slashes(output));
    fs::path parent = p.parent_path();
    if (parent.empty()) parent = ".";
    return (parent / ("." + p.filename().string() + ".tensorllm-lock")).string();
}

}  // namespace

void SourceSet::add_file(const std::string& path) {
    Entry e;
    e.path = path;
    e.real = real_path(path);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        e.dev = st.st_dev;
        e.ino = st.st_ino;
        e.have_id = true;
        e.is_dir = S_ISDIR(st.st_mode);
    }
    entries_.push_back(std::move(e));
}

void SourceSet::add_directory(const std::string& dir) {
    add_file(dir);
    entries_.back().is_dir = true;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code ec2;
        if (it->is_regular_file(ec2)) add_file(it->path().string());
    }
}

void check_output_file(const SourceSet& src, const std::string& option, const std::string& path) {
    if (path.empty()) throw UnsafeOutput(option + ": empty path");
    const std::string real = real_path_of_output(path);
    struct stat st {};
    const bool exists = ::stat(path.c_str(), &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) refuse(option, path, "is a directory, not a file name");
    if (exists && !S_ISREG(st.st_mode)) refuse(option, path, "exists and is not a regular file");
    const std::string parent_real = fs::path(real).parent_path().string();
    const std::string name = fs::path(real).filename().string();
    for (const auto& e : src.entries()) {
        const bool same_id = exists && e.have_id && e.dev == st.st_dev && e.ino == st.st_ino;
        if (!e.is_dir && (same_id || (!e.real.empty() && e.real == real)))
            refuse(option, path, "is " + e.path + ", a file this run reads; choose another output");
    }
    for (const auto& e : src.entries()) {
        if (e.is_dir && !e.real.empty() && e.real == parent_real && loader_reads_name(name))
            refuse(option, path,
                   "would add a file the checkpoint loader reads to the source directory " + e.path +
                       "; choose another name or directory");
    }
}

void check_output_dir(const SourceSet& src, const std::string& option, const std::string& dir_in,
                      const std::string& kind, bool replace_same_kind) {
    if (dir_in.empty()) throw UnsafeOutput(option + ": empty path");
    const std::string dir = strip_slashes(dir_in);
    const std::string real = real_path_of_output(dir);
    struct stat st {};
    const bool exists = ::stat(dir.c_str(), &st) == 0;
    if (exists && !S_ISDIR(st.st_mode)) {
        for (const auto& e : src.entries())
            if (e.have_id && e.dev == st.st_dev && e.ino == st.st_ino)
                refuse(option, dir, "is " + e.path + ", a file this run reads");
        refuse(option, dir, "exists and is not a directory");
    }
    for (const auto& e : src.entries()) {
        if (!e.real.empty() && is_within(e.real, real))
            refuse(option, dir,
                   std::string(e.real == real ? "is" : "contains") + " the source " + e.path +
                       "; an output directory may not hold the model it reads");
        if (!exists || !e.have_id) continue;
        // The same test by device and inode, for every ancestor of the source (bind mounts,
        // hard-linked or otherwise differently named directories).
        for (fs::path a = fs::path(e.real.empty() ? e.path : e.real); !a.empty(); a = a.parent_path()) {
            struct stat as {};
            if (::stat(a.c_str(), &as) == 0 && as.st_dev == st.st_dev && as.st_ino == st.st_ino)
                refuse(option, dir,
                       "is or contains the source " + e.path + "; an output directory may not hold the model it reads");
            if (a == a.root_path()) break;
        }
    }
    if (!exists) return;
    std::error_code ec;
    const bool empty = fs::directory_iterator(dir, ec) == fs::directory_iterator();
    if (ec) refuse(option, dir, "cannot list the existing directory: " + ec.message());
    if (empty) return;
    const std::string found = output_kind_of(dir);
    if (found.empty())
        refuse(option, dir,
               "exists, is not empty and is not an earlier tensorllm output (no " + std::string(kMarkerName) +
                   "); it is never replaced: choose a new directory or remove it yourself");
    if (found != kind)
        refuse(option, dir,
               "holds an earlier tensorllm " + found + " output, not a " + kind + " output; it is not replaced");
    if (!replace_same_kind) refuse(option, dir, "holds an earlier " + kind + " output (add --overwrite to replace it)");
}

std::string output_kind_of(const std::string& dir) {
    const fs::path marker = fs::path(dir) / kMarkerName;
    struct stat st {};
    if (::lstat(marker.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 4096) return {};
    std::ifstream in(marker, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    try {
        const auto j = nlohmann::json::parse(ss.str());
        if (j.is_object() && j.value("tool", "") == "tensorllm" && j.contains("kind") && j["kind"].is_string())
            return j["kind"].get<std::string>();
    } catch (const nlohmann::json::exception&) {}
    return {};
}

void write_output_marker(const std::string& dir, const std::string& kind) {
    nlohmann::json j = {{"tool", "tensorllm"}, {"kind", kind}, {"version", TENSORLLM_VERSION}};
    AtomicFile f((fs::path(dir) / kMarkerName).string());
    const std::string text = j.dump() + "\n";
    f.write(text.data(), text.size());
    f.commit();
}

std::string temporary_prefix(const std::string& dest) {
    return strip_slashes(dest) + ".tmp-" + std::to_string(::getpid()) + "-";
}

std::vector<std::string> remove_stale_temporaries(const std::string& output) {
    std::vector<std::string> notes;
    const fs::path p = fs::path(strip_slashes(output));
    fs::path parent = p.parent_path();
    if (parent.empty()) parent = ".";
    const std::string name = p.filename().string();
    std::error_code ec;
    for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string entry = it->path().filename().string();
        for (const char* tag : {".tmp-", ".old-"}) {
            const std::string pre = name + tag;
            if (entry.size() <= pre.size() || entry.compare(0, pre.size(), pre) != 0) continue;
            const std::string rest = entry.substr(pre.size());
            const std::size_t dash = rest.find('-');
            if (dash == 0 || dash == std::string::npos) continue;
            if (!std::all_of(rest.begin(), rest.begin() + long(dash), [](char c) { return c >= '0' && c <= '9'; }))
                continue;
            if (dash > 9) continue;
            const long pid = std::stol(rest.substr(0, dash));
            if (process_alive(pid)) continue;
            std::error_code rm;
            fs::remove_all(it->path(), rm);
            notes.push_back(rm ? "could not remove " + it->path().string() + ", left by a run that ended (pid " +
                                     std::to_string(pid) + "): " + rm.message()
                               : "removed " + it->path().string() + ", left by a run that ended (pid " +
                                     std::to_string(pid) + ")");
        }
    }
    return notes;
}

OutputLock::OutputLock(const std::string& output) {
    const std::string lock = lock_path_for(output);
    fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0)
        throw std::runtime_error(output + ": cannot create the lock file " + lock + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int e = errno;
        char buf[32] = {};
        const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
        ::close(fd_);
        fd_ = -1;
        if (e == EWOULDBLOCK) {
            std::string holder = n > 0 ? std::string(buf, std::size_t(n)) : std::string();
            while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
            throw std::runtime_error(output + ": another tensorllm run" +
                                     (holder.empty() ? std::string() : " (pid " + holder + ")") +
                                     " is writing this output; wait for it or choose another");
        }
        throw std::runtime_error(output + ": cannot lock " + lock + ": " + std::strerror(e));
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) {
        [[maybe_unused]] const ssize_t w = ::pwrite(fd_, pid.data(), pid.size(), 0);
    }
    notes_ = remove_stale_temporaries(output);
}

OutputLock::~OutputLock() {
    if (fd_ >= 0) ::close(fd_);
}

void check_writable_beside(const std::string& path) {
    fs::path parent = fs::path(strip_slashes(path)).parent_path();
    if (parent.empty()) parent = ".";
    struct statvfs s {};
    if (::statvfs(parent.c_str(), &s) == 0 && (s.f_flag & ST_RDONLY))
        throw std::runtime_error(path + ": cannot write into " + parent.string() + ": read-only file system");
    if (::access(parent.c_str(), W_OK | X_OK) != 0)
        throw std::runtime_error(path + ": cannot write into " + parent.string() + ": " + std::strerror(errno));
}

}  // namespace tllm::io
