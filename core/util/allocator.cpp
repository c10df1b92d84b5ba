#include "util/allocator.h"

#include <cstdlib>  // any C library header defines __GLIBC__ (features.h)

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tllm::util {

void configure_allocator() {
#if defined(__GLIBC__)
    // Setting the mmap threshold also stops glibc's dynamic adjustment of both thresholds, so
    // the trim threshold must be set with it (its default would then be 128 KiB).
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
#endif
}

}  // namespace tllm::util
