// A small persistent thread pool for the CPU kernels.
//
// We do not use OpenMP: LibTorch ships its own OpenMP runtime and a second one in the same
// process oversubscribes the cores and can deadlock at fork. The pool is created on first
// use; the calling thread takes part in the work. A call made while the pool is busy (another
// host thread is inside parallel_for, or a nested call from a worker) runs inline on the
// caller, so concurrent requests of a Java service never wait on each other's kernels.
#pragma once

#include <cstdint>
#include <functional>

namespace vt {

// The most threads the pool runs: enough for any CPU this library targets, and a bound on what
// a request can make the process spawn (each thread costs a stack and ~20 us to start).
// vt_set_num_threads rejects more; VTPRUNE_NUM_THREADS and the hardware count are capped.
constexpr int32_t kMaxThreads = 256;

int32_t num_threads();
void set_num_threads(int32_t threads);

// Calls fn(begin, end) on disjoint chunks covering [0, n). Chunks hold at least `grain`
// items; with fewer than 2 * grain items the whole range runs inline on the caller.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace vt
