// K1 on CUDA: one block per image, one launch for the batch. Warps compute the cosines
// (fp64 accumulation, as on the CPU), then thread 0 runs the budget arithmetic shared with the
// CPU (core/budget.hpp) on per-tile state in shared memory. Non-finite CLS rows, which the
// CPU path reports as an error, give budgets of -1 here; K2 turns them into an error flag.
#include "common.cuh"
#include "core/budget.hpp"

namespace vt::cuda {

namespace {

constexpr int kThreads = 256;

template <class T>
__device__ double warp_dot(const T* a, const T* b, int64_t n) {
    double s = 0.0;
    for (int64_t i = threadIdx.x & 31; i < n; i += 32) s += double(ld(a + i)) * double(ld(b + i));
    return warp_sum(s);
}

template <class T>
__global__ void __launch_bounds__(kThreads) region_budget_kernel(RegionBudgetArgs a) {
    __shared__ double cosine[kMaxLocalTiles], p[kMaxLocalTiles], x[kMaxLocalTiles];
    __shared__ int64_t cap[kMaxLocalTiles], n[kMaxLocalTiles + 1];
    __shared__ unsigned char state[kMaxLocalTiles];
    __shared__ double g_norm;

    const int64_t b = blockIdx.x;
    const int64_t first = a.tile_offsets[b];
    const int64_t thumb = a.tile_offsets[b + 1] - 1;
    const int64_t local = thumb - first;
    const T* cls = static_cast<const T*>(a.cls);
    const T* g = cls + thumb * a.dim;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = kThreads / 32;

    if (local > kMaxLocalTiles) {  // out of contract (the host checks): fail loudly, not silently
        for (int64_t t = first + threadIdx.x; t <= thumb; t += kThreads) a.budgets[t] = -1;
        return;
    }
    if (warp == 0) {
        const double sq = warp_dot(g, g, a.dim);
        if (lane == 0) g_norm = sqrt(sq);
    }
    for (int64_t t = threadIdx.x; t <= local; t += kThreads) n[t] = a.token_offsets[first + t + 1] - a.token_offsets[first + t];
    __syncthreads();
    for (int64_t t = warp; t < local; t += warps) {
        const T* c = cls + (first + t) * a.dim;
        const double dot = warp_dot(c, g, a.dim);
        const double cc = warp_dot(c, c, a.dim);
        if (lane == 0) {
            cosine[t] = dot / fmax(sqrt(cc) * g_norm, 1e-8);
            a.scores[first + t] = static_cast<float>(cosine[t]);
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        a.scores[thumb] = 1.0f;
        for (int64_t t = 0; t < local; ++t) {
            if (!isfinite(cosine[t])) {  // NaN / Inf in the CLS rows: budgets of -1 flag the image
                for (int64_t u = 0; u <= local; ++u) a.budgets[first + u] = -1;
                return;
            }
        }
        image_budgets(local, cosine, n, a.keep_ratio, a.temperature, a.min_per_tile, p, x, cap, state,
                      a.weights + first, a.budgets + first);
    }
}

}  // namespace

void region_budget(const RegionBudgetArgs& a, const Launch& at) {
    constexpr const char* op = "vt_region_budget";
    DeviceScope scope(at.device, op);
    dispatch_dtype(op, a.dtype, [&](auto tag) {
        using T = decltype(tag);
        region_budget_kernel<T><<<static_cast<unsigned>(a.num_images), kThreads, 0, stream_of(at)>>>(a);
        check_launch(op, "region_budget_kernel");
    });
}

}  // namespace vt::cuda
