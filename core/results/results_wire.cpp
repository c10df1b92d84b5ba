// The results byte stream (results/results_wire.h). One field list, `fields()`, drives both the
// encoder and the decoder, so the two cannot drift apart; the decoder checks each length
// against the bytes left before it allocates, and check_results() then checks what the
// consumers rely on.
#include "results/results_wire.h"

#include <cstring>
#include <limits>
#include <set>
#include <stdexcept>
#include <type_traits>

#include "io/dtype.h"
#include "results/sweep_hdf5.h"

namespace tllm::exporting {
namespace {

constexpr std::uint32_t kWireVersion = 1;

class Encoder {
public:
    static constexpr bool decoding = false;
    std::string out;

    template <class T>
    void raw(const T& v) {
        static_assert(std::is_trivially_copyable_v<T>);
        out.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
    void i32(const char*, const int& v, std::int64_t, std::int64_t) { raw(std::int64_t(v)); }
    void i64(const char*, const std::int64_t& v, std::int64_t, std::int64_t) { raw(v); }
    void u64(const char*, const std::uint64_t& v) { raw(v); }
    void f64(const char*, const double& v) { raw(v); }
    void flag(const char*, const bool& v) { raw(std::uint8_t(v ? 1 : 0)); }
    template <class E>
    void enumeration(const char*, const E& v, int) {
        raw(std::int64_t(static_cast<int>(v)));
    }
    void str(const char*, const std::string& s, std::size_t) {
        raw(std::uint64_t(s.size()));
        out.append(s);
    }
    /// Writes the element count; the caller then visits each element.
    std::size_t count(const char*, std::size_t n, std::size_t) {
        raw(std::uint64_t(n));
        return n;
    }
    template <class T>
    void array(const char*, const T* p, std::size_t n) {
        out.append(reinterpret_cast<const char*>(p), n * sizeof(T));
    }
    template <class Vec>
    void resize(const Vec&, std::size_t) {}
};

class Decoder {
public:
    static constexpr bool decoding = true;
    Decoder(std::string_view in, const std::string& path) : in_(in), path_(path) {}

