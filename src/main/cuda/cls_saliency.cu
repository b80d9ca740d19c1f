// K5 on CUDA: ViT CLS-attention saliency with patch pooling, one launch for all tiles.
// From rows: one thread per output token sums its m x m patches of the head-reduced row.
// From Q/K: one block per tile; per head the CLS logits of all keys go to shared memory, are
// softmaxed in place and folded into the head reduction; then the pooling.
#include "common.cuh"
#include "core/checked.hpp"

namespace vt::cuda {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float head_fold(int32_t mode, float acc, float p, int64_t h, float inv_h) {
    return mode == VT_REDUCE_MAX ? (h == 0 ? p : fmaxf(acc, p)) : acc + p * inv_h;
}

template <class T>
__global__ void __launch_bounds__(kThreads) rows_kernel(ClsSaliencyArgs a, const T* attn) {
    const int64_t g = a.grid / a.merge, tokens = g * g;
    const float inv_h = 1.0f / float(a.heads);
    for (int64_t x = blockIdx.x * int64_t(kThreads) + threadIdx.x; x < a.num_tiles * tokens;
         x += int64_t(gridDim.x) * kThreads) {
        const int64_t t = x / tokens, tok = x % tokens, i = tok / g, j = tok % g;
        float sum = 0.0f;
        for (int64_t da = 0; da < a.merge; ++da) {
            for (int64_t db = 0; db < a.merge; ++db) {
                const int64_t patch = (a.merge * i + da) * a.grid + a.merge * j + db;
                float acc = 0.0f;
                for (int64_t h = 0; h < a.heads; ++h) {
                    acc = head_fold(a.head_reduce, acc, ld(attn + (t * a.heads + h) * a.row_len + a.first_patch + patch), h,
                                    inv_h);
                }
                sum += acc;
            }
        }
        a.out[x] = sum;
    }
}

template <class T>
__global__ void __launch_bounds__(kThreads) qk_kernel(ClsSaliencyQkArgs a) {
    extern __shared__ float smem[];
    const int64_t patches = a.grid * a.grid;
    float* logits = smem;               // [keys]
    float* acc = smem + a.keys;         // [patches]
    float* qv = acc + patches;          // [head_dim]
    const int64_t t = blockIdx.x;
    const T* q = static_cast<const T*>(a.q_cls) + t * a.q_tile_stride;
    const T* k = static_cast<const T*>(a.k) + t * a.k_tile_stride;
    const float inv_h = 1.0f / float(a.heads);
    for (int64_t x = threadIdx.x; x < patches; x += kThreads) acc[x] = 0.0f;
    int bad = 0;  // non-finite logits seen: the tile's outputs are NaN (block-uniform after the reduction)
    for (int64_t h = 0; h < a.heads; ++h) {
        __syncthreads();  // qv / logits of the previous head are no longer read
        for (int64_t e = threadIdx.x; e < a.head_dim; e += kThreads) qv[e] = ld(q + h * a.q_head_stride + e) * a.scale;
        __syncthreads();
        float top = -INFINITY;
        for (int64_t j = threadIdx.x; j < a.keys; j += kThreads) {
            const T* kj = k + h * a.k_head_stride + j * a.k_token_stride;
            float dot = 0.0f;
            for (int64_t e = 0; e < a.head_dim; ++e) dot += qv[e] * ld(kj + e);
            logits[j] = dot;
            top = fmaxf(top, dot);
            bad |= !isfinite(dot);
        }
        top = block_reduce(top, MaxOp{}, -INFINITY);
        float part = 0.0f;
        for (int64_t j = threadIdx.x; j < a.keys; j += kThreads) {
            const float e = __expf(logits[j] - top);
            logits[j] = e;
            part += e;
        }
        const float inv_sum = 1.0f / block_reduce(part, SumOp{}, 0.0f);
        for (int64_t x = threadIdx.x; x < patches; x += kThreads) {
            acc[x] = head_fold(a.head_reduce, acc[x], logits[a.first_patch + x] * inv_sum, h, inv_h);
        }
    }
    bad = block_reduce(bad, SumOp{}, 0);  // (also the barrier before the pooling reads acc)
    const int64_t g = a.grid / a.merge, tokens = g * g;
    for (int64_t tok = threadIdx.x; tok < tokens; tok += kThreads) {
        const int64_t i = tok / g, j = tok % g;
        float sum = 0.0f;
        for (int64_t da = 0; da < a.merge; ++da) {
            for (int64_t db = 0; db < a.merge; ++db) sum += acc[(a.merge * i + da) * a.grid + a.merge * j + db];
        }
        a.out[t * tokens + tok] = bad ? kNaN : sum;
    }
}

}  // namespace

void cls_saliency(const ClsSaliencyArgs& a, const Launch& at) {
    constexpr const char* op = "vt_cls_saliency";
    DeviceScope scope(at.device, op);
    const int64_t tokens = a.num_tiles * (a.grid / a.merge) * (a.grid / a.merge);
    dispatch_dtype(op, a.dtype, [&](auto tag) {
        using T = decltype(tag);
        rows_kernel<T><<<blocks_for(tokens, kThreads, 4096), kThreads, 0, stream_of(at)>>>(a, static_cast<const T*>(a.attn));
        check_launch(op, "rows_kernel");
    });
}

void cls_saliency_qk(const ClsSaliencyQkArgs& a, const Launch& at) {
    constexpr const char* op = "vt_cls_saliency_qk";
    DeviceScope scope(at.device, op);
    // (the entry point bounded keys, grid^2 <= keys and head_dim; checked all the same)
    const int64_t floats = checked_add(checked_add(a.keys, checked_mul(a.grid, a.grid, op, "grid", "grid^2"), op,
                                                   "keys", "keys + grid^2"),
                                       a.head_dim, op, "head_dim", "keys + grid^2 + head_dim");
    const size_t shared = sizeof(float) * static_cast<size_t>(floats);
    int max_shared = 0;
    check(cudaDeviceGetAttribute(&max_shared, cudaDevAttrMaxSharedMemoryPerBlockOptin, at.device), op,
          "cudaDeviceGetAttribute");
    if (shared > static_cast<size_t>(max_shared)) {
        throw Error(VT_ERR_UNSUPPORTED, format("%s: %lld keys need %zu bytes of shared memory, the device has %d", op,
                                               static_cast<long long>(a.keys), shared, max_shared));
    }
    dispatch_dtype(op, a.dtype, [&](auto tag) {
        using T = decltype(tag);
        if (shared > 48 * 1024) {
            check(cudaFuncSetAttribute(qk_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)),
                  op, "cudaFuncSetAttribute");
        }
        qk_kernel<T><<<static_cast<unsigned>(a.num_tiles), kThreads, shared, stream_of(at)>>>(a);
        check_launch(op, "qk_kernel");
    });
}

}  // namespace vt::cuda
