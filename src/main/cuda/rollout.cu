// K3 on CUDA: rollout CLS-row chains from probabilities or from Q/K, and the full matrix.
//
// CLS-row chain: v = e_0, then one step per layer from the top down, v <- v^T B_l (or A_l1).
// A step is one launch over (sequence, block of rows): each block folds its rows' weighted,
// head-averaged attention into a shared-memory row and adds it to the next v with atomics.
// Rows with v_i = 0 are skipped, so the first step reads the CLS row alone.
// Workspace: two [S, M] vectors (+ [S, H, M] row log-sum-exps for the Q/K form).
#include <algorithm>

#include "common.cuh"
#include "core/checked.hpp"

namespace vt::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = 32;  // rows folded by one block of a probability step
constexpr int kWarps = kThreads / 32;
constexpr int64_t kMaxHeadDim = 256;  // Q/K form: one query row per warp in shared memory

using workspace::align256;  // the layout of core/checked.hpp's workspace sizes

bool residual_step(int64_t l, int32_t mode) { return l > 0 || mode == VT_ROLLOUT_ABNAR; }

// Dynamic shared memory above the 48 KiB default needs an opt-in per kernel.
template <class Kernel>
void allow_shared(Kernel kernel, size_t bytes, const char* op) {
    if (bytes > 48 * 1024) {
        check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)), op,
              "cudaFuncSetAttribute(MaxDynamicSharedMemorySize)");
    }
}

// One chain step from probabilities: v_out += rows [i0, i0 + kRowsPerBlock) of v_in^T B (or A).
template <class T>
__global__ void __launch_bounds__(kThreads)
    prob_step_kernel(const T* layer, int64_t heads, int64_t m, bool residual, const float* v_in, float* v_out) {
    extern __shared__ float acc[];  // [m]
    const int64_t s = blockIdx.x;
    const int64_t i0 = int64_t(blockIdx.y) * kRowsPerBlock, i1 = min(i0 + kRowsPerBlock, m);
    const float inv_h = 1.0f / float(heads);
    for (int64_t j = threadIdx.x; j < m; j += kThreads) acc[j] = 0.0f;
    bool any = false;
    for (int64_t i = i0; i < i1; ++i) {
        const float vi = v_in[s * m + i];
        if (vi == 0.0f) continue;
        any = true;
        float w = vi;
        if (residual) {
            float part = 0.0f;
            for (int64_t h = 0; h < heads; ++h) {
                const T* row = layer + ((s * heads + h) * m + i) * m;
                for (int64_t j = threadIdx.x; j < m; j += kThreads) part += ld(row + j);
            }
            const float rowsum = block_reduce(part, SumOp{}, 0.0f) * inv_h;
            w = vi / (rowsum + 1.0f);
            if (threadIdx.x == 0) atomicAdd(v_out + s * m + i, w);
        }
        const float wh = w * inv_h;
        for (int64_t h = 0; h < heads; ++h) {
            const T* row = layer + ((s * heads + h) * m + i) * m;
            for (int64_t j = threadIdx.x; j < m; j += kThreads) acc[j] += wh * ld(row + j);
        }
    }
    if (!any) return;  // uniform over the block
    for (int64_t j = threadIdx.x; j < m; j += kThreads) atomicAdd(v_out + s * m + j, acc[j]);
}

// cls_row = v; importance_i = r_i |V_i| / sum_j r_j |V_j| over patches (one block per sequence).
template <class T>
__global__ void __launch_bounds__(kThreads)
    finish_kernel(const float* v, const T* values, int64_t m, int64_t dv, float* cls_row, float* importance) {
    const int64_t s = blockIdx.x;
    const float* r = v + s * m;
    // In double, as on the CPU: the norms of finite float values can overflow float.
    auto norm = [&](int64_t i) {
        if (!values) return 1.0;
        const T* row = values + (s * m + i) * dv;
        double sq = 0.0;
        for (int64_t e = 0; e < dv; ++e) {
            const double x = ld(row + e);
            sq += x * x;
        }
        return sqrt(sq);
    };
    double part = 0.0;
    for (int64_t i = threadIdx.x; i < m; i += kThreads) {
        cls_row[s * m + i] = r[i];
        if (i >= 1) part += r[i] * norm(i);
    }
    const double total = block_reduce(part, SumOp{}, 0.0);
    for (int64_t i = 1 + threadIdx.x; i < m; i += kThreads) {
        importance[s * (m - 1) + i - 1] = total > 0.0 ? static_cast<float>(r[i] * norm(i) / total) : 0.0f;
    }
}

