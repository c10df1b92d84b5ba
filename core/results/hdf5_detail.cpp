#include "results/hdf5_detail.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <span>
#include <limits>
#include <stdexcept>

#include "results/hdf5_results.h"
#include "io/mapped_file.h"
#include "util/resources.h"
#include "util/sha256.h"

namespace tllm::exporting::h5 {
namespace {

// Largest chunk of a checksummed dataset (HDF5 limits a chunk to 4 GiB).
constexpr std::uint64_t kMaxChunkBytes = 256ull << 20;

std::recursive_mutex& hdf5_mutex() {
    static std::recursive_mutex m;
    return m;
}

herr_t innermost(unsigned n, const H5E_error2_t* e, void* client) {
    // Walking upward, the first entry is where the error was first detected.
    if (n == 0 && e && e->desc) *static_cast<std::string*>(client) = e->desc;
    return 0;
}

// Strings are written fixed-length (null-padded UTF-8), never variable-length: variable-length
// data lives in HDF5's global heap, and fuzzing showed libhdf5 1.10 reading out of bounds
// (H5HG_read) on a damaged heap before any check of ours can run. Readers refuse them.
Handle fixed_string_type(std::size_t size) {
    Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(t.get(), std::max<std::size_t>(size, 1));
    H5Tset_strpad(t.get(), H5T_STR_NULLPAD);
    H5Tset_cset(t.get(), H5T_CSET_UTF8);
    return t;
}

std::string dims_text(const std::vector<hsize_t>& d) {
    std::string s = "(";
    for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + (d.size() == 1 ? ",)" : ")");
}

std::string dims_text(const std::vector<std::int64_t>& d) {
    std::string s = "(";
    for (std::size_t i = 0; i < d.size(); ++i)
        s += (i ? ", " : "") + (d[i] < 0 ? std::string("*") : std::to_string(d[i]));
    return s + (d.size() == 1 ? ",)" : ")");
}

const char* class_name(H5T_class_t c) {
    switch (c) {
        case H5T_INTEGER: return "integer";
        case H5T_FLOAT: return "float";
        case H5T_STRING: return "string";
        case H5T_COMPOUND: return "compound";
        case H5T_ENUM: return "enum";
        case H5T_ARRAY: return "array";
        default: return "other";
    }
}

}  // namespace

Session::Session() : lock_(hdf5_mutex()) {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

Session::~Session() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

std::string last_error() {
    std::string desc;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, &desc);
    H5Eclear2(H5E_DEFAULT);
    // The low-level driver's message carries the system error; keep just that part.
    const std::string key = "error message = '";
    if (auto p = desc.find(key); p != std::string::npos) {
        const auto q = desc.find('\'', p + key.size());
        if (q != std::string::npos) return desc.substr(p + key.size(), q - p - key.size());
    }
    return desc;
}

void fail(const std::string& file, const std::string& object, const std::string& what) {
    const std::string why = last_error();
    throw std::runtime_error(file + ": " + object + ": " + what + (why.empty() ? "" : " (" + why + ")"));
}

Handle file_access_plist(const std::string& file, std::uint64_t memory_increment) {
    Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    if (!fapl.valid() || H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG) < 0)
        fail(file, "/", "cannot create file access properties");
    if (memory_increment > 0 && H5Pset_fapl_core(fapl.get(), std::size_t(memory_increment), false) < 0)
        fail(file, "/", "cannot select the in-memory file driver");
#if H5_VERSION_GE(1, 10, 7) && !(H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 12 && H5_VERS_RELEASE < 1)
    if (H5Pset_file_locking(fapl.get(), false, true) < 0) fail(file, "/", "cannot disable file locking");
#endif
    return fapl;
}

// ---------------------------------------------------------------------------------------
// Writer

Handle Writer::group(hid_t loc, const std::string& obj, const std::string& name) const {
    Handle g(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!g.valid()) fail(file, Reader::child(obj, name), "cannot create group");
    return g;
}

void Writer::write_attr(hid_t loc, const std::string& obj, const std::string& name, const std::vector<hsize_t>& dims,
                        hid_t file_type, hid_t mem_type, const void* data) const {
    Handle space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
                 H5Sclose);
    if (!space.valid()) fail(file, obj, "attribute '" + name + "': cannot create dataspace");
    Handle a(H5Acreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!a.valid() || H5Awrite(a.get(), mem_type, data) < 0) fail(file, obj, "cannot write attribute '" + name + "'");
}

