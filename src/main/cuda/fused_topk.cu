// K2 on CUDA: one block per tile, one launch for the batch.
//
// Per tile: min / max (and the non-finite check) by block reductions; the fused score f is
// recomputed from the inputs wherever it is needed (cheaper than a scratch buffer at these
// sizes); an MSB-first radix select over order-preserving 32-bit keys finds the K-th largest
// f and how many keys lie strictly above it; one ordered pass with block scans then keeps the
// keys above it and the lowest-index ties, writing ascending global indices. The roundings of
// f are spelled out (__fsub_rn, ...) so that they equal the CPU's contraction-free float code.
#include <cub/block/block_scan.cuh>

#include "common.cuh"
#include "core/normalize.hpp"

namespace vt::cuda {

namespace {

constexpr int kThreads = 256;

// Larger float -> larger key; -0 and +0 share a key, as they compare equal on the CPU.
__device__ __forceinline__ uint32_t order_key(float f) {
    if (f == 0.0f) f = 0.0f;
    const uint32_t bits = __float_as_uint(f);
    return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

template <class T>
struct Tile {
    const T* b;
    const T* c;
    MinMaxNorm nb, nc;
    float wb, wc;
    __device__ float fused(int64_t i) const {
        const float cb = nb(ld(b + i));
        const float cc = c ? nc(ld(c + i)) : 0.0f;
        return __fadd_rn(__fmul_rn(wb, cb), __fmul_rn(wc, cc));
    }
};

// Range of x over [begin, end) and whether every value is finite.
template <class T>
__device__ void range_of(const T* x, int64_t begin, int64_t end, float& lo, float& hi, bool& finite) {
    float l = INFINITY, h = -INFINITY;
    int bad = 0;
    for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
        const float v = ld(x + i);
        bad |= !isfinite(v);
        l = fminf(l, v);
        h = fmaxf(h, v);
    }
    lo = block_reduce(l, MinOp{}, INFINITY);
    hi = block_reduce(h, MaxOp{}, -INFINITY);
    finite = block_reduce(bad, SumOp{}, 0) == 0;
}

template <class T>
__global__ void __launch_bounds__(kThreads) fused_topk_kernel(FusedTopkArgs a) {
    using Scan = cub::BlockScan<int, kThreads>;
    __shared__ typename Scan::TempStorage scan_storage;
    __shared__ unsigned histogram[256];
    __shared__ int64_t out_base_shared;

    const int64_t tile = blockIdx.x;
    const int64_t begin = a.token_offsets[tile], end = a.token_offsets[tile + 1];
    const int64_t n = end - begin;
    const int64_t budget = a.budgets[tile];
    const int64_t k = min(max(budget, int64_t(0)), n);

    // Where this tile's kept indices start: sum of min(K, n) over the tiles before it.
    int64_t before = 0;
    for (int64_t t = threadIdx.x; t < tile; t += kThreads) {
        before += min(max(a.budgets[t], int64_t(0)), a.token_offsets[t + 1] - a.token_offsets[t]);
    }
    before = block_reduce(static_cast<long long>(before), SumOp{}, 0LL);
    if (threadIdx.x == 0) out_base_shared = before;
    __syncthreads();
    int64_t* out = a.kept + out_base_shared;

    // The last tile knows the total: it fills the unused tail of `kept` with -1.
    if (tile == gridDim.x - 1) {
        const int64_t total = a.token_offsets[gridDim.x];
        for (int64_t i = out_base_shared + k + threadIdx.x; i < total; i += kThreads) a.kept[i] = -1;
    }

    Tile<T> f{static_cast<const T*>(a.bottom_up), static_cast<const T*>(a.instruction), {}, {}, 1.0f - a.alpha, a.alpha};
    float lo, hi;
    bool finite_b, finite_c = true;
    range_of(f.b, begin, end, lo, hi, finite_b);
    f.nb = make_min_max_norm(a.normalize, lo, hi);
    if (f.c) {
        range_of(f.c, begin, end, lo, hi, finite_c);
        f.nc = make_min_max_norm(a.normalize, lo, hi);
    }
    if (!finite_b || !finite_c || budget < 0) {  // data error: flag the tile, keep nothing from it
        for (int64_t i = threadIdx.x; i < k; i += kThreads) out[i] = -1;
        if (threadIdx.x == 0) a.kept_per_tile[tile] = -1;
        return;
    }
    if (a.fused) {
        for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) a.fused[i] = f.fused(i);
    }
    if (threadIdx.x == 0) a.kept_per_tile[tile] = k;
    if (k == 0) return;
    if (k == n) {
        for (int64_t i = threadIdx.x; i < n; i += kThreads) out[i] = begin + i;
        return;
    }

    // Radix select of the k-th largest key, 8 bits per pass from the top.
    uint32_t prefix = 0, mask = 0;
    int64_t remaining = k;  // rank of the wanted key among the keys matching prefix
    int64_t above = 0;      // keys known to be strictly larger than the wanted one
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = threadIdx.x; i < 256; i += kThreads) histogram[i] = 0;
        __syncthreads();
        for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
            const uint32_t key = order_key(f.fused(i));
            if ((key & mask) == prefix) atomicAdd(&histogram[(key >> shift) & 0xFFu], 1u);
        }
        __syncthreads();
        // Walk the buckets from the top; every thread does the same 256-step walk (cheap, and
        // it avoids another barrier to broadcast the result).
        int64_t seen = 0;
        int digit = 255;
        for (; digit > 0; --digit) {
            if (seen + histogram[digit] >= remaining) break;
            seen += histogram[digit];
        }
        above += seen;
        remaining -= seen;
        prefix |= uint32_t(digit) << shift;
        mask |= 0xFFu << shift;
        __syncthreads();  // histogram is reset by the next pass
    }
    const uint32_t threshold = prefix;
    const int64_t ties_wanted = k - above;

    // Ordered pass: keep keys above the threshold and the first ties_wanted ties.
    int64_t ties_before = 0, written = 0;
    for (int64_t chunk = begin; chunk < end; chunk += kThreads) {
        const int64_t i = chunk + threadIdx.x;
        uint32_t key = 0;
        int is_tie = 0;
        if (i < end) {
            key = order_key(f.fused(i));
            is_tie = key == threshold;
        }
        int tie_rank, tie_count;
        Scan(scan_storage).ExclusiveSum(is_tie, tie_rank, tie_count);
        __syncthreads();
        const int keep = i < end && (key > threshold || (is_tie && ties_before + tie_rank < ties_wanted));
        int slot, kept_count;
        Scan(scan_storage).ExclusiveSum(keep, slot, kept_count);
        __syncthreads();
        if (keep) out[written + slot] = i;
        ties_before += tie_count;
        written += kept_count;
    }
}

}  // namespace

void fused_topk(const FusedTopkArgs& a, const Launch& at) {
    constexpr const char* op = "vt_fused_topk";
    if (a.num_tiles == 0) return;
    DeviceScope scope(at.device, op);
    dispatch_dtype(op, a.dtype, [&](auto tag) {
        using T = decltype(tag);
        fused_topk_kernel<T><<<static_cast<unsigned>(a.num_tiles), kThreads, 0, stream_of(at)>>>(a);
        check_launch(op, "fused_topk_kernel");
    });
}

}  // namespace vt::cuda
