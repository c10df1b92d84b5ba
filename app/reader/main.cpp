// tensorllm-read-results: reads one HDF5 results or sweep file and writes it to stdout as a
// byte stream of results/results_wire.h. The GUI and the CLI run it as a helper process
// (results/results_reader_process.h), so that libhdf5, which has memory-safety bugs of its own
// on damaged files, never runs on an untrusted file inside them. Not meant to be run by hand.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "results/hdf5_results.h"
#include "results/results_wire.h"
#include "results/sweep_hdf5.h"
#include "util/layer_list.h"

namespace {

const char* kName = "tensorllm-read-results";

const char* kHelp =
    "usage: tensorllm-read-results [--sweep | --any] [--no-factors] [--layers LIST] [--] FILE.h5\n"
    "\n"
    "Reads an HDF5 results file (tensorllm decompose --h5) and writes it to stdout as a binary\n"
    "stream for tensorllm and tensorllm-studio, which run this program instead of reading the\n"
    "file with libhdf5 in their own process. Limits itself to 600 s of CPU time, no core\n"
    "dump, and (outside sanitizer builds) an address space of 8 GiB plus 4 times the file size.\n"
    "\n"
    "  --sweep   the file is a sweep file (tensorllm sweep --h5); writes a sweep stream\n"
    "  --any     a results or a sweep file, whichever its root attribute 'format' says\n"
    "  --no-factors, --layers   results files only\n"
    "\n"
    "Exit status: 0 written; 1 unreadable or invalid file (one line on stderr, prefixed with\n"
    "'tensorllm-read-results: '); 2 usage error.\n";

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

void limit(int resource, rlim_t value) {
    rlimit r{};
    if (getrlimit(resource, &r) != 0) return;
    if (r.rlim_max != RLIM_INFINITY && r.rlim_max < value) value = r.rlim_max;
    r.rlim_cur = value;
    setrlimit(resource, &r);
}

bool write_all(const std::string& s) {
    const char* p = s.data();
    std::size_t left = s.size();
    while (left > 0) {
        const ssize_t n = ::write(1, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        left -= std::size_t(n);
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    tllm::exporting::Hdf5ReadOptions ropt;
    std::string file;
    enum class Kind { Results, Sweep, Any } kind = Kind::Results;
    try {
        for (std::size_t k = 0; k < args.size(); ++k) {
            const std::string& a = args[k];
            if (a == "--help" || a == "-h") {
                std::fputs(kHelp, stdout);
                return 0;
            } else if (a == "--sweep" && kind == Kind::Results) {
                kind = Kind::Sweep;
            } else if (a == "--any" && kind == Kind::Results) {
                kind = Kind::Any;
            } else if (a == "--no-factors") {
                ropt.factors = false;
            } else if (a == "--layers" && k + 1 < args.size()) {
                ropt.layers = tllm::util::parse_layer_list(args[++k]);
            } else if (a == "--" && k + 2 == args.size()) {
                file = args[++k];
            } else if (!a.empty() && a[0] != '-' && k + 1 == args.size()) {
                file = a;
            } else {
                throw std::invalid_argument("unexpected argument '" + a + "'");
            }
        }
        if (file.empty()) throw std::invalid_argument("no file given");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n%s", kName, e.what(), kHelp);
        return 2;
    }

    limit(RLIMIT_CORE, 0);
    limit(RLIMIT_CPU, 600);
    if (!kSanitized) {
        struct stat st {};
        const rlim_t size = ::stat(file.c_str(), &st) == 0 && st.st_size > 0 ? rlim_t(st.st_size) : 0;
        limit(RLIMIT_AS, (rlim_t(8) << 30) + 4 * size);
    }
    try {
        namespace ex = tllm::exporting;
        if (kind == Kind::Any)
            kind = ex::hdf5_format_in_process(file) == ex::kSweepHdf5Format ? Kind::Sweep : Kind::Results;
        const std::string stream = kind == Kind::Sweep ? ex::encode_sweep(ex::read_sweep_hdf5_in_process(file))
                                                       : ex::encode_results(ex::read_results_hdf5(file, ropt));
        if (!write_all(stream)) {
            std::fprintf(stderr, "%s: %s: writing the results stream: %s\n", kName, file.c_str(), std::strerror(errno));
            return 1;
        }
        return 0;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr,
                     "%s: %s: out of memory while reading it (this helper's address space is limited to 8 GiB plus 4 "
                     "times the file size)\n",
                     kName, file.c_str());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", kName, e.what());
        return 1;
    }
}