__global__ void cls_basis_kernel(float* v, int64_t seqs, int64_t m) {
    for (int64_t s = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; s < seqs; s += int64_t(gridDim.x) * blockDim.x) {
        v[s * m] = 1.0f;
    }
}

// v = e_0 for every sequence.
void cls_basis(float* v, int64_t seqs, int64_t m, cudaStream_t stream, const char* op) {
    check(cudaMemsetAsync(v, 0, sizeof(float) * seqs * m, stream), op, "cudaMemsetAsync");
    cls_basis_kernel<<<blocks_for(seqs, kThreads), kThreads, 0, stream>>>(v, seqs, m);
    check_launch(op, "cls_basis_kernel");
}

template <class T>
void finish(const float* v, const void* values, int64_t seqs, int64_t m, int64_t dv, float* cls_row, float* importance,
            cudaStream_t stream, const char* op) {
    finish_kernel<T><<<static_cast<unsigned>(seqs), kThreads, 0, stream>>>(v, static_cast<const T*>(values), m, dv,
                                                                            cls_row, importance);
    check_launch(op, "finish_kernel");
}

// ---- full matrix ----

// B[s] = mean_h A[s, h] (+ I, rows renormalised when residual); one block per (s, row).
template <class T>
__global__ void __launch_bounds__(kThreads)
    build_b_kernel(const T* layer, int64_t heads, int64_t m, bool residual, float* b) {
    const int64_t s = blockIdx.x, i = blockIdx.y;
    const float inv_h = 1.0f / float(heads);
    float* out = b + (s * m + i) * m;
    float part = 0.0f;
    for (int64_t j = threadIdx.x; j < m; j += kThreads) {
        float mean = 0.0f;
        for (int64_t h = 0; h < heads; ++h) mean += ld(layer + ((s * heads + h) * m + i) * m + j);
        mean *= inv_h;
        out[j] = mean;
        part += mean;
    }
    if (!residual) return;
    const float rowsum = block_reduce(part, SumOp{}, 0.0f);
    const float scale = 1.0f / (rowsum + 1.0f);
    for (int64_t j = threadIdx.x; j < m; j += kThreads) out[j] = (out[j] + (j == i ? 1.0f : 0.0f)) * scale;
}

constexpr int kTile = 16;

// C[s] = A[s] B[s] for square m x m matrices; classic shared-memory tiling.
__global__ void batched_matmul_kernel(const float* a, const float* b, float* c, int64_t m) {
    __shared__ float ta[kTile][kTile], tb[kTile][kTile + 1];
    const int64_t s = blockIdx.z;
    const int64_t row = int64_t(blockIdx.y) * kTile + threadIdx.y, col = int64_t(blockIdx.x) * kTile + threadIdx.x;
    const float* as = a + s * m * m;
    const float* bs = b + s * m * m;
    float sum = 0.0f;
    for (int64_t k0 = 0; k0 < m; k0 += kTile) {
        ta[threadIdx.y][threadIdx.x] = row < m && k0 + threadIdx.x < m ? as[row * m + k0 + threadIdx.x] : 0.0f;
        tb[threadIdx.y][threadIdx.x] = k0 + threadIdx.y < m && col < m ? bs[(k0 + threadIdx.y) * m + col] : 0.0f;
        __syncthreads();
        for (int kk = 0; kk < kTile; ++kk) sum += ta[threadIdx.y][kk] * tb[kk][threadIdx.x];
        __syncthreads();
    }
    if (row < m && col < m) c[s * m * m + row * m + col] = sum;
}

// ---- Q/K form ----

struct QkLayout {
    int64_t heads, m, d, seq_stride, head_stride, token_stride;
    float scale;
    __device__ int64_t at(int64_t s, int64_t h, int64_t t) const {
        return s * seq_stride + h * head_stride + t * token_stride;
    }
};