    [[noreturn]] void bad(const char* field, const std::string& what) const {
        throw std::runtime_error(path_ + ": results from the reader process: " + field + ": " + what);
    }
    void need(const char* field, std::size_t n) const {
        if (n > in_.size() - pos_)
            bad(field, "needs " + std::to_string(n) + " bytes, " + std::to_string(in_.size() - pos_) +
                           " left (truncated or damaged stream)");
    }
    template <class T>
    T raw(const char* field) {
        static_assert(std::is_trivially_copyable_v<T>);
        need(field, sizeof(T));
        T v;
        std::memcpy(&v, in_.data() + pos_, sizeof v);
        pos_ += sizeof v;
        return v;
    }
    void i32(const char* field, int& v, std::int64_t lo, std::int64_t hi) {
        const auto x = raw<std::int64_t>(field);
        if (x < lo || x > hi)
            bad(field, std::to_string(x) + " outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        v = int(x);
    }
    void i64(const char* field, std::int64_t& v, std::int64_t lo, std::int64_t hi) {
        v = raw<std::int64_t>(field);
        if (v < lo || v > hi)
            bad(field, std::to_string(v) + " outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    void u64(const char* field, std::uint64_t& v) { v = raw<std::uint64_t>(field); }
    void f64(const char* field, double& v) { v = raw<double>(field); }
    void flag(const char* field, bool& v) {
        const auto x = raw<std::uint8_t>(field);
        if (x > 1) bad(field, "boolean byte " + std::to_string(x));
        v = x == 1;
    }
    template <class E>
    void enumeration(const char* field, E& v, int n) {
        const auto x = raw<std::int64_t>(field);
        if (x < 0 || x >= n) bad(field, "value " + std::to_string(x) + " outside [0, " + std::to_string(n - 1) + "]");
        v = static_cast<E>(int(x));
    }
    void str(const char* field, std::string& s, std::size_t max) {
        const auto n = raw<std::uint64_t>(field);
        if (n > max) bad(field, "string of " + std::to_string(n) + " bytes, at most " + std::to_string(max));
        need(field, std::size_t(n));
        s.assign(in_.data() + pos_, std::size_t(n));
        pos_ += std::size_t(n);
    }
    /// Reads an element count, at most `max`, each element taking at least `min_bytes` of the
    /// bytes left: what the caller then allocates is bounded by the input's size.
    std::size_t count(const char* field, std::size_t, std::size_t max, std::size_t min_bytes = 1) {
        const auto n = raw<std::uint64_t>(field);
        if (n > max) bad(field, std::to_string(n) + " entries, at most " + std::to_string(max));
        if (n > (in_.size() - pos_) / min_bytes)
            bad(field,
                std::to_string(n) + " entries cannot fit in the " + std::to_string(in_.size() - pos_) + " bytes left");
        return std::size_t(n);
    }
    /// Throws unless n elements of `elem` bytes fit in the bytes left (no overflow).
    void need_elems(const char* field, std::uint64_t n, std::size_t elem) const {
        if (n > (in_.size() - pos_) / elem)
            bad(field, std::to_string(n) + " elements of " + std::to_string(elem) + " bytes, " +
                           std::to_string(in_.size() - pos_) + " bytes left (truncated or damaged stream)");
    }
    template <class T>
    void array(const char* field, T* p, std::size_t n) {
        need_elems(field, n, sizeof(T));
        if (n) std::memcpy(p, in_.data() + pos_, n * sizeof(T));
        pos_ += n * sizeof(T);
    }
    template <class Vec>
    void resize(Vec& v, std::size_t n) {
        v.resize(n);
    }
    void finish() const {
        if (pos_ != in_.size()) bad("end", std::to_string(in_.size() - pos_) + " bytes after the last field");
    }

private:
    std::string_view in_;
    std::size_t pos_ = 0;
    const std::string& path_;
};

// `IO::count` with the element size the decoder should bound by (the encoder ignores it).
template <class IO>
std::size_t count_of(IO& io, const char* field, std::size_t n, std::size_t max, std::size_t min_bytes) {
    if constexpr (IO::decoding)
        return io.count(field, n, max, min_bytes);
    else
        return io.count(field, n, max);
}

template <class IO, class T>
void numbers(IO& io, const char* field, T& v, std::size_t max) {
    using E = typename std::remove_cvref_t<T>::value_type;
    const std::size_t n = count_of(io, field, v.size(), max, sizeof(E));
    io.resize(v, n);
    io.array(field, v.data(), n);
}

template <class IO, class T>
void strings(IO& io, const char* field, T& v, std::size_t max_count, std::size_t max_len) {
    const std::size_t n = count_of(io, field, v.size(), max_count, 8);
    io.resize(v, n);
    for (auto& s : v) io.str(field, s, max_len);
}

template <class IO, class M>
void matrix(IO& io, const char* field, M& m) {
    int rows = int(m.rows()), cols = int(m.cols());
    io.i32(field, rows, 0, kMaxHidden);
    io.i32(field, cols, 0, kMaxHidden);
    if constexpr (IO::decoding) {
        io.need_elems(field, std::uint64_t(rows) * std::uint64_t(cols), sizeof(float));  // both <= 2^20
        m.resize(rows, cols);
    }
    io.array(field, m.data(), std::size_t(rows) * std::size_t(cols));
}

template <class IO, class T>
void tensor(IO& io, const char* field, T& t) {
    std::array<int, 4> dim{};
    for (int k = 0; k < 4; ++k) dim[std::size_t(k)] = int(t.dim[std::size_t(k)]);
    for (int k = 0; k < 4; ++k) io.i32(field, dim[std::size_t(k)], 0, kMaxHidden);
    // Each factor <= 2^20: the product of the first two cannot overflow, and a partial product
    // beyond the bytes left is refused before the next multiplication.
    std::uint64_t n = 1;
    for (int k = 0; k < 4; ++k) {
        n *= std::uint64_t(dim[std::size_t(k)]);
        if constexpr (IO::decoding) io.need_elems(field, n, sizeof(float));
    }
    if constexpr (IO::decoding) {
        for (int k = 0; k < 4; ++k) t.dim[std::size_t(k)] = dim[std::size_t(k)];
        t.data.resize(std::size_t(n));
    }
    io.array(field, t.data.data(), std::size_t(n));
}

template <class IO, class O>
void options(IO& io, O& o) {
    auto& R = o.ranks;
    io.enumeration("options.ranks.kind", R.kind, 4);
    for (auto& r : R.ranks) io.i32("options.ranks.ranks", r, 1, kMaxHidden);
    const std::size_t n = count_of(io, "options.ranks.per_layer", R.per_layer.size(), kMaxLayer, 32);
    if constexpr (IO::decoding) {
        for (std::size_t k = 0; k < n; ++k) {
            int layer = 0;
            std::array<int, 3> r{};
            io.i32("options.ranks.per_layer", layer, 0, kMaxLayer - 1);
            for (auto& x : r) io.i32("options.ranks.per_layer", x, 1, kMaxHidden);
            // In increasing order, as encoded from the map: one stream per result.
            if (!R.per_layer.empty() && layer <= R.per_layer.rbegin()->first)
                io.bad("options.ranks.per_layer", "layer " + std::to_string(layer) + " after layer " +
                                                      std::to_string(R.per_layer.rbegin()->first) +
                                                      " (not increasing)");
            R.per_layer.emplace(layer, r);
        }
    } else {
        for (const auto& [layer, r] : R.per_layer) {
            io.i32("options.ranks.per_layer", layer, 0, 0);
            for (const auto& x : r) io.i32("options.ranks.per_layer", x, 0, 0);
        }
    }
    io.f64("options.ranks.tolerance", R.tolerance);
    io.f64("options.ranks.ratio", R.ratio);
    io.u64("options.ranks.params", R.params);
    auto& T = o.tucker;
    io.enumeration("options.tucker.method", T.method, 3);
    for (auto& r : T.ranks) io.i32("options.tucker.ranks", r, 1, kMaxHidden);
    io.enumeration("options.tucker.init", T.init, 3);
    const std::size_t m = count_of(io, "options.tucker.mode_order", T.mode_order.size(), 3, 8);
    io.resize(T.mode_order, m);
    for (auto& x : T.mode_order) io.i32("options.tucker.mode_order", x, 0, 2);
    io.i32("options.tucker.max_iterations", T.max_iterations, 0, 1 << 30);
    io.f64("options.tucker.tolerance", T.tolerance);
    io.enumeration("options.tucker.solver", T.solver, 2);
    const std::size_t l = count_of(io, "options.layers", o.layers.size(), kMaxLayer, 8);
    io.resize(o.layers, l);
    for (auto& x : o.layers) io.i32("options.layers", x, 0, kMaxLayer - 1);
    io.i32("options.threads", o.threads, 0, 1 << 20);
    io.flag("options.spectra", o.spectra);
    io.flag("options.slice_spectra", o.slice_spectra);
    io.flag("options.balance_slices", o.balance_slices);
    io.flag("options.allow_nonfinite", o.allow_nonfinite);
    io.flag("options.background_priority", o.background_priority);
}

template <class IO, class L>
void layer(IO& io, L& r) {
    io.i32("layer", r.layer, 0, kMaxLayer - 1);
    io.enumeration("layer.status", r.status, 4);
    io.str("layer.message", r.message, 1 << 20);
    strings(io, "layer.warnings", r.warnings, 64, 1 << 16);
    for (auto& x : r.ranks) io.i32("layer.ranks", x, 0, kMaxHidden);
    io.f64("layer.seconds_load", r.seconds_load);
    io.f64("layer.seconds_spectra", r.seconds_spectra);
    io.f64("layer.seconds_decompose", r.seconds_decompose);
    io.f64("layer.seconds_measures", r.seconds_measures);
    io.f64("layer.seconds_total", r.seconds_total);

    auto& T = r.tucker;
    for (std::size_t n = 0; n < 3; ++n) matrix(io, "layer.factors", T.factors[n]);
    tensor(io, "layer.core", T.core);
    for (auto& x : T.ranks) io.i32("layer.tucker.ranks", x, 0, kMaxHidden);
    io.f64("layer.tucker.norm_sq", T.norm_sq);
    io.f64("layer.tucker.core_norm_sq", T.core_norm_sq);
    io.f64("layer.tucker.rel_error", T.rel_error);
    numbers(io, "layer.tucker.trace", T.trace, std::size_t(1) << 30);
    io.i32("layer.tucker.iterations", T.iterations, 0, 1 << 30);
    io.enumeration("layer.tucker.status", T.status, 4);
    io.f64("layer.tucker.seconds", T.seconds);

    auto& M = r.measures;
    io.f64("layer.measures.rel_error", M.rel_error);
    for (auto& x : M.type_error) io.f64("layer.measures.type_error", x);
    const std::size_t nh = count_of(io, "layer.measures.head_type_error", M.head_type_error.size(), kMaxHeads, 32);
    io.resize(M.head_type_error, nh);
    for (auto& a : M.head_type_error) io.array("layer.measures.head_type_error", a.data(), 4);
    numbers(io, "layer.measures.head_error", M.head_error, kMaxHeads);
    const std::size_t ns = count_of(io, "layer.measures.head_type_sv", M.head_type_sv.size(), kMaxHeads, 32);
    io.resize(M.head_type_sv, ns);
    for (auto& a : M.head_type_sv)
        for (auto& v : a) numbers(io, "layer.measures.head_type_sv", v, kMaxHeadDim);
    for (auto& x : M.captured_energy) io.f64("layer.measures.captured_energy", x);
    io.u64("layer.measures.original_params", M.original_params);
    io.u64("layer.measures.compressed_params", M.compressed_params);
    io.f64("layer.measures.ratio", M.ratio);
    io.f64("layer.measures.head_original_params", M.head_original_params);
    io.f64("layer.measures.head_compressed_params", M.head_compressed_params);
    io.f64("layer.measures.head_ratio", M.head_ratio);

    bool has_spectra = r.spectra.has_value();
    io.flag("layer.spectra", has_spectra);
    if constexpr (IO::decoding) {
        if (has_spectra) r.spectra.emplace();
    }
    if (has_spectra) {
        auto& S = *r.spectra;
        io.f64("layer.spectra.norm_sq", S.norm_sq);
        for (auto& sv : S.singular_values) numbers(io, "layer.spectra.singular_values", sv, kMaxHidden);
    }
}

template <class IO, class F>
void fields(IO& io, F& f) {
    auto& M = f.meta;
    io.i32("format_version", M.format_version, 1, kHdf5FormatVersion);
    io.str("tool_version", M.tool_version, 256);
    io.str("created_utc", M.created_utc, 256);
    io.str("architecture", M.architecture, 256);
    io.str("model_type", M.model_type, 256);
    io.i32("shape.d", M.shape.d, 1, kMaxHidden);
    io.i32("shape.dv", M.shape.dv, 1, kMaxHeadDim);
    io.i32("shape.h", M.shape.h, 1, kMaxHeads);
    io.i32("shape.n_kv", M.shape.n_kv, 1, kMaxHeads);
    io.i32("num_layers", M.num_layers, 0, kMaxLayer);
    const std::size_t nk = count_of(io, "kv_head_of_head", M.kv_head_of_head.size(), kMaxHeads, 8);
    io.resize(M.kv_head_of_head, nk);
    for (auto& x : M.kv_head_of_head) io.i32("kv_head_of_head", x, 0, kMaxHeads - 1);
    const std::size_t nm = count_of(io, "mapped_layers", M.mapped_layers.size(), kMaxLayer, 8);
    io.resize(M.mapped_layers, nm);
    for (auto& x : M.mapped_layers) io.i32("mapped_layers", x, 0, kMaxLayer - 1);

    const std::size_t nl = count_of(io, "layouts", M.layouts.size(), kMaxLayer, 56);
    io.resize(M.layouts, nl);
    for (auto& lay : M.layouts) {
        io.i32("layouts.layer", lay.layer, 0, kMaxLayer - 1);
        for (auto& t : lay.part_tensors) io.str("layouts.part_tensors", t, 1 << 16);
        strings(io, "layouts.tensors", lay.tensors, 8, 1 << 16);
        io.str("layouts.dtype", lay.dtype, 16);
    }
    auto& src = M.source;
    io.str("source.path", src.path, 1 << 16);
    io.u64("source.total_bytes", src.total_bytes);
    io.str("source.header_sha256", src.header_sha256, 64);
    strings(io, "source.shard_files", src.shard_files, 1 << 16, 4096);
    numbers(io, "source.shard_bytes", src.shard_bytes, 1 << 16);
    options(io, M.options);

    auto& S = f.summary;
    io.flag("summary.cancelled", S.cancelled);
    io.i32("summary.failed", S.failed, 0, kMaxLayer);
    io.f64("summary.seconds", S.seconds);
    const std::size_t n = count_of(io, "layers", S.layers.size(), kMaxLayer, 128);
    io.resize(S.layers, n);
    for (auto& r : S.layers) layer(io, r);
}

// ---------------------------------------------------------------------------------------
// Sweeps (edits::SweepResult). Bounds as read_sweep_hdf5_in_process enforces them; then
// check_sweep.

constexpr std::uint32_t kSweepWireVersion = 1;
constexpr std::int64_t kBig = std::int64_t(1) << 62;

template <class IO, class V>
void int_list(IO& io, const char* field, V& v, std::size_t max, std::int64_t lo, std::int64_t hi) {
    const std::size_t n = count_of(io, field, v.size(), max, 8);
    io.resize(v, n);
    for (auto& x : v) io.i32(field, x, lo, hi);
}

template <class IO, class R>
void sweep_fields(IO& io, R& r) {
    io.str("model_path", r.model_path, 1 << 16);
    io.str("model_type", r.model_type, 256);
    io.str("text_source", r.text_source, 1 << 16);
    io.str("mc_source", r.mc_source, 1 << 16);
    auto& o = r.options;
    int_list(io, "options.layers", o.layers, kMaxLayer, 0, kMaxLayer - 1);
    const std::size_t nc = count_of(io, "options.choices", o.choices.size(), 1 << 16, 56);
    io.resize(o.choices, nc);
    for (auto& c : o.choices) {
        io.enumeration("options.choices.kind", c.kind, 4);
        for (auto& x : c.ranks) io.i32("options.choices.ranks", x, 1, kMaxHidden);
        const std::size_t np = count_of(io, "options.choices.per_layer", c.per_layer.size(), kMaxLayer, 32);
        if constexpr (IO::decoding) {
            for (std::size_t k = 0; k < np; ++k) {
                int layer = 0;
                std::array<int, 3> rr{};
                io.i32("options.choices.per_layer", layer, 0, kMaxLayer - 1);
                for (auto& x : rr) io.i32("options.choices.per_layer", x, 1, kMaxHidden);
                if (!c.per_layer.empty() && layer <= c.per_layer.rbegin()->first)
                    io.bad("options.choices.per_layer", "layer " + std::to_string(layer) + " not increasing");
                c.per_layer.emplace(layer, rr);
            }
        } else {
            for (const auto& [layer, rr] : c.per_layer) {
                io.i32("options.choices.per_layer", layer, 0, 0);
                for (const auto& x : rr) io.i32("options.choices.per_layer", x, 0, 0);
            }
        }
        io.f64("options.choices.tolerance", c.tolerance);
        io.f64("options.choices.ratio", c.ratio);
        io.u64("options.choices.params", c.params);
    }
    auto& T = o.tucker;
    io.enumeration("options.tucker.method", T.method, 3);
    for (auto& x : T.ranks) io.i32("options.tucker.ranks", x, 1, kMaxHidden);
    io.enumeration("options.tucker.init", T.init, 3);
    int_list(io, "options.tucker.mode_order", T.mode_order, 3, 0, 2);
    io.i32("options.tucker.max_iterations", T.max_iterations, 0, 1 << 30);
    io.f64("options.tucker.tolerance", T.tolerance);
    io.enumeration("options.tucker.solver", T.solver, 2);
    const std::size_t nl = count_of(io, "options.laser", o.laser.size(), 1 << 16, 16);
    io.resize(o.laser, nl);
    for (auto& l : o.laser) {
        io.enumeration("options.laser.matrix", l.matrix, 3);
        io.i32("options.laser.rank", l.rank, 1, 1000000);
    }
    io.flag("options.combine", o.combine);
    io.flag("options.balance_slices", o.balance_slices);
    io.i32("options.ppl.ctx", o.ppl.ctx, 0, 1 << 30);
    io.i32("options.ppl.stride", o.ppl.stride, 0, 1 << 30);
    io.i64("options.ppl.max_tokens", o.ppl.max_tokens, 0, kBig);
    io.u64("options.prefix_cache_bytes", o.prefix_cache_bytes);
    io.i32("options.threads", o.threads, 0, 1 << 20);
    int_list(io, "layers", r.layers, kMaxLayer, 0, kMaxLayer - 1);

    auto& b = r.baseline.ppl;
    io.i32("baseline.ctx", b.ctx, 0, 1 << 30);
    io.i32("baseline.stride", b.stride, 0, 1 << 30);
    io.i64("baseline.n_tokens", b.n_tokens, 0, kBig);
    io.i64("baseline.n_scored", b.n_scored, 0, kBig);
    io.i64("baseline.n_bytes", b.n_bytes, 0, kBig);
    io.f64("baseline.sum_nll", b.sum_nll);
    io.f64("baseline.mean_nll", b.mean_nll);
    io.f64("baseline.perplexity", b.perplexity);
    io.f64("baseline.bits_per_byte", b.bits_per_byte);
    io.f64("baseline.mean_nll_stderr", b.mean_nll_stderr);
    numbers(io, "baseline.window_nll", b.window_nll, std::size_t(1) << 30);
    numbers(io, "baseline.window_scored", b.window_scored, std::size_t(1) << 30);
    bool has_mc = r.baseline.mc.has_value();
    io.flag("baseline.has_mc", has_mc);
    if constexpr (IO::decoding)
        if (has_mc) r.baseline.mc.emplace();
    if (has_mc) {
        auto& m = *r.baseline.mc;
        io.f64("baseline.mc.acc", m.acc);
        io.f64("baseline.mc.acc_stderr", m.acc_stderr);
        io.f64("baseline.mc.acc_norm", m.acc_norm);
        io.f64("baseline.mc.acc_norm_stderr", m.acc_norm_stderr);
        const std::size_t ni = count_of(io, "baseline.mc.items", m.items.size(), std::size_t(1) << 30, 48);
        io.resize(m.items, ni);
        for (auto& it : m.items) {
            numbers(io, "baseline.mc.items.loglik", it.loglik, 1 << 16);
            numbers(io, "baseline.mc.items.bytes", it.bytes, 1 << 16);
            int_list(io, "baseline.mc.items.n_tokens", it.n_tokens, 1 << 16, 0, 1 << 30);
            io.i32("baseline.mc.items.pick", it.pick, 0, 1 << 16);
            io.i32("baseline.mc.items.pick_norm", it.pick_norm, 0, 1 << 16);
            io.i32("baseline.mc.items.answer", it.answer, 0, 1 << 16);
        }
    }

    const std::size_t np = count_of(io, "points", r.points.size(), std::size_t(1) << 30, 200);
    io.resize(r.points, np);
    for (auto& p : r.points) {
        io.i32("points.layer", p.spec.layer, 0, kMaxLayer - 1);
        io.i32("points.choice", p.spec.choice, -1, 1 << 16);
        io.i32("points.laser", p.spec.laser, -1, 1 << 16);
        io.str("points.label", p.label, 1 << 20);
        io.enumeration("points.status", p.status, 4);
        io.str("points.message", p.message, 1 << 20);
        for (auto& x : p.ranks) io.i32("points.ranks", x, 0, kMaxHidden);
        io.f64("points.weight_error", p.weight_error);
        for (auto& x : p.type_error) io.f64("points.type_error", x);
        io.i32("points.iterations", p.iterations, 0, 1 << 30);
        io.f64("points.laser_error", p.laser_error);
        io.f64("points.layer_ratio", p.layer_ratio);
        io.f64("points.model_ratio", p.model_ratio);
        io.f64("points.mean_nll", p.mean_nll);
        io.f64("points.delta_nll", p.delta_nll);
        io.f64("points.delta_nll_stderr", p.delta_nll_stderr);
        io.f64("points.kl_mean", p.kl_mean);
        io.f64("points.kl_p99", p.kl_p99);
        io.f64("points.top1_agreement", p.top1_agreement);
        bool pm = p.mc.has_value();
        io.flag("points.has_mc", pm);
        if constexpr (IO::decoding)
            if (pm) p.mc.emplace();
        if (pm) {
            io.f64("points.mc.acc", p.mc->acc);
            io.f64("points.mc.acc_stderr", p.mc->acc_stderr);
            io.f64("points.mc.acc_norm", p.mc->acc_norm);
            io.f64("points.mc.acc_norm_stderr", p.mc->acc_norm_stderr);
            io.f64("points.mc.delta_acc", p.mc->delta_acc);
            io.f64("points.mc.delta_acc_norm", p.mc->delta_acc_norm);
        }
        io.f64("points.seconds_decompose", p.seconds_decompose);
        io.f64("points.seconds_eval", p.seconds_eval);
    }
    std::uint64_t grid = r.grid_size;
    io.u64("grid_size", grid);
    if constexpr (IO::decoding) r.grid_size = std::size_t(grid);
    io.u64("model_params", r.model_params);
    auto& P = r.prefix;
    io.u64("prefix.budget_bytes", P.budget_bytes);
    io.u64("prefix.used_bytes", P.used_bytes);
    int_list(io, "prefix.layers", P.layers, kMaxLayer, 0, kMaxLayer - 1);
    io.f64("prefix.seconds_baseline", P.seconds_baseline);
    io.f64("prefix.seconds_per_layer", P.seconds_per_layer);
    io.f64("prefix.seconds_saved", P.seconds_saved);
    io.i32("prefix.passes", P.passes, 0, 1 << 30);
    io.flag("prefix.distribution", P.distribution);
    io.flag("cancelled", r.cancelled);
    io.f64("seconds", r.seconds);
}

}  // namespace

std::string encode_results(const ResultsFile& f) {
    Encoder e;
    e.out.append(kResultsWireMagic);
    e.raw(kWireVersion);
    fields(e, f);
    return std::move(e.out);
}

ResultsFile decode_results(std::string_view bytes, const std::string& path) {
    Decoder d(bytes, path);
    if (bytes.substr(0, kResultsWireMagic.size()) != kResultsWireMagic)
        d.bad("magic", "not a results stream (expected '" + std::string(kResultsWireMagic) + "')");
    Decoder body(bytes.substr(kResultsWireMagic.size()), path);
    if (const auto v = body.raw<std::uint32_t>("version"); v != kWireVersion)
        body.bad("version", std::to_string(v) + ", this build reads " + std::to_string(kWireVersion) +
                                " (the reader process is from another build)");
    ResultsFile f;
    f.path = path;
    fields(body, f);
    body.finish();
    check_results(f);
    return f;
}
std::string encode_sweep(const edits::SweepResult& r) {
    Encoder e;
    e.out.append(kSweepWireMagic);
    e.raw(kSweepWireVersion);
    sweep_fields(e, r);
    return std::move(e.out);
}

edits::SweepResult decode_sweep(std::string_view bytes, const std::string& path) {
    Decoder d(bytes, path);
    if (bytes.substr(0, kSweepWireMagic.size()) != kSweepWireMagic)
        d.bad("magic", "not a sweep stream (expected '" + std::string(kSweepWireMagic) + "')");
    Decoder body(bytes.substr(kSweepWireMagic.size()), path);
    if (const auto v = body.raw<std::uint32_t>("version"); v != kSweepWireVersion)
        body.bad("version", std::to_string(v) + ", this build reads " + std::to_string(kSweepWireVersion) +
                                " (the reader process is from another build)");
    edits::SweepResult r;
    sweep_fields(body, r);
    body.finish();
    check_sweep(r, path);
    return r;
}

void check_results(const ResultsFile& f) {
    const auto& M = f.meta;
    const auto& S = M.shape;
    auto bad = [&](const std::string& field, const std::string& what) {
        throw std::runtime_error(f.path + ": " + field + ": " + what);
    };
    auto in = [](std::int64_t v, std::int64_t lo, std::int64_t hi) { return v >= lo && v <= hi; };
    if (!in(S.d, 1, kMaxHidden) || !in(S.dv, 1, kMaxHeadDim) || !in(S.h, 1, kMaxHeads) || !in(S.n_kv, 1, S.h))
        bad("model", "shape d=" + std::to_string(S.d) + " dv=" + std::to_string(S.dv) + " h=" + std::to_string(S.h) +
                         " n_kv=" + std::to_string(S.n_kv) + " out of range");
    if (S.h % S.n_kv != 0)
        bad("model", "num_heads (" + std::to_string(S.h) + ") is not a multiple of num_kv_heads (" +
                         std::to_string(S.n_kv) + ")");
    if (M.kv_head_of_head.size() != std::size_t(S.h))
        bad("model/kv_head_of_head",
            std::to_string(M.kv_head_of_head.size()) + " entries for " + std::to_string(S.h) + " heads");
    for (int i = 0; i < S.h; ++i)
        if (M.kv_head_of_head[std::size_t(i)] != i / S.group())
            bad("model/kv_head_of_head", "entry " + std::to_string(i) + " = " +
                                             std::to_string(M.kv_head_of_head[std::size_t(i)]) + ", expected " +
                                             std::to_string(i / S.group()));
    if (M.source.header_sha256.size() != 64 ||
        M.source.header_sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
        bad("source/header_sha256", "'" + M.source.header_sha256 + "' is not 64 lowercase hex digits");
    for (const auto& lay : M.layouts)
        if (!io::parse_dtype(lay.dtype))
            bad("layers/" + std::to_string(lay.layer) + " weight_dtype", "unknown dtype '" + lay.dtype + "'");
    if (M.source.shard_bytes.size() != M.source.shard_files.size())
        bad("source/shard_bytes", std::to_string(M.source.shard_bytes.size()) + " entries for " +
                                      std::to_string(M.source.shard_files.size()) + " shard files");
    try {
        M.options.ranks.validate();
    } catch (const std::invalid_argument& e) {
        bad("options", std::string("invalid rank options: ") + e.what());
    }
    const auto& layers = f.summary.layers;
    if (M.layouts.size() != layers.size())
        bad("layers", std::to_string(layers.size()) + " layers but " + std::to_string(M.layouts.size()) + " layouts");
    if (f.summary.failed < 0 || std::size_t(f.summary.failed) > layers.size())
        bad("summary",
            "failed = " + std::to_string(f.summary.failed) + " of " + std::to_string(layers.size()) + " layers");
    std::set<int> seen;
    const std::array<std::int64_t, 3> lim{S.d, S.dv, 4};
    for (std::size_t k = 0; k < layers.size(); ++k) {
        const auto& r = layers[k];
        const std::string obj = "layers/" + std::to_string(r.layer);
        if (!in(r.layer, 0, kMaxLayer - 1) || !seen.insert(r.layer).second)
            bad(obj, "layer index out of range or repeated");
        if (M.layouts[k].layer != r.layer) bad(obj, "layout is for layer " + std::to_string(M.layouts[k].layer));
        const bool complete = r.complete();
        for (std::size_t n = 0; n < 3; ++n)
            if (!in(r.ranks[n], complete ? 1 : 0, lim[n]))
                bad(obj + " ranks", "R" + std::to_string(n + 1) + " = " + std::to_string(r.ranks[n]) + " outside [" +
                                        std::to_string(complete ? 1 : 0) + ", " + std::to_string(lim[n]) + "]");
        const auto& T = r.tucker;
        const auto& Me = r.measures;
        const bool any_factor = T.factors[0].size() || T.factors[1].size() || T.factors[2].size() ||
                                !T.core.data.empty() || T.core.dim != std::array<std::int64_t, 4>{0, 0, 0, 0};
        if (!complete) {
            if (any_factor) bad(obj, "has factors but status " + std::string(tucker::status_name(r.status)));
            if (!Me.head_error.empty() || !Me.head_type_error.empty() || !Me.head_type_sv.empty())
                bad(obj, "has per-head measures but status " + std::string(tucker::status_name(r.status)));
            continue;
        }
        if (T.ranks != r.ranks) bad(obj + " tucker ranks", "differ from the layer's ranks");
        if (any_factor) {
            for (std::size_t n = 0; n < 3; ++n)
                if (T.factors[n].rows() != lim[n] || T.factors[n].cols() != r.ranks[n])
                    bad(obj + "/U" + std::to_string(n + 1),
                        std::to_string(T.factors[n].rows()) + " x " + std::to_string(T.factors[n].cols()) +
                            ", expected " + std::to_string(lim[n]) + " x " + std::to_string(r.ranks[n]));
            const std::array<std::int64_t, 4> cd{r.ranks[0], r.ranks[1], r.ranks[2], S.h};
            if (T.core.dim != cd || T.core.data.size() != std::size_t(cd[0] * cd[1] * cd[2] * cd[3]))
                bad(obj + "/core", "dims do not match (R1, R2, R3, h)");
        }
        if (Me.head_error.size() != std::size_t(S.h)) bad(obj + "/head_error", "not one entry per head");
        if (Me.head_type_error.size() != std::size_t(S.h)) bad(obj + "/head_type_error", "not one row per head");
        if (!Me.head_type_sv.empty()) {
            if (Me.head_type_sv.size() != std::size_t(S.h)) bad(obj + "/head_type_sv", "not one entry per head");
            for (const auto& a : Me.head_type_sv)
                for (const auto& v : a)
                    if (v.size() != std::size_t(S.dv)) bad(obj + "/head_type_sv", "not head_dim values per slice");
        }
        if (r.spectra) {
            const std::array<std::int64_t, 4> len{S.d, S.dv, 4, S.h};
            for (std::size_t n = 0; n < 4; ++n)
                if (r.spectra->singular_values[n].size() > std::size_t(len[n]))
                    bad(obj + "/spectra/mode" + std::to_string(n + 1), "more values than the mode size");
        }
    }
}

}  // namespace tllm::exporting
