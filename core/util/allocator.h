#pragma once
// Process-wide malloc settings for the applications (tensorllm, tensorllm-studio).

namespace tllm::util {

/// Keeps freed tensor blocks below 32 MiB in the malloc heap for reuse instead of returning
/// them to the kernel: mmap threshold 32 MiB (glibc's own ceiling, fixed instead of dynamic)
/// and trim threshold 128 MiB (at most that much free memory is kept at the heap's top).
///
/// Why: a decomposition allocates and frees tensors of the layer's size many times (every
/// mode product of every HOOI sweep). With glibc's defaults the heap is trimmed as soon as
/// more than twice the last freed block is free at its top, so the next tensor of that size
/// comes back as fresh pages, each zero-filled by the kernel at first touch (OpenBLAS's own
/// beta = 0 fill of the output touches them first). On GPT-2-sized layers those page faults
/// are a large share of HOOI's time (docs/performance.md). Blocks of 32 MiB and more
/// (7B layers) are unaffected: they are mmapped either way (tensor::TensorAllocator).
/// Cost: up to 128 MiB of freed memory stays with the process after a large job.
/// Call once, early in main(); a no-op where the C library is not glibc.
void configure_allocator();

}  // namespace tllm::util
