// K5 on the CPU: ViT CLS-attention saliency per token, heads reduced, m x m patches summed.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/dtype.hpp"
#include "core/ops.hpp"
#include "core/parallel.hpp"
#include "cpu/simd.hpp"

namespace vt::cpu {

namespace {

// out[token] = sum of the m x m patches of token over a grid x grid row of patch values.
void pool_patches(const float* patch, int64_t grid, int64_t merge, float* out) {
    if (merge == 1) {
        std::copy(patch, patch + grid * grid, out);
        return;
    }
    const int64_t g = grid / merge;
    for (int64_t i = 0; i < g; ++i) {
        for (int64_t j = 0; j < g; ++j) {
            float s = 0.0f;
            for (int64_t da = 0; da < merge; ++da) {
                for (int64_t db = 0; db < merge; ++db) s += patch[(merge * i + da) * grid + merge * j + db];
            }
            out[i * g + j] = s;
        }
    }
}

// Folds head h's row p into the running head reduction acc.
void reduce_head(int32_t mode, float* acc, const float* p, int64_t n, int64_t h, float inv_heads) {
    simd::fold(mode, p, acc, n, h == 0, inv_heads);
}

// Elements a thread should get before the pool is woken: waking it costs tens of microseconds
// on a loaded VM (measured: 13 InternVL tiles, 213k elements, ran faster on one thread).
constexpr int64_t kParallelGrain = 1 << 20;

}  // namespace

void cls_saliency(const ClsSaliencyArgs& a) {
    dispatch_dtype("vt_cls_saliency", a.dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* attn = static_cast<const T*>(a.attn);
        // grid^2 and the tensor sizes fit in int64: the entry point checked them.
        const int64_t patches = a.grid * a.grid, tokens = patches / (a.merge * a.merge);
        const float inv_heads = 1.0f / float(a.heads);
        const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, a.heads * patches));
        parallel_for(a.num_tiles, grain, [&](int64_t t0, int64_t t1) {
            std::vector<float> acc(static_cast<size_t>(patches)), scratch(static_cast<size_t>(patches));
            for (int64_t t = t0; t < t1; ++t) {
                std::fill(acc.begin(), acc.end(), 0.0f);
                for (int64_t h = 0; h < a.heads; ++h) {
                    const T* r = attn + (t * a.heads + h) * a.row_len + a.first_patch;
                    reduce_head(a.head_reduce, acc.data(), simd::as_floats(r, patches, scratch.data()), patches, h,
                                inv_heads);
                }
                pool_patches(acc.data(), a.grid, a.merge, a.out + t * tokens);
            }
        });
    });
}

// The Q/K form: per tile and head one query row against all keys, a matrix-vector product
// (keys read once, as dot products vectorised along head_dim), then the softmax in place.
void cls_saliency_qk(const ClsSaliencyQkArgs& a) {
    dispatch_dtype("vt_cls_saliency_qk", a.dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* q = static_cast<const T*>(a.q_cls);
        const T* k = static_cast<const T*>(a.k);
        const int64_t patches = a.grid * a.grid, tokens = patches / (a.merge * a.merge), d = a.head_dim;
        const float inv_heads = 1.0f / float(a.heads);
        parallel_for(a.num_tiles, 1, [&](int64_t t0, int64_t t1) {
            std::vector<float> acc(static_cast<size_t>(patches)), p(static_cast<size_t>(a.keys)), qv(static_cast<size_t>(d));
            std::vector<float> keys;  // fp16 / bf16 keys of one head as floats
            for (int64_t t = t0; t < t1; ++t) {
                std::fill(acc.begin(), acc.end(), 0.0f);
                for (int64_t h = 0; h < a.heads; ++h) {
                    const T* qh = q + t * a.q_tile_stride + h * a.q_head_stride;
                    const T* kh = k + t * a.k_tile_stride + h * a.k_head_stride;
                    for (int64_t e = 0; e < d; ++e) qv[e] = to_float(qh[e]);
                    if constexpr (std::is_same_v<T, float>) {
                        simd::dot_rows(qv.data(), kh, a.k_token_stride, a.keys, d, a.scale, p.data());
                    } else {
                        keys.resize(static_cast<size_t>(a.keys * d));
                        for (int64_t j = 0; j < a.keys; ++j) {
                            for (int64_t e = 0; e < d; ++e) keys[j * d + e] = to_float(kh[j * a.k_token_stride + e]);
                        }
                        simd::dot_rows(qv.data(), keys.data(), d, a.keys, d, a.scale, p.data());
                    }
                    const float inv_sum = 1.0f / simd::softmax_exp(p.data(), a.keys, "vt_cls_saliency_qk", "q_cls/k");
                    for (int64_t j = 0; j < a.keys; ++j) p[j] *= inv_sum;
                    reduce_head(a.head_reduce, acc.data(), p.data() + a.first_patch, patches, h, inv_heads);
                }
                pool_patches(acc.data(), a.grid, a.merge, a.out + t * tokens);
            }
        });
    });
}

}  // namespace vt::cpu