// lse[s, h, i] = logsumexp_j scale * q_i . k_j for rows with v_i != 0; one warp per row.
template <class T>
__global__ void __launch_bounds__(kThreads)
    qk_lse_kernel(const T* q, const T* k, QkLayout L, const float* v, float* lse) {
    __shared__ float qrow[kWarps][kMaxHeadDim];
    const int64_t sh = blockIdx.x, s = sh / L.heads, h = sh % L.heads;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t i = int64_t(blockIdx.y) * kWarps + warp;
    if (i >= L.m || v[s * L.m + i] == 0.0f) return;  // whole warp leaves together
    const float total = warp_row_lse(qrow[warp], q + L.at(s, h, i), L.scale, k + L.at(s, h, 0), L.m, L.token_stride, L.d);
    if (lane == 0) lse[sh * L.m + i] = total;
}

// v_out[j] += sum_i (w_i / H) exp(scale q_i . k_j - lse_i) for the 32 columns j of this block;
// w_i = v_i / 2 for a residual step (B = (A + I) / 2), else v_i. Warps split the rows.
template <class T>
__global__ void __launch_bounds__(kThreads)
    qk_accumulate_kernel(const T* q, const T* k, QkLayout L, bool residual, const float* v_in, const float* lse,
                         float* v_out) {
    extern __shared__ float smem[];
    float* kcols = smem;                   // [32][d + 1]
    float* partial = smem + 32 * (L.d + 1);  // [kWarps][32]
    const int64_t sh = blockIdx.x, s = sh / L.heads, h = sh % L.heads;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t j0 = int64_t(blockIdx.y) * 32;
    for (int64_t x = threadIdx.x; x < 32 * L.d; x += kThreads) {
        const int64_t c = x / L.d, e = x % L.d;
        kcols[c * (L.d + 1) + e] = j0 + c < L.m ? ld(k + L.at(s, h, j0 + c) + e) : 0.0f;
    }
    __syncthreads();
    const float inv_h = 1.0f / float(L.heads);
    const float* vs = v_in + s * L.m;
    const float* kc = kcols + lane * (L.d + 1);
    float acc = 0.0f;
    for (int64_t i = warp; i < L.m; i += kWarps) {
        const float vi = vs[i];
        if (vi == 0.0f) continue;
        const float w = (residual ? 0.5f * vi : vi) * inv_h;
        const T* qi = q + L.at(s, h, i);
        float dot = 0.0f;
        for (int64_t e = 0; e < L.d; ++e) dot += ld(qi + e) * kc[e];
        acc += w * __expf(dot * L.scale - lse[sh * L.m + i]);
    }
    partial[warp * 32 + lane] = acc;
    __syncthreads();
    if (warp == 0 && j0 + lane < L.m) {
        float total = 0.0f;
        for (int w = 0; w < kWarps; ++w) total += partial[w * 32 + lane];
        if (residual && h == 0) total += 0.5f * vs[j0 + lane];  // the identity's share, once
        atomicAdd(v_out + s * L.m + j0 + lane, total);
    }
}

}  // namespace

void rollout(const RolloutArgs& a, const Launch& at) {
    constexpr const char* op = "vt_rollout";
    DeviceScope scope(at.device, op);
    const cudaStream_t stream = stream_of(at);
    const int64_t m = a.tokens;
    char* ws = static_cast<char*>(a.workspace);
    float* v = reinterpret_cast<float*>(ws);
    float* next = reinterpret_cast<float*>(ws + align256(sizeof(float) * a.num_seqs * m));
    dispatch_dtype(op, a.dtype, [&](auto tag) {
        using T = decltype(tag);
        const size_t shared = sizeof(float) * m;
        allow_shared(prob_step_kernel<T>, shared, op);
        cls_basis(v, a.num_seqs, m, stream, op);
        const dim3 grid(static_cast<unsigned>(a.num_seqs), blocks_for(m, kRowsPerBlock));
        for (int64_t l = a.num_layers - 1; l >= 0; --l) {
            check(cudaMemsetAsync(next, 0, sizeof(float) * a.num_seqs * m, stream), op, "cudaMemsetAsync");
            prob_step_kernel<T><<<grid, kThreads, shared, stream>>>(static_cast<const T*>(a.layers[l]), a.heads, m,
                                                                    residual_step(l, a.mode), v, next);
            check_launch(op, "prob_step_kernel");
            std::swap(v, next);
        }
        finish<T>(v, a.values, a.num_seqs, m, a.value_dim, a.cls_row, a.importance, stream, op);
    });
}

