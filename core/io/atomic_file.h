#pragma once
// Safe file replacement: write to a temporary file in the destination directory, then
// rename it over the destination. A failure or a destruction before commit() removes the
// temporary file and leaves any previous destination file untouched.

#include <cstddef>
#include <cstdio>
#include <span>
#include <string>

namespace tllm::io {

class AtomicFile {
public:
    /// Creates "<dest>.tmp-<pid>-XXXXXX" next to `dest` (the pid lets a later run recognise
    /// the leftovers of a run that was killed, see io::OutputLock). Throws std::runtime_error naming the
    /// directory when it cannot be created (missing directory, no permission).
    explicit AtomicFile(std::string dest);
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    /// Appends bytes. Throws std::runtime_error (e.g. "No space left on device") naming the file.
    void write(std::span<const std::byte> data);
    void write(const void* data, std::size_t n) {
        write(std::span<const std::byte>(static_cast<const std::byte*>(data), n));
    }
    /// Bytes written so far.
    std::size_t size() const { return written_; }
    /// Flushes, syncs and renames onto the destination.
    void commit();
    const std::string& destination() const { return dest_; }
    const std::string& temp_path() const { return tmp_; }

private:
    std::string dest_, tmp_;
    int fd_ = -1;
    std::size_t written_ = 0;
    bool committed_ = false;
};

/// Free bytes available to an unprivileged writer in the directory holding `path`.
std::uint64_t free_space_for(const std::string& path);

}  // namespace tllm::io
