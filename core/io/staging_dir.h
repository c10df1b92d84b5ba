#pragma once
// All-or-nothing directory output: everything is written into a staging directory beside
// the destination ("<dest>.tmp-<pid>-XXXXXX", same filesystem), which replaces the destination
// only once complete. A failure, a cancel or a destruction before commit() removes the
// staging directory and leaves any existing destination untouched.

#include <string>

namespace tllm::io {

class StagingDir {
public:
    /// Creates the staging directory beside `dest` (trailing slashes are ignored).
    /// Throws std::runtime_error naming the parent directory and the system error when it
    /// cannot be created (missing parent, no permission, a regular file in the path, ...).
    explicit StagingDir(const std::string& dest);
    /// Removes the staging directory and its content unless committed.
    ~StagingDir();
    StagingDir(const StagingDir&) = delete;
    StagingDir& operator=(const StagingDir&) = delete;

    /// The staging directory to write into.
    const std::string& path() const { return tmp_; }
    /// The destination, normalised (no trailing slash).
    const std::string& destination() const { return dest_; }

    /// Moves the staging directory into place. A missing destination or an empty directory
    /// is replaced by rename(2). A non-empty destination directory is replaced only when
    /// `replace_existing` (else std::runtime_error): the two directories are swapped
    /// atomically (renameat2 RENAME_EXCHANGE; where the filesystem lacks it, two renames,
    /// rolled back on failure) and the old content is removed afterwards; when that removal
    /// fails, std::runtime_error names what is left (the new output is in place). Callers
    /// check the destination with io::check_output_dir first: it is never the source.
    void commit(bool replace_existing);

private:
    std::string dest_, tmp_;
    bool committed_ = false;
};

/// Creates the parent directories of `dest` and checks that entries can be created beside
/// it (check_writable_beside: a read-only filesystem, no permission). Throws
/// std::runtime_error naming `dest` and the directory. Called before a StagingDir is made.
void prepare_destination(const std::string& dest);

/// `dest` without trailing slashes ("out/" -> "out"); "." and "/" unchanged.
std::string normalise_destination(const std::string& dest);

/// True when `dir` is an existing directory holding at least one entry.
bool non_empty_directory(const std::string& dir);

}  // namespace tllm::io
