// Shared pieces of the CUDA backend: element loads, dtype dispatch, error checks, launches.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"

namespace vt::cuda {

// The positive quiet NaN: the data-error marker of the CUDA outputs. (Positive, so that it wins
// the integer atomicMax of atomic_max_nonneg and survives.)
constexpr float kNaN = __builtin_nanf("");

// Loads one element as float; the storage types are CUDA's own.
__device__ __forceinline__ float ld(const float* p) { return *p; }
__device__ __forceinline__ float ld(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ float ld(const __nv_bfloat16* p) { return __bfloat162float(*p); }

// Calls fn(T{}) with T the CUDA storage type of `dtype` (the host's switch, core/dtype.hpp).
template <class Fn>
void dispatch_dtype(const char* op, int32_t dtype, Fn&& fn) {
    dispatch_storage<float, __half, __nv_bfloat16>(op, dtype, static_cast<Fn&&>(fn));
}

// Throws VT_ERR_CUDA naming the op and the failed call.
inline void check(cudaError_t err, const char* op, const char* what) {
    if (err != cudaSuccess) {
        throw Error(VT_ERR_CUDA, format("%s: %s failed: %s (%s)", op, what, cudaGetErrorString(err), cudaGetErrorName(err)));
    }
}

// Makes `device` current for the scope of one op and restores the caller's device after.
class DeviceScope {
public:
    DeviceScope(int32_t device, const char* op) {
        check(cudaGetDevice(&previous_), op, "cudaGetDevice");
        if (previous_ != device) check(cudaSetDevice(device), op, "cudaSetDevice");
    }
    ~DeviceScope() {
        int now = previous_;
        if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
    }
    DeviceScope(const DeviceScope&) = delete;
    DeviceScope& operator=(const DeviceScope&) = delete;

private:
    int previous_ = 0;
};

inline cudaStream_t stream_of(const Launch& at) { return static_cast<cudaStream_t>(at.stream); }

// Checks the launch that was just made (configuration errors surface here; faults inside a
// kernel surface at the caller's next synchronisation, as with every CUDA library).
inline void check_launch(const char* op, const char* kernel) { check(cudaGetLastError(), op, kernel); }

inline unsigned blocks_for(int64_t items, int threads, int64_t cap = 65535) {
    int64_t b = (items + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > cap) b = cap;
    return static_cast<unsigned>(b);
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Block-wide reductions for blockDim.x a multiple of 32 (<= 1024); every thread gets the result.
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T identity) {
    __shared__ T partial[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();  // partial[] may still be read by a previous call
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : identity;
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

struct SumOp {
    template <class T>
    __device__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct MinOp {
    __device__ float operator()(float a, float b) const { return fminf(a, b); }
};

// The log-sum-exp of a stream of logits split over the 32 lanes of a warp: each lane add()s
// its share (online: the running max rescales the running sum), then warp_lse() merges the
// lanes; every lane gets the result. A logit that is not finite (Inf / NaN in q or k, or an
// overflowing dot product) makes the result NaN, so that it reaches the outputs: the CUDA path
// reports data errors there (the CPU path returns an error status).
struct OnlineLse {
    float top = -INFINITY, sum = 0.0f;
    bool bad = false;
    __device__ __forceinline__ void add(float x) {
        bad |= !isfinite(x);
        if (x > top) {
            sum = sum * __expf(top - x) + 1.0f;
            top = x;
        } else {
            sum += __expf(x - top);
        }
    }
    __device__ __forceinline__ float warp_lse() const {
        if (__any_sync(0xffffffffu, bad)) return kNaN;
        const float all = warp_max(top);
        const float mine = top == -INFINITY ? 0.0f : sum * __expf(top - all);
        return all + logf(warp_sum(mine));
    }
};

// The log-sum-exp pass of the Q/K forms (K3 and K4), one warp per query row: stages
// scale * q in the warp's shared `row` (head_dim entries), then returns to every lane
// logsumexp_j row . k_j over the keys j in [0, keys) at k + j * key_stride (head_dim
// contiguous). NaN when a logit is not finite (OnlineLse).
template <class T>
__device__ __forceinline__ float warp_row_lse(float* row, const T* q, float scale, const T* k, int64_t keys,
                                              int64_t key_stride, int64_t head_dim) {
    const int lane = threadIdx.x & 31;
    for (int64_t e = lane; e < head_dim; e += 32) row[e] = ld(q + e) * scale;
    __syncwarp();
    OnlineLse acc;
    for (int64_t j = lane; j < keys; j += 32) {
        const T* kj = k + j * key_stride;
        float dot = 0.0f;
        for (int64_t e = 0; e < head_dim; ++e) dot += row[e] * ld(kj + e);
        acc.add(dot);
    }
    return acc.warp_lse();
}

// atomicMax for non-negative floats: their bit patterns order like the values.
__device__ __forceinline__ void atomic_max_nonneg(float* addr, float value) {
    atomicMax(reinterpret_cast<int*>(addr), __float_as_int(value));
}

}  // namespace vt::cuda
