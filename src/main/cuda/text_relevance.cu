// K4 on CUDA: instruction-to-visual relevance, one launch per pass for the whole batch.
//
// From probabilities: one thread per visual token (grid-stride inside its image) walks the
// image's queries and heads; reads are coalesced along the visual axis.
// From Q/K: pass 1 computes every (head, query) row's causal log-sum-exp into the workspace
// (one warp per row, online softmax over the keys); pass 2 gives each thread one visual token
// and a block of queries, recomputes the logits at that token's position only, reduces over
// heads in registers, and folds its queries into out[v] with an atomic max (or add for MEAN).
// Memory: q_heads * total_queries floats, never Q x L.
#include "common.cuh"

namespace vt::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kQueryBlock = 8;      // queries per thread in pass 2
constexpr int64_t kMaxHeadDim = 256;
constexpr unsigned kChunks = 64;    // blocks per image along the visual axis

// Index of the segment of `offsets` (length count + 1) holding row r.
__device__ int64_t segment_of(const int64_t* offsets, int64_t count, int64_t r) {
    int64_t lo = 0, hi = count - 1;
    while (lo < hi) {
        const int64_t mid = (lo + hi + 1) / 2;
        if (offsets[mid] <= r) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

template <class T>
__global__ void __launch_bounds__(kThreads) prob_kernel(TextRelevanceArgs a, const T* attn) {
    const int64_t b = blockIdx.y;
    int64_t base = 0;  // elements of the images before b
    for (int64_t x = 0; x < b; ++x) {
        base += a.heads * (a.query_offsets[x + 1] - a.query_offsets[x]) * (a.visual_offsets[x + 1] - a.visual_offsets[x]);
    }
    const int64_t nq = a.query_offsets[b + 1] - a.query_offsets[b];
    const int64_t v0 = a.visual_offsets[b], nv = a.visual_offsets[b + 1] - v0;
    const float inv_h = 1.0f / float(a.heads);
    for (int64_t v = blockIdx.x * int64_t(kThreads) + threadIdx.x; v < nv; v += int64_t(gridDim.x) * kThreads) {
        float text = a.text_reduce == VT_REDUCE_MAX ? -INFINITY : 0.0f;
        for (int64_t q = 0; q < nq; ++q) {
            float head = 0.0f;
            for (int64_t h = 0; h < a.heads; ++h) {
                const float p = ld(attn + base + (h * nq + q) * nv + v);
                head = a.head_reduce == VT_REDUCE_MAX ? (h == 0 ? p : fmaxf(head, p)) : head + p * inv_h;
            }
            text = a.text_reduce == VT_REDUCE_MAX ? fmaxf(text, head) : text + head;
        }
        a.out[v0 + v] = nq == 0 ? 0.0f : (a.text_reduce == VT_REDUCE_MAX ? text : text / float(nq));
    }
}

// Pass 1: lse[h * total_queries + r] over keys j <= query_pos[r] of row r's image.
template <class T>
__global__ void __launch_bounds__(kThreads) lse_kernel(TextRelevanceQkArgs a, float* lse) {
    __shared__ float qrow[kWarps][kMaxHeadDim];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t r = int64_t(blockIdx.x) * kWarps + warp, h = blockIdx.y;
    if (r >= a.total_queries) return;
    const T* q = static_cast<const T*>(a.q) + h * a.q_head_stride + r * a.q_token_stride;
    const int64_t b = segment_of(a.query_offsets, a.num_images, r);
    const int64_t kv = h / (a.q_heads / a.kv_heads);
    const T* k = static_cast<const T*>(a.k) + kv * a.k_head_stride + a.key_offsets[b] * a.k_token_stride;
    const int64_t pos = a.query_pos[r];
    const float total = warp_row_lse(qrow[warp], q, a.scale, k, pos + 1, a.k_token_stride, a.head_dim);
    if (lane == 0) lse[h * a.total_queries + r] = total;
}

// Pass 2: grid (visual chunks, query blocks of the widest image, images).
template <class T>
__global__ void __launch_bounds__(kThreads) relevance_kernel(TextRelevanceQkArgs a, const float* lse) {
    const int64_t b = blockIdx.z;
    const int64_t q0 = a.query_offsets[b], nq = a.query_offsets[b + 1] - q0;
    const int64_t r0 = q0 + int64_t(blockIdx.y) * kQueryBlock;
    if (r0 >= q0 + nq) return;
    const int rows = static_cast<int>(min(int64_t(kQueryBlock), q0 + nq - r0));
    const int64_t v0 = a.visual_offsets[b], nv = a.visual_offsets[b + 1] - v0;
    const int64_t group = a.q_heads / a.kv_heads;
    const float inv_h = 1.0f / float(a.q_heads);
    const T* kbase = static_cast<const T*>(a.k) + a.key_offsets[b] * a.k_token_stride;
    int64_t pos[kQueryBlock];
    bool bad = false;  // a row of the block had non-finite logits (lse is NaN): the image's outputs are NaN
    for (int i = 0; i < rows; ++i) {
        pos[i] = a.query_pos[r0 + i];
        for (int64_t h = 0; h < a.q_heads; ++h) bad |= isnan(lse[h * a.total_queries + r0 + i]);
    }
    for (int64_t v = blockIdx.x * int64_t(kThreads) + threadIdx.x; v < nv; v += int64_t(gridDim.x) * kThreads) {
        const int64_t vp = a.visual_pos[v0 + v];
        float head[kQueryBlock];
        for (int i = 0; i < kQueryBlock; ++i) head[i] = 0.0f;
        for (int64_t h = 0; h < a.q_heads; ++h) {
            const T* kv = kbase + (h / group) * a.k_head_stride + vp * a.k_token_stride;
            for (int i = 0; i < rows; ++i) {
                float p = 0.0f;
                if (vp <= pos[i]) {
                    const T* q = static_cast<const T*>(a.q) + h * a.q_head_stride + (r0 + i) * a.q_token_stride;
                    float dot = 0.0f;
                    for (int64_t e = 0; e < a.head_dim; ++e) dot += ld(q + e) * ld(kv + e);
                    p = __expf(dot * a.scale - lse[h * a.total_queries + r0 + i]);
                }
                head[i] = a.head_reduce == VT_REDUCE_MAX ? (h == 0 ? p : fmaxf(head[i], p)) : head[i] + p * inv_h;
            }
        }
        float text = 0.0f;
        for (int i = 0; i < rows; ++i) text = a.text_reduce == VT_REDUCE_MAX ? fmaxf(text, head[i]) : text + head[i];
        if (bad) text = kNaN;  // (fmaxf would drop a NaN)
        if (a.text_reduce == VT_REDUCE_MAX) atomic_max_nonneg(a.out + v0 + v, text);
        else atomicAdd(a.out + v0 + v, text / float(nq));
    }
}

__global__ void __launch_bounds__(kThreads) zero_kernel(TextRelevanceQkArgs a) {
    const int64_t b = blockIdx.y;
    const int64_t v0 = a.visual_offsets[b], nv = a.visual_offsets[b + 1] - v0;
    for (int64_t v = blockIdx.x * int64_t(kThreads) + threadIdx.x; v < nv; v += int64_t(gridDim.x) * kThreads) {
        a.out[v0 + v] = 0.0f;
    }
}

}  // namespace

void text_relevance(const TextRelevanceArgs& a, const Launch& at) {
    constexpr const char* op = "vt_text_relevance";
    DeviceScope scope(at.device, op);
    dispatch_dtype(op, a.dtype, [&](auto tag) {
        using T = decltype(tag);
        prob_kernel<T><<<dim3(kChunks, static_cast<unsigned>(a.num_images)), kThreads, 0, stream_of(at)>>>(
            a, static_cast<const T*>(a.attn));
        check_launch(op, "prob_kernel");
    });
}

void text_relevance_qk(const TextRelevanceQkArgs& a, const Launch& at) {
    constexpr const char* op = "vt_text_relevance_qk";
    if (a.head_dim > kMaxHeadDim) {
        throw Error(VT_ERR_UNSUPPORTED, format("%s: argument 'head_dim' is %lld; the CUDA kernel supports up to %lld", op,
                                               static_cast<long long>(a.head_dim), static_cast<long long>(kMaxHeadDim)));
    }
    DeviceScope scope(at.device, op);
    const cudaStream_t stream = stream_of(at);
    float* lse = static_cast<float*>(a.workspace);
    dispatch_dtype(op, a.dtype, [&](auto tag) {
        using T = decltype(tag);
        // Every visual token starts at 0, the identity of both the max over non-negative
        // probabilities and the sum; images without queries keep it. (The length of `out` is
        // in device memory, so a kernel clears it rather than a memset.)
        zero_kernel<<<dim3(kChunks, static_cast<unsigned>(a.num_images)), kThreads, 0, stream>>>(a);
        check_launch(op, "zero_kernel");
        if (a.total_queries > 0) {
            lse_kernel<T><<<dim3(blocks_for(a.total_queries, kWarps), static_cast<unsigned>(a.q_heads)), kThreads, 0,
                            stream>>>(a, lse);
            check_launch(op, "lse_kernel");
            const unsigned query_blocks = blocks_for(a.total_queries, kQueryBlock);
            relevance_kernel<T><<<dim3(kChunks / 4, query_blocks, static_cast<unsigned>(a.num_images)), kThreads, 0,
                                  stream>>>(a, lse);
            check_launch(op, "relevance_kernel");
        }
    });
}

}  // namespace vt::cuda
