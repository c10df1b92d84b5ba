#include "io/staging_dir.h"

#include "io/output_guard.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>

namespace fs = std::filesystem;

namespace tllm::io {
namespace {

std::string parent_of(const std::string& p) {
    const fs::path parent = fs::path(p).parent_path();
    return parent.empty() ? std::string(".") : parent.string();
}

std::string make_unique_dir(const std::string& base) {
    std::string templ = base + "XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) return {};
    return buf.data();
}

}  // namespace

std::string normalise_destination(const std::string& dest) {
    std::string d = dest;
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    return d;
}

bool non_empty_directory(const std::string& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return false;
    return fs::directory_iterator(dir, ec) != fs::directory_iterator();
}

StagingDir::StagingDir(const std::string& dest) : dest_(normalise_destination(dest)) {
    if (dest_.empty()) throw std::invalid_argument("output directory: empty path");
    tmp_ = make_unique_dir(temporary_prefix(dest_));
    if (tmp_.empty())
        throw std::runtime_error(dest_ + ": cannot create a staging directory in " + parent_of(dest_) + ": " +
                                 std::strerror(errno));
    // mkdtemp creates 0700; the finished output is an ordinary, readable directory.
    ::chmod(tmp_.c_str(), 0755);
}

StagingDir::~StagingDir() {
    if (committed_ || tmp_.empty()) return;
    std::error_code ec;
    fs::remove_all(tmp_, ec);
}

void StagingDir::commit(bool replace_existing) {
    std::error_code ec;
    const bool exists = fs::exists(fs::symlink_status(dest_, ec));
    if (exists && !fs::is_directory(dest_, ec)) throw std::runtime_error(dest_ + ": exists and is not a directory");
    if (!non_empty_directory(dest_)) {
        if (::rename(tmp_.c_str(), dest_.c_str()) != 0)
            throw std::runtime_error(dest_ + ": cannot move the finished output into place: " + std::strerror(errno));
        committed_ = true;
        return;
    }
    if (!replace_existing) throw std::runtime_error(dest_ + ": directory exists and is not empty");
#ifdef RENAME_EXCHANGE  // Linux: swap the two directories in one step
    if (::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, dest_.c_str(), RENAME_EXCHANGE) == 0) {
        // tmp_ now holds the previous destination; the destructor's removal is not wanted
        // to fail the export, so remove it here and ignore errors.
        committed_ = true;
        fs::remove_all(tmp_, ec);
        if (ec)
            throw std::runtime_error(dest_ +
                                     ": the new output is in place, but the previous one could not be "
                                     "removed completely from " +
                                     tmp_ + ": " + ec.message());
        return;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        throw std::runtime_error(dest_ + ": cannot swap in the finished output: " + std::strerror(errno));
#endif
    // No atomic exchange (this filesystem or system lacks it): move the old directory aside,
    // then rename.
    const std::string old = make_unique_dir(dest_ + ".old-" + std::to_string(::getpid()) + "-");
    if (old.empty() || ::rmdir(old.c_str()) != 0 || ::rename(dest_.c_str(), old.c_str()) != 0)
        throw std::runtime_error(dest_ + ": cannot move the previous directory aside: " + std::strerror(errno));
    if (::rename(tmp_.c_str(), dest_.c_str()) != 0) {
        const int e = errno;
        ::rename(old.c_str(), dest_.c_str());
        throw std::runtime_error(dest_ + ": cannot move the finished output into place: " + std::strerror(e));
    }
    committed_ = true;
    fs::remove_all(old, ec);
    if (ec)
        throw std::runtime_error(dest_ +
                                 ": the new output is in place, but the previous one could not be "
                                 "removed completely from " +
                                 old + ": " + ec.message());
}

void prepare_destination(const std::string& dest) {
    const std::filesystem::path parent = std::filesystem::path(normalise_destination(dest)).parent_path();
    if (!parent.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(parent, ec);
        if (ec) throw std::runtime_error(dest + ": cannot create directory " + parent.string() + ": " + ec.message());
    }
    check_writable_beside(normalise_destination(dest));
}

}  // namespace tllm::io