void Writer::attr(hid_t loc, const std::string& obj, const std::string& name, const std::string& v) const {
    Handle t = fixed_string_type(v.size());
    std::vector<char> buf(std::max<std::size_t>(v.size(), 1), '\0');
    std::copy(v.begin(), v.end(), buf.begin());
    write_attr(loc, obj, name, {}, t.get(), t.get(), buf.data());
}

void Writer::attr(hid_t loc, const std::string& obj, const std::string& name, std::int64_t v) const {
    write_attr(loc, obj, name, {}, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

void Writer::attr_u64(hid_t loc, const std::string& obj, const std::string& name, std::uint64_t v) const {
    write_attr(loc, obj, name, {}, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

void Writer::attr(hid_t loc, const std::string& obj, const std::string& name, double v) const {
    write_attr(loc, obj, name, {}, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

void Writer::attr(hid_t loc, const std::string& obj, const std::string& name,
                  const std::vector<std::int64_t>& v) const {
    write_attr(loc, obj, name, {hsize_t(v.size())}, H5T_STD_I64LE, H5T_NATIVE_INT64, v.data());
}

void Writer::attr(hid_t loc, const std::string& obj, const std::string& name, const std::vector<double>& v) const {
    write_attr(loc, obj, name, {hsize_t(v.size())}, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v.data());
}

void Writer::dataset(hid_t loc, const std::string& obj, const std::string& name, const std::vector<hsize_t>& dims,
                     hid_t mem_type, hid_t file_type, const void* data) const {
    const std::string path = Reader::child(obj, name);
    Handle space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
    if (!space.valid()) fail(file, path, "cannot create dataspace " + dims_text(dims));
    hsize_t n = 1;
    for (auto x : dims) n *= x;
    // Every non-empty dataset carries HDF5's Fletcher32 checksum (one chunk of the whole
    // dataset, or rows of it past kMaxChunkBytes), which the library checks on every read.
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    if (n > 0) {
        std::vector<hsize_t> chunk = dims;
        const std::size_t elem = H5Tget_size(file_type);
        for (std::size_t k = 0; k < chunk.size(); ++k) {
            hsize_t bytes = elem;
            for (auto x : chunk) bytes *= x;
            if (bytes <= kMaxChunkBytes) break;
            chunk[k] = std::max<hsize_t>(1, chunk[k] / ((bytes + kMaxChunkBytes - 1) / kMaxChunkBytes));
        }
        if (H5Pset_chunk(dcpl.get(), int(chunk.size()), chunk.data()) < 0 || H5Pset_fletcher32(dcpl.get()) < 0)
            fail(file, path, "cannot set the checksum filter");
    }
    Handle d(H5Dcreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
    if (!d.valid()) fail(file, path, "cannot create dataset " + dims_text(dims));
    if (n > 0 && H5Dwrite(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        fail(file, path, "cannot write dataset " + dims_text(dims));
}

void Writer::dataset(hid_t loc, const std::string& obj, const std::string& name,
                     const std::vector<std::int64_t>& v) const {
    dataset(loc, obj, name, {hsize_t(v.size())}, H5T_NATIVE_INT64, H5T_STD_I64LE, v.data());
}

void Writer::dataset_u64(hid_t loc, const std::string& obj, const std::string& name,
                         const std::vector<std::uint64_t>& v) const {
    dataset(loc, obj, name, {hsize_t(v.size())}, H5T_NATIVE_UINT64, H5T_STD_U64LE, v.data());
}

void Writer::dataset(hid_t loc, const std::string& obj, const std::string& name, const std::vector<double>& v) const {
    dataset(loc, obj, name, {hsize_t(v.size())}, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, v.data());
}

void Writer::strings(hid_t loc, const std::string& obj, const std::string& name,
                     const std::vector<std::string>& v) const {
    std::size_t width = 1;
    for (const auto& s : v) width = std::max(width, s.size());
    Handle t = fixed_string_type(width);
    std::vector<char> buf(v.size() * width, '\0');
    for (std::size_t i = 0; i < v.size(); ++i) std::copy(v[i].begin(), v[i].end(), buf.begin() + i * width);
    dataset(loc, obj, name, {hsize_t(v.size())}, t.get(), t.get(), buf.data());
}

// ---------------------------------------------------------------------------------------
// Reader

void Reader::bad(const std::string& obj, const std::string& what) const {
    H5Eclear2(H5E_DEFAULT);
    throw std::runtime_error(file + ": " + obj + ": " + what);
}

bool Reader::has(hid_t loc, const std::string& name) const { return H5Lexists(loc, name.c_str(), H5P_DEFAULT) > 0; }

bool Reader::has_attr(hid_t loc, const std::string& name) const { return H5Aexists(loc, name.c_str()) > 0; }

Handle Reader::group(hid_t loc, const std::string& obj, const std::string& name) const {
    const std::string path = child(obj, name);
    if (!has(loc, name)) bad(path, "group missing");
    Handle g(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), H5Gclose);
    if (!g.valid()) fail(file, path, "not a readable group");
    return g;
}

namespace {

// Opens attribute `name`, checks its type class and that it holds exactly `n` values
// (n == 0: a scalar or one value).
Handle open_attr(const Reader& R, hid_t loc, const std::string& obj, const std::string& name,
                 std::initializer_list<H5T_class_t> classes, std::size_t n) {
    const std::string where = obj + " attribute '" + name + "'";
    if (!R.has_attr(loc, name)) R.bad(obj, "attribute '" + name + "' missing");
    Handle a(H5Aopen(loc, name.c_str(), H5P_DEFAULT), H5Aclose);
    if (!a.valid()) fail(R.file, where, "cannot open");
    Handle t(H5Aget_type(a.get()), H5Tclose);
    const H5T_class_t c = H5Tget_class(t.get());
    bool ok = false;
    for (auto k : classes) ok |= c == k;
    if (!ok)
        R.bad(where, std::string("has type class ") + class_name(c) + ", expected " + class_name(*classes.begin()));
    Handle s(H5Aget_space(a.get()), H5Sclose);
    const hssize_t count = H5Sget_simple_extent_npoints(s.get());
    const int rank = H5Sget_simple_extent_ndims(s.get());
    if (n == 0 ? (count != 1 || rank > 1) : (rank != 1 || count != hssize_t(n)))
        R.bad(where, "holds " + std::to_string(count) + " value(s) in " + std::to_string(rank) +
                         " dimension(s), expected " + (n == 0 ? std::string("one") : std::to_string(n)));
    return a;
}

}  // namespace

std::string Reader::attr_str(hid_t loc, const std::string& obj, const std::string& name, std::size_t max_len) const {
    Handle a = open_attr(*this, loc, obj, name, {H5T_STRING}, 0);
    const std::string where = obj + " attribute '" + name + "'";
    Handle ft(H5Aget_type(a.get()), H5Tclose);
    std::string out;
    if (H5Tis_variable_str(ft.get()) > 0) {
        bad(where,
            "is a variable-length string; this reader takes fixed-length strings only (format_version 2; "
            "variable-length data is not read from untrusted files)");
    } else {
        const std::size_t size = H5Tget_size(ft.get());
        if (size > max_len)
            bad(where, "string of " + std::to_string(size) + " bytes exceeds " + std::to_string(max_len));
        Handle mt(H5Tcopy(H5T_C_S1), H5Tclose);
        H5Tset_size(mt.get(), size + 1);
        H5Tset_cset(mt.get(), H5Tget_cset(ft.get()));  // ASCII <-> UTF-8 has no conversion path
        std::vector<char> buf(size + 1, '\0');
        if (H5Aread(a.get(), mt.get(), buf.data()) < 0) fail(file, where, "cannot read");
        out.assign(buf.data(), ::strnlen(buf.data(), size));
    }
    if (out.size() > max_len) bad(where, "string longer than " + std::to_string(max_len) + " bytes");
    return out;
}

std::int64_t Reader::attr_int(hid_t loc, const std::string& obj, const std::string& name) const {
    Handle a = open_attr(*this, loc, obj, name, {H5T_INTEGER}, 0);
    std::int64_t v = 0;
    if (H5Aread(a.get(), H5T_NATIVE_INT64, &v) < 0) fail(file, obj + " attribute '" + name + "'", "cannot read");
    return v;
}

std::int64_t Reader::attr_int(hid_t loc, const std::string& obj, const std::string& name, std::int64_t lo,
                              std::int64_t hi) const {
    const std::int64_t v = attr_int(loc, obj, name);
    if (v < lo || v > hi)
        bad(obj + " attribute '" + name + "'",
            "value " + std::to_string(v) + " outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return v;
}

std::uint64_t Reader::attr_u64(hid_t loc, const std::string& obj, const std::string& name) const {
    Handle a = open_attr(*this, loc, obj, name, {H5T_INTEGER}, 0);
    std::uint64_t v = 0;
    if (H5Aread(a.get(), H5T_NATIVE_UINT64, &v) < 0) fail(file, obj + " attribute '" + name + "'", "cannot read");
    return v;
}

double Reader::attr_f64(hid_t loc, const std::string& obj, const std::string& name) const {
    Handle a = open_attr(*this, loc, obj, name, {H5T_FLOAT, H5T_INTEGER}, 0);
    double v = 0;
    if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) < 0) fail(file, obj + " attribute '" + name + "'", "cannot read");
    return v;
}

std::vector<std::int64_t> Reader::attr_ints(hid_t loc, const std::string& obj, const std::string& name,
                                            std::size_t n) const {
    Handle a = open_attr(*this, loc, obj, name, {H5T_INTEGER}, n);
    std::vector<std::int64_t> v(n);
    if (H5Aread(a.get(), H5T_NATIVE_INT64, v.data()) < 0) fail(file, obj + " attribute '" + name + "'", "cannot read");
    return v;
}

std::vector<double> Reader::attr_f64s(hid_t loc, const std::string& obj, const std::string& name, std::size_t n) const {
    Handle a = open_attr(*this, loc, obj, name, {H5T_FLOAT, H5T_INTEGER}, n);
    std::vector<double> v(n);
    if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, v.data()) < 0) fail(file, obj + " attribute '" + name + "'", "cannot read");
    return v;
}

namespace {

struct OpenedDataset {
    Handle ds, type;
    std::vector<hsize_t> dims;
    std::uint64_t count = 0;
};

// Opens dataset `name` and checks its class, element size (0 = any), rank and dims, and
// that its logical size is bounded by the file: an unfiltered dataset cannot hold more
// bytes than the file; a filtered (compressed) one no more than kMaxCompressionRatio times.
OpenedDataset open_dataset(const Reader& R, hid_t loc, const std::string& obj, const std::string& name,
                           std::initializer_list<H5T_class_t> classes, std::size_t elem_size,
                           const std::vector<std::int64_t>& want) {
    const std::string path = Reader::child(obj, name);
    if (!R.has(loc, name)) R.bad(path, "dataset missing");
    OpenedDataset o;
    o.ds = Handle(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!o.ds.valid()) fail(R.file, path, "not a readable dataset");
    o.type = Handle(H5Dget_type(o.ds.get()), H5Tclose);
    const H5T_class_t c = H5Tget_class(o.type.get());
    bool ok = false;
    for (auto k : classes) ok |= c == k;
    if (!ok) R.bad(path, std::string("has type class ") + class_name(c) + ", expected " + class_name(*classes.begin()));
    const std::size_t size = H5Tget_size(o.type.get());
    if (elem_size && size != elem_size)
        R.bad(path, "has " + std::to_string(size) + "-byte " + class_name(c) + " elements, expected " +
                        std::to_string(elem_size) + "-byte");
    Handle space(H5Dget_space(o.ds.get()), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank != int(want.size()))
        R.bad(path, "has " + std::to_string(rank) + " dimension(s), expected " + std::to_string(want.size()) + " " +
                        dims_text(want));
    o.dims.resize(std::size_t(rank));
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), o.dims.data(), nullptr);
    for (int k = 0; k < rank; ++k)
        if (want[std::size_t(k)] >= 0 && o.dims[std::size_t(k)] != hsize_t(want[std::size_t(k)]))
            R.bad(path, "has dims " + dims_text(o.dims) + ", expected " + dims_text(want));
    Handle dcpl(H5Dget_create_plist(o.ds.get()), H5Pclose);
    // Only a compressing filter lets the data exceed the file; the checksum does not.
    bool filtered = false;
    for (int k = 0, n = dcpl.valid() ? H5Pget_nfilters(dcpl.get()) : 0; k < n; ++k) {
        unsigned flags = 0, filter_config = 0;
        std::size_t nelmts = 0;
        char fname[64] = {};
        filtered |= H5Pget_filter2(dcpl.get(), unsigned(k), &flags, &nelmts, nullptr, sizeof fname, fname,
                                   &filter_config) != H5Z_FILTER_FLETCHER32;
    }
    const std::uint64_t limit = filtered ? R.file_size * kMaxCompressionRatio : R.file_size;
    std::uint64_t n = 1;
    for (auto d : o.dims) {
        if (d != 0 && n > std::numeric_limits<std::uint64_t>::max() / 16 / d)
            R.bad(path, "dims " + dims_text(o.dims) + " overflow");
        n *= d;
    }
    if (n * size > limit)
        R.bad(path, "dims " + dims_text(o.dims) + " need " + std::to_string(n * size) + " bytes, more than the file (" +
                        std::to_string(R.file_size) + " bytes) can hold");
    o.count = n;
    return o;
}

// Why a read failed: a dataset with the Fletcher32 filter whose data no longer matches it
// is damaged, which says more than "cannot read".
std::string read_failure(const OpenedDataset& o) {
    Handle dcpl(H5Dget_create_plist(o.ds.get()), H5Pclose);
    if (dcpl.valid()) {
        const int n = H5Pget_nfilters(dcpl.get());
        for (int k = 0; k < n; ++k) {
            unsigned flags = 0;
            std::size_t nelmts = 0;
            char name[64] = {};
            unsigned filter_config = 0;
            if (H5Pget_filter2(dcpl.get(), unsigned(k), &flags, &nelmts, nullptr, sizeof name, name, &filter_config) ==
                H5Z_FILTER_FLETCHER32)
                return "cannot read: its data does not match its Fletcher32 checksum (the file is damaged)";
        }
    }
    return "cannot read";
}

template <class T>
std::vector<hsize_t> read_numeric(const Reader& R, hid_t loc, const std::string& obj, const std::string& name,
                                  const std::vector<std::int64_t>& want, std::vector<T>& out, hid_t mem_type,
                                  std::initializer_list<H5T_class_t> classes, std::size_t elem_size) {
    OpenedDataset o = open_dataset(R, loc, obj, name, classes, elem_size, want);
    out.assign(static_cast<std::size_t>(o.count), T{});
    if (o.count > 0 && H5Dread(o.ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
        fail(R.file, Reader::child(obj, name), read_failure(o));
    return o.dims;
}

}  // namespace

std::vector<hsize_t> Reader::read(hid_t loc, const std::string& obj, const std::string& name,
                                  const std::vector<std::int64_t>& dims, std::vector<float>& out) const {
    return read_numeric(*this, loc, obj, name, dims, out, H5T_NATIVE_FLOAT, {H5T_FLOAT}, 4);
}

std::vector<hsize_t> Reader::read(hid_t loc, const std::string& obj, const std::string& name,
                                  const std::vector<std::int64_t>& dims, std::vector<double>& out) const {
    return read_numeric(*this, loc, obj, name, dims, out, H5T_NATIVE_DOUBLE, {H5T_FLOAT}, 0);
}

std::vector<hsize_t> Reader::read(hid_t loc, const std::string& obj, const std::string& name,
                                  const std::vector<std::int64_t>& dims, std::vector<std::int64_t>& out) const {
    return read_numeric(*this, loc, obj, name, dims, out, H5T_NATIVE_INT64, {H5T_INTEGER}, 0);
}

std::vector<hsize_t> Reader::read(hid_t loc, const std::string& obj, const std::string& name,
                                  const std::vector<std::int64_t>& dims, std::vector<std::uint64_t>& out) const {
    return read_numeric(*this, loc, obj, name, dims, out, H5T_NATIVE_UINT64, {H5T_INTEGER}, 0);
}

std::vector<std::string> Reader::strings(hid_t loc, const std::string& obj, const std::string& name,
                                         std::size_t max_count, std::size_t max_len) const {
    const std::string path = child(obj, name);
    OpenedDataset o = open_dataset(*this, loc, obj, name, {H5T_STRING}, 0, {-1});
    if (o.count > max_count)
        bad(path, "holds " + std::to_string(o.count) + " strings, more than " + std::to_string(max_count));
    std::vector<std::string> out;
    if (o.count == 0) return out;
    const std::size_t n = static_cast<std::size_t>(o.count);
    if (H5Tis_variable_str(o.type.get()) > 0) {
        bad(path,
            "holds variable-length strings; this reader takes fixed-length strings only (format_version 2; "
            "variable-length data is not read from untrusted files)");
    } else {
        const std::size_t size = H5Tget_size(o.type.get());
        if (size > max_len)
            bad(path, "strings of " + std::to_string(size) + " bytes exceed " + std::to_string(max_len));
        Handle mt(H5Tcopy(H5T_C_S1), H5Tclose);
        H5Tset_size(mt.get(), size);
        H5Tset_strpad(mt.get(), H5T_STR_NULLPAD);
        H5Tset_cset(mt.get(), H5Tget_cset(o.type.get()));
        std::vector<char> buf(n * size);
        if (H5Dread(o.ds.get(), mt.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
            fail(file, path, read_failure(o));
        for (std::size_t i = 0; i < n; ++i)
            out.emplace_back(buf.data() + i * size, ::strnlen(buf.data() + i * size, size));
    }
    return out;
}

// ---------------------------------------------------------------------------------------
// Whole files

namespace {

// Checks the fields of the HDF5 superblock that libhdf5 trusts before it has established the
// file's extent, on the bytes themselves, before libhdf5 opens the file. Found by
// fuzz_hdf5_results: a 54-byte file whose version-0 superblock points a driver info block at
// address 9 made libhdf5 1.10.8 allocate the 2.2 GB that block's (fuzzed) size field claims
// and zero-fill it while reading past the end of the file: seconds and gigabytes of memory
// for `tensorllm show`. Results files are written with the default file driver and no
// superblock extension, so both addresses are "undefined" (all bits set) in every file this
// reader accepts; only the signature at offset 0 (no user block) is looked for.
void check_superblock(const std::string& path, std::uint64_t size) {
    std::ifstream in(path, std::ios::binary);
    unsigned char b[64] = {};
    in.read(reinterpret_cast<char*>(b), sizeof b);
    const std::size_t got = std::size_t(in.gcount());
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    auto bad = [&](const std::string& what) {
        throw std::runtime_error(path + ": HDF5 superblock: " + what + " (refused before libhdf5 reads the file)");
    };
    if (got < 9 || std::memcmp(b, sig, 8) != 0) bad("no HDF5 signature at offset 0 (results files have no user block)");
    const int version = b[8];
    auto need = [&](std::size_t end) {
        if (end > got) bad("truncated (" + std::to_string(size) + " bytes)");
    };
    auto undefined_at = [&](std::size_t off) {
        need(off + 8);
        for (std::size_t k = 0; k < 8; ++k)
            if (b[off + k] != 0xff) return false;
        return true;
    };
    auto address_at = [&](std::size_t off) {
        std::uint64_t v = 0;
        for (int k = 7; k >= 0; --k) v = (v << 8) | b[off + std::size_t(k)];
        return std::to_string(v);
    };
    std::size_t off_sizes = 0, off_addr = 0;
    const char* what = nullptr;
    switch (version) {
        case 0:
            off_sizes = 13;
            off_addr = 48;
            what = "driver info block";
            break;
        case 1:
            off_sizes = 13;
            off_addr = 52;
            what = "driver info block";
            break;
        case 2:
        case 3:
            off_sizes = 9;
            off_addr = 20;
            what = "superblock extension";
            break;
        default: bad("version " + std::to_string(version) + " (results files use versions 0-3)");
    }
    need(off_sizes + 2);
    if (b[off_sizes] != 8 || b[off_sizes + 1] != 8)
        bad("sizes of offsets and lengths are " + std::to_string(b[off_sizes]) + " and " +
            std::to_string(b[off_sizes + 1]) + " bytes (results files use 8 and 8)");
    if (!undefined_at(off_addr))
        bad(std::string(what) + " at address " + address_at(off_addr) + " (results files have none)");
}

}  // namespace

// The whole-file checksum (kContentHashAttribute): the SHA-256 of the file with the stored
// digest replaced by the placeholder it was computed with.
void verify_content_hash(const std::string& path, const std::string& stored) {
    const std::string_view ph(kContentHashPlaceholder);
    if (stored.size() != ph.size())
        throw std::runtime_error(path + ": / attribute '" + std::string(kContentHashAttribute) +
                                 "' is not 64 characters");
    const io::MappedFile f(path);
    const std::string_view img(reinterpret_cast<const char*>(f.bytes().data()), f.bytes().size());
    const std::size_t at = img.find(stored);
    if (at == std::string_view::npos || img.find(stored, at + 1) != std::string_view::npos)
        throw std::runtime_error(path +
                                 ": content checksum: the stored digest is not found once in the file; the file "
                                 "is damaged");
    util::Sha256 h;
    h.update(img.substr(0, at));
    h.update(ph);
    h.update(img.substr(at + ph.size()));
    const std::string got = h.hex_digest();
    if (got != stored)
        throw std::runtime_error(path + ": content checksum mismatch (stored sha256 " + stored.substr(0, 12) +
                                 "..., content " + got.substr(0, 12) +
                                 "...): the file was changed or damaged after it was written");
}

Handle open_read_only(const std::string& path, std::uint64_t size) {
    if (H5Fis_hdf5(path.c_str()) <= 0) {
        last_error();
        throw std::runtime_error(path + ": not an HDF5 file (or unreadable)");
    }
    check_superblock(path, size);
    Handle fapl = file_access_plist(path);
    Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
    if (!file.valid()) fail(path, "/", "cannot open");
    return file;
}

void write_file_image(io::AtomicFile& out, const std::string& path, std::uint64_t increment, std::uint64_t margin,
                      const std::function<void(const Writer&, hid_t root)>& content, const util::Control& ctl) {
    std::vector<std::byte> image;
    {
        static std::atomic<unsigned> serial{0};
        Session session;
        const Writer W{path};
        Handle fapl = file_access_plist(path, increment);
        // A unique in-memory name (nothing is created on disk under it).
        const std::string label = path + ".mem-" + std::to_string(serial.fetch_add(1));
        Handle file(H5Fcreate(label.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
        if (!file.valid()) fail(path, "/", "cannot create the file in memory");
        content(W, file.get());
        if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) fail(path, "/", "cannot finish the file in memory");
        const ssize_t n = H5Fget_file_image(file.get(), nullptr, 0);
        if (n <= 0) fail(path, "/", "cannot get the file image");
        image.resize(std::size_t(n));
        if (H5Fget_file_image(file.get(), image.data(), image.size()) != n)
            fail(path, "/", "cannot copy the file image");
        if (file.close() < 0) fail(path, "/", "cannot close the file in memory");
    }
    // The whole-file checksum, over the image with the placeholder in place, then written
    // over the placeholder (util::Sha256; see kContentHashAttribute).
    {
        const std::string_view ph(kContentHashPlaceholder);
        const std::string_view img(reinterpret_cast<const char*>(image.data()), image.size());
        const std::size_t at = img.find(ph);
        if (at == std::string_view::npos || img.find(ph, at + 1) != std::string_view::npos)
            fail(path, "/", "cannot place the content checksum");
        const std::string hex = util::sha256_hex(img);
        std::memcpy(image.data() + at, hex.data(), hex.size());
    }
    // The image is the file: its size is exact, so the space check needs no estimate.
    const std::uint64_t need = image.size() + margin;
    std::uint64_t have = 0;
    try {
        have = io::free_space_for(path);
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(path + ": cannot write here: " + e.what());
    }
    if (have < need)
        throw std::runtime_error(path + ": not enough free space: " + util::format_bytes(image.size()) +
                                 " to write (and a margin of " + util::format_bytes(margin) + "), " +
                                 util::format_bytes(have) + " available");
    constexpr std::size_t kChunk = 64u << 20;
    for (std::size_t off = 0; off < image.size(); off += kChunk) {
        ctl.check();
        out.write(std::span<const std::byte>(image).subspan(off, std::min(kChunk, image.size() - off)));
    }
}
}  // namespace tllm::exporting::h5
