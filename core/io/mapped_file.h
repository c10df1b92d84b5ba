#pragma once
// Read-only memory map of a whole file (POSIX mmap). Pages are loaded on first touch, so
// resident memory grows only with what is actually read.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tllm::io {

/// "a FIFO", "a directory", ... for a st_mode, for error messages.
std::string file_type_name(unsigned mode);
/// strerror(err), except that ELOOP says "symbolic link loop".
std::string open_error(int err);
/// The whole content of regular file `path`, at most `max_bytes`. Never blocks on a FIFO or
/// device: those, sockets and directories are refused with std::runtime_error naming the path
/// and the kind of file, as are larger files (the message ends "accepted for `what`" when
/// `what`, e.g. "a JSON file", is given).
std::string read_regular_file(const std::string& path, std::uint64_t max_bytes, std::string_view what = {});

/// A read-only, private memory map of one file. Move-only.
/// Throws std::runtime_error naming the path if the file cannot be opened or mapped.
/// An empty file maps to an empty span (mmap of zero bytes is not attempted).
class MappedFile {
public:
    MappedFile() = default;
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    /// The mapped bytes.
    std::span<const std::byte> bytes() const { return {data_, size_}; }
    std::size_t size() const { return size_; }
    const std::string& path() const { return path_; }

    /// True while the file on disk still has at least the size it had when mapped.
    /// Reading pages past a truncated end raises SIGBUS; callers check this before a read.
    bool still_intact() const;

    /// Tells the kernel the pages touching [offset, offset + len) are not needed any more
    /// (madvise MADV_DONTNEED): they leave this process's resident set and stay in the page
    /// cache, so a later read only refaults them. Readers call it after converting a tensor,
    /// so reading a whole model does not leave every mapped page counted in the RSS.
    void drop_pages(std::size_t offset, std::size_t len) const noexcept;

private:
    void release() noexcept;
    std::string path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    int fd_ = -1;
};

}  // namespace tllm::io
