#pragma once
// The one guard every writer passes before it creates anything: an output may never be,
// replace, remove or write into a file the run reads, nor be a directory that contains
// the source. Paths are compared by their real location (symlinks and ".." resolved) and
// by device and inode, so another spelling, a symlink or a hard link of a source file is
// recognised as the source.
//
// Output directories carry a marker file (kMarkerName) saying which kind of output they
// are; --overwrite replaces only an earlier output of the same kind, never an arbitrary
// directory. Every output is guarded by a lock file beside it (".NAME.tensorllm-lock",
// flock) held for the whole run, so two runs cannot write the same output; the holder of
// the lock also removes the temporary files that a dead run left beside the output.

#include <string>
#include <sys/types.h>
#include <stdexcept>
#include <vector>

namespace tllm::io {

/// An output that would change or remove the source, or that is not ours to replace: a
/// usage error (the CLI exits 2), with a message naming the option, the output and the
/// source path.
struct UnsafeOutput : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

/// Name of the marker file written into every output directory.
inline constexpr const char* kMarkerName = ".tensorllm-output.json";

/// The files and directories a run reads.
class SourceSet {
public:
    SourceSet() = default;
    /// A file the run reads (a shard, an index, config.json, a tokenizer file, an --arch file).
    void add_file(const std::string& path);
    /// A directory the run reads from; every regular file directly inside it counts as a source
    /// file too (the denoised writer copies them).
    void add_directory(const std::string& dir);
    bool empty() const { return entries_.empty(); }

    struct Entry {
        std::string path;  ///< as given
        std::string real;  ///< realpath, or "" when it cannot be resolved
        dev_t dev = 0;
        ino_t ino = 0;
        bool is_dir = false;
        bool have_id = false;
    };
    const std::vector<Entry>& entries() const { return entries_; }

private:
    std::vector<Entry> entries_;
};

/// Refuses (UnsafeOutput) a file output `path` given with `option` ("--h5") that is empty,
/// is a source file under any name (path, symlink, hard link), or would add a file the
/// checkpoint loader reads (.safetensors, .json, .gguf, tokenizer files) to a source directory.
void check_output_file(const SourceSet& src, const std::string& option, const std::string& path);

/// Refuses (UnsafeOutput) a directory output `dir` given with `option` that is empty, is a
/// source file, is a source directory or contains one (at any depth, through any symlink), or
/// exists, holds entries and is not an earlier output of `kind` (its marker says so). An
/// earlier output of the same kind is replaced only when `replace_same_kind` (the caller
/// passes --overwrite, or true for results sets, which always replace their predecessor).
void check_output_dir(const SourceSet& src, const std::string& option, const std::string& dir, const std::string& kind,
                      bool replace_same_kind);

/// The kind recorded in `dir`'s marker, or "" when it has none (or it is unreadable).
std::string output_kind_of(const std::string& dir);

/// Writes the marker of `kind` into directory `dir` (a staging directory before commit).
void write_output_marker(const std::string& dir, const std::string& kind);

/// An exclusive, non-blocking lock on one output, held until destruction. The constructor
/// throws std::runtime_error naming the output and the process holding it when another run
/// writes the same output. Once held, temporary files and directories that a run which no
/// longer exists left beside the output ("NAME.tmp-PID-*", "NAME.old-PID-*") are removed;
/// notes() lists them.
class OutputLock {
public:
    explicit OutputLock(const std::string& output);
    ~OutputLock();
    OutputLock(const OutputLock&) = delete;
    OutputLock& operator=(const OutputLock&) = delete;
    const std::vector<std::string>& notes() const { return notes_; }

private:
    int fd_ = -1;
    std::vector<std::string> notes_;
};

/// Removes the leftovers of dead runs beside `output` (see OutputLock) and returns a note for
/// each. Entries of a process that is still alive are kept.
std::vector<std::string> remove_stale_temporaries(const std::string& output);

/// "<dest>.tmp-<pid>-": the prefix of this process's temporary files and directories for
/// `dest`, which remove_stale_temporaries recognises.
std::string temporary_prefix(const std::string& dest);

/// Throws std::runtime_error naming the directory when a file cannot be created beside `path`:
/// a read-only filesystem or no write permission (checked before any space estimate).
void check_writable_beside(const std::string& path);

}  // namespace tllm::io
