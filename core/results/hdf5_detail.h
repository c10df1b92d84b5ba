#pragma once
// Private to core/results/*.cpp: thin, checked wrappers over the HDF5 C API. Includes
// <hdf5.h>, so never include this from a public header (HDF5 is linked privately).
//
// Conventions used by the results files (docs/hdf5-schema.md):
//   integers   64-bit little-endian (signed H5T_STD_I64LE; byte and parameter counts
//              unsigned H5T_STD_U64LE); booleans are integers 0/1
//   reals      IEEE binary64 (measures) or binary32 (factors, cores)
//   strings    variable-length UTF-8 (h5py reads them as str)
// Every failure throws std::runtime_error "<file>: <object path>: <what> (<HDF5 reason>)".

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <hdf5.h>

#include "io/atomic_file.h"
#include "util/control.h"

namespace tllm::exporting::h5 {

/// Owns one HDF5 identifier and closes it with the matching H5?close.
class Handle {
public:
    using Closer = herr_t (*)(hid_t);
    Handle() = default;
    Handle(hid_t id, Closer close) : id_(id), close_(close) {}
    ~Handle() { reset(); }
    Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
    Handle& operator=(Handle&& o) noexcept {
        if (this != &o) {
            reset();
            id_ = o.id_;
            close_ = o.close_;
            o.id_ = H5I_INVALID_HID;
        }
        return *this;
    }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    hid_t get() const { return id_; }
    bool valid() const { return id_ >= 0; }
    /// Closes now and returns H5?close's status (negative on failure, e.g. a failed flush).
    herr_t close() {
        herr_t r = 0;
        if (id_ >= 0 && close_) r = close_(id_);
        id_ = H5I_INVALID_HID;
        return r;
    }
    void reset() { (void)close(); }

private:
    hid_t id_ = H5I_INVALID_HID;
    Closer close_ = nullptr;
};

/// Serialises every HDF5 call made by this project (the library may be built without its
/// thread-safety option; sessions may nest on one thread) and silences HDF5's automatic error printing for the scope, so
/// nothing is written to stderr; errors are reported through exceptions instead.
class Session {
public:
    Session();
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

private:
    std::unique_lock<std::recursive_mutex> lock_;
    H5E_auto2_t func_ = nullptr;
    void* data_ = nullptr;
};

/// The innermost description on HDF5's error stack (e.g. "file write failed: ... errno = 27,
/// error message = 'File too large'"), or "" when the stack is empty. Clears the stack.
std::string last_error();

/// Throws std::runtime_error("<file>: <object>: <what> (<last_error()>)").
[[noreturn]] void fail(const std::string& file, const std::string& object, const std::string& what);

/// File access properties: strong close (all objects close with the file) and no file
/// locking (read-only opens must work on filesystems without flock). With
/// `memory_increment` > 0 the file lives in memory only (HDF5's core driver, growing by
/// that many bytes at a time, no backing store): see write_results_hdf5 for why.
Handle file_access_plist(const std::string& file, std::uint64_t memory_increment = 0);

/// Writing helpers. `obj` is the HDF5 path of `loc` ("/layers/3"), used in messages.
struct Writer {
    std::string file;

    void write_attr(hid_t loc, const std::string& obj, const std::string& name, const std::vector<hsize_t>& dims,
                    hid_t file_type, hid_t mem_type, const void* data) const;

    Handle group(hid_t loc, const std::string& obj, const std::string& name) const;
    void attr(hid_t loc, const std::string& obj, const std::string& name, const std::string& v) const;
    void attr(hid_t loc, const std::string& obj, const std::string& name, const char* v) const {
        attr(loc, obj, name, std::string(v));
    }
    void attr(hid_t loc, const std::string& obj, const std::string& name, std::int64_t v) const;
    void attr(hid_t loc, const std::string& obj, const std::string& name, int v) const {
        attr(loc, obj, name, static_cast<std::int64_t>(v));
    }
    void attr(hid_t loc, const std::string& obj, const std::string& name, bool v) const {
        attr(loc, obj, name, static_cast<std::int64_t>(v ? 1 : 0));
    }
    void attr_u64(hid_t loc, const std::string& obj, const std::string& name, std::uint64_t v) const;
    void attr(hid_t loc, const std::string& obj, const std::string& name, double v) const;
    /// A 1-D attribute of n >= 1 values.
    void attr(hid_t loc, const std::string& obj, const std::string& name, const std::vector<std::int64_t>& v) const;
    void attr(hid_t loc, const std::string& obj, const std::string& name, const std::vector<double>& v) const;

