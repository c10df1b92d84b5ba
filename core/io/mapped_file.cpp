#include "io/mapped_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tllm::io {

std::string file_type_name(unsigned mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISLNK(mode)) return "a symbolic link";
    return S_ISREG(mode) ? "a regular file" : "an unknown kind of file";
}

std::string open_error(int err) {
    if (err == ELOOP) return "symbolic link loop (too many levels of symbolic links)";
    return std::strerror(err);
}

std::string read_regular_file(const std::string& path, std::uint64_t max_bytes, std::string_view what) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) throw std::runtime_error(path + ": cannot open: " + open_error(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        throw std::runtime_error(path + ": cannot stat: " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw std::runtime_error(path + ": not a regular file (" + file_type_name(st.st_mode) + ")");
    }
    if (std::uint64_t(st.st_size) > max_bytes) {
        ::close(fd);
        throw std::runtime_error(path + ": file is " + std::to_string(st.st_size) + " bytes, more than the " +
                                 std::to_string(max_bytes) + " accepted" +
                                 (what.empty() ? std::string() : " for " + std::string(what)));
    }
    std::string out(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < out.size()) {
        const ssize_t k = ::read(fd, out.data() + got, out.size() - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            const int e = errno;
            ::close(fd);
            throw std::runtime_error(path + ": read failed: " + std::strerror(e));
        }
        if (k == 0) break;
        got += std::size_t(k);
    }
    ::close(fd);
    out.resize(got);
    return out;
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; the
    // file type is checked right after, and a regular file ignores the flag.
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd_ < 0) throw std::runtime_error(path + ": cannot open: " + open_error(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
        int e = errno;
        release();
        throw std::runtime_error(path + ": cannot stat: " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        release();
        throw std::runtime_error(path + ": not a regular file (" + file_type_name(st.st_mode) + ")");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            release();
            throw std::runtime_error(path + ": cannot map: " + std::strerror(e));
        }
        data_ = static_cast<const std::byte*>(p);
    }
}

MappedFile::~MappedFile() { release(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      fd_(std::exchange(other.fd_, -1)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
    if (this != &other) {
        release();
        path_ = std::move(other.path_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

bool MappedFile::still_intact() const {
    if (fd_ < 0) return size_ == 0;
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return false;
    return static_cast<std::size_t>(st.st_size) >= size_;
}

void MappedFile::release() noexcept {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
    data_ = nullptr;
    size_ = 0;
    fd_ = -1;
}

void MappedFile::drop_pages(std::size_t offset, std::size_t len) const noexcept {
    if (!data_ || offset >= size_) return;
    len = std::min(len, size_ - offset);
    static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const auto base = reinterpret_cast<std::uintptr_t>(data_);
    // Every page the range touches, partial ones included: a neighbour's page dropped with it
    // is only refaulted from the page cache if read again. The mapping starts on a page
    // boundary and covers whole pages.
    const std::uintptr_t begin = (base + offset) / page * page;
    const std::uintptr_t end =
        std::min((base + offset + len + page - 1) / page * page, (base + size_ + page - 1) / page * page);
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);  // advice only
}

}  // namespace tllm::io
