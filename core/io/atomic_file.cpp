#include "io/atomic_file.h"

#include "io/output_guard.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace tllm::io {

AtomicFile::AtomicFile(std::string dest) : dest_(std::move(dest)) {
    std::string templ = temporary_prefix(dest_) + "XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    fd_ = ::mkstemp(buf.data());
    if (fd_ < 0)
        throw std::runtime_error(dest_ + ": cannot create a temporary file in " +
                                 std::filesystem::path(dest_).parent_path().string() + ": " + std::strerror(errno));
    tmp_ = buf.data();
    ::fchmod(fd_, 0644);
}

AtomicFile::~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFile::write(std::span<const std::byte> data) {
    const std::byte* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
        ssize_t k = ::write(fd_, p, left);
        if (k < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error(dest_ + ": write failed after " + std::to_string(written_) +
                                     " bytes: " + std::strerror(errno));
        }
        p += k;
        left -= static_cast<std::size_t>(k);
        written_ += static_cast<std::size_t>(k);
    }
}

void AtomicFile::commit() {
    if (::fsync(fd_) != 0) throw std::runtime_error(dest_ + ": fsync failed: " + std::strerror(errno));
    if (::close(fd_) != 0) {
        fd_ = -1;
        throw std::runtime_error(dest_ + ": close failed: " + std::strerror(errno));
    }
    fd_ = -1;
    if (::rename(tmp_.c_str(), dest_.c_str()) != 0)
        throw std::runtime_error(dest_ + ": rename from temporary file failed: " + std::strerror(errno));
    committed_ = true;
}

std::uint64_t free_space_for(const std::string& path) {
    std::filesystem::path p(path);
    std::filesystem::path dir = std::filesystem::is_directory(p) ? p : p.parent_path();
    if (dir.empty()) dir = ".";
    struct statvfs s {};
    if (::statvfs(dir.c_str(), &s) != 0)
        throw std::runtime_error(dir.string() + ": cannot query free space: " + std::strerror(errno));
    return static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize;
}

}  // namespace tllm::io