void rollout_matrix(const RolloutMatrixArgs& a, const Launch& at) {
    constexpr const char* op = "vt_rollout_matrix";
    DeviceScope scope(at.device, op);
    const cudaStream_t stream = stream_of(at);
    const int64_t m = a.tokens;
    const size_t bytes = sizeof(float) * a.num_seqs * m * m;
    char* ws = static_cast<char*>(a.workspace);
    float* b = reinterpret_cast<float*>(ws);
    float* product = reinterpret_cast<float*>(ws + align256(bytes));
    dispatch_dtype(op, a.dtype, [&](auto tag) {
        using T = decltype(tag);
        const dim3 rows(static_cast<unsigned>(a.num_seqs), static_cast<unsigned>(m));
        const dim3 tiles(blocks_for(m, kTile), blocks_for(m, kTile), static_cast<unsigned>(a.num_seqs));
        for (int64_t l = 0; l < a.num_layers; ++l) {
            const T* layer = static_cast<const T*>(a.layers[l]);
            const bool residual = residual_step(l, a.mode);
            if (l == 0) {  // R = A_l1 (IVTP) or B_l1 (ABNAR)
                build_b_kernel<T><<<rows, kThreads, 0, stream>>>(layer, a.heads, m, residual, a.matrix);
                check_launch(op, "build_b_kernel");
                continue;
            }
            build_b_kernel<T><<<rows, kThreads, 0, stream>>>(layer, a.heads, m, residual, b);
            check_launch(op, "build_b_kernel");
            batched_matmul_kernel<<<tiles, dim3(kTile, kTile), 0, stream>>>(b, a.matrix, product, m);
            check_launch(op, "batched_matmul_kernel");
            check(cudaMemcpyAsync(a.matrix, product, bytes, cudaMemcpyDeviceToDevice, stream), op, "cudaMemcpyAsync");
        }
    });
}

void rollout_qk(const RolloutQkArgs& a, const Launch& at) {
    constexpr const char* op = "vt_rollout_qk";
    if (a.head_dim > kMaxHeadDim) {
        throw Error(VT_ERR_UNSUPPORTED, format("%s: argument 'head_dim' is %lld; the CUDA kernel supports up to %lld", op,
                                               static_cast<long long>(a.head_dim), static_cast<long long>(kMaxHeadDim)));
    }
    DeviceScope scope(at.device, op);
    const cudaStream_t stream = stream_of(at);
    const int64_t m = a.tokens;
    char* ws = static_cast<char*>(a.workspace);
    const size_t vec = align256(sizeof(float) * a.num_seqs * m);
    float* v = reinterpret_cast<float*>(ws);
    float* next = reinterpret_cast<float*>(ws + vec);
    float* lse = reinterpret_cast<float*>(ws + 2 * vec);
    const QkLayout L{a.heads, m, a.head_dim, a.seq_stride, a.head_stride, a.token_stride, a.scale};
    dispatch_dtype(op, a.dtype, [&](auto tag) {
        using T = decltype(tag);
        const size_t shared = sizeof(float) * (32 * (a.head_dim + 1) + kWarps * 32);
        allow_shared(qk_accumulate_kernel<T>, shared, op);
        cls_basis(v, a.num_seqs, m, stream, op);
        const unsigned seq_heads = static_cast<unsigned>(a.num_seqs * a.heads);
        for (int64_t l = a.num_layers - 1; l >= 0; --l) {
            const T* q = static_cast<const T*>(a.q_layers[l]);
            const T* k = static_cast<const T*>(a.k_layers[l]);
            qk_lse_kernel<T><<<dim3(seq_heads, blocks_for(m, kWarps)), kThreads, 0, stream>>>(q, k, L, v, lse);
            check_launch(op, "qk_lse_kernel");
            check(cudaMemsetAsync(next, 0, sizeof(float) * a.num_seqs * m, stream), op, "cudaMemsetAsync");
            qk_accumulate_kernel<T><<<dim3(seq_heads, blocks_for(m, 32)), kThreads, shared, stream>>>(
                q, k, L, residual_step(l, a.mode), v, lse, next);
            check_launch(op, "qk_accumulate_kernel");
            std::swap(v, next);
        }
        finish<T>(v, a.values, a.num_seqs, m, a.value_dim, a.cls_row, a.importance, stream, op);
    });
}

}  // namespace vt::cuda