    /// A dataset of `dims` (C order) from `data` in memory type `mem_type`, stored as
    /// `file_type`, contiguous and uncompressed. Zero elements are allowed (data unused).
    void dataset(hid_t loc, const std::string& obj, const std::string& name, const std::vector<hsize_t>& dims,
                 hid_t mem_type, hid_t file_type, const void* data) const;
    void dataset(hid_t loc, const std::string& obj, const std::string& name, const std::vector<std::int64_t>& v) const;
    void dataset_u64(hid_t loc, const std::string& obj, const std::string& name,
                     const std::vector<std::uint64_t>& v) const;
    void dataset(hid_t loc, const std::string& obj, const std::string& name, const std::vector<double>& v) const;
    void strings(hid_t loc, const std::string& obj, const std::string& name, const std::vector<std::string>& v) const;
};

/// Reading helpers that validate type class, rank, dims and size before reading anything.
/// `obj` is the HDF5 path of `loc`, used in messages; `file_size` bounds every allocation.
struct Reader {
    std::string file;
    std::uint64_t file_size = 0;

    static std::string child(const std::string& obj, const std::string& name) {
        return obj == "/" ? "/" + name : obj + "/" + name;
    }
    bool has(hid_t loc, const std::string& name) const;
    bool has_attr(hid_t loc, const std::string& name) const;
    Handle group(hid_t loc, const std::string& obj, const std::string& name) const;

    std::string attr_str(hid_t loc, const std::string& obj, const std::string& name,
                         std::size_t max_len = 1u << 20) const;
    std::int64_t attr_int(hid_t loc, const std::string& obj, const std::string& name) const;
    /// attr_int checked to lie in [lo, hi].
    std::int64_t attr_int(hid_t loc, const std::string& obj, const std::string& name, std::int64_t lo,
                          std::int64_t hi) const;
    std::uint64_t attr_u64(hid_t loc, const std::string& obj, const std::string& name) const;
    double attr_f64(hid_t loc, const std::string& obj, const std::string& name) const;
    /// A 1-D attribute of exactly n values.
    std::vector<std::int64_t> attr_ints(hid_t loc, const std::string& obj, const std::string& name,
                                        std::size_t n) const;
    std::vector<double> attr_f64s(hid_t loc, const std::string& obj, const std::string& name, std::size_t n) const;

    /// A numeric dataset whose dims equal `dims` (an entry < 0 matches any extent, bounded
    /// by the file size). Float32 targets require a 4-byte float dataset (exact copy);
    /// double targets accept any float; integer targets any integer. Returns the dims read.
    std::vector<hsize_t> read(hid_t loc, const std::string& obj, const std::string& name,
                              const std::vector<std::int64_t>& dims, std::vector<float>& out) const;
    std::vector<hsize_t> read(hid_t loc, const std::string& obj, const std::string& name,
                              const std::vector<std::int64_t>& dims, std::vector<double>& out) const;
    std::vector<hsize_t> read(hid_t loc, const std::string& obj, const std::string& name,
                              const std::vector<std::int64_t>& dims, std::vector<std::int64_t>& out) const;
    std::vector<hsize_t> read(hid_t loc, const std::string& obj, const std::string& name,
                              const std::vector<std::int64_t>& dims, std::vector<std::uint64_t>& out) const;
    /// A 1-D string dataset of at most `max_count` entries of at most `max_len` bytes each.
    std::vector<std::string> strings(hid_t loc, const std::string& obj, const std::string& name,
                                     std::size_t max_count = 1u << 20, std::size_t max_len = 1u << 16) const;

    [[noreturn]] void bad(const std::string& obj, const std::string& what) const;
};

/// Writes a whole file the way every HDF5 output of this project is written (docs/hdf5-schema.md,
/// "Writing safely"): `content` fills the root group of a file assembled in memory (HDF5's
/// core driver, growing by `increment` bytes); it must write the root attribute
/// kContentHashAttribute with kContentHashPlaceholder as its value. The SHA-256 of the image
/// is then written over the placeholder, the image's exact size (plus `margin`) is checked
/// against the free space, and the image goes to `out` (temporary file, fsync, rename on
/// commit) in 64 MiB blocks with `ctl` checked between them. `path` names the destination in
/// messages. On any failure `out` is not committed (its destructor removes the temporary).
void write_file_image(io::AtomicFile& out, const std::string& path, std::uint64_t increment, std::uint64_t margin,
                      const std::function<void(const Writer&, hid_t root)>& content, const util::Control& ctl);

/// Opens `path` (of `size` bytes, from results_file_size) read-only after the checks made
/// before libhdf5 parses anything: "<path>: not an HDF5 file (or unreadable)" and the
/// superblock fields libhdf5 trusts (check_superblock). The caller holds a Session.
Handle open_read_only(const std::string& path, std::uint64_t size);

/// Throws std::runtime_error unless the SHA-256 of the file at `path`, with `stored` replaced
/// by kContentHashPlaceholder, equals `stored` ("content checksum mismatch ...: the file was
/// changed or damaged after it was written").
void verify_content_hash(const std::string& path, const std::string& stored);

}  // namespace tllm::exporting::h5
