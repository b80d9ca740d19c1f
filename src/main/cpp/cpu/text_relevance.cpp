// K4 on the CPU: instruction-to-visual relevance c_v = text_reduce_q head_reduce_h P[h, q, v].
//
// The Q/K form never holds more than one query row of scores per work item: for each query
// and head it computes the causal row of scores over the image's keys, its log-sum-exp, and
// reads the probabilities at the visual positions only.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype.hpp"
#include "core/ops.hpp"
#include "core/parallel.hpp"

namespace vt::cpu {

namespace {

constexpr int64_t kQueryBlock = 8;  // queries per work item of the Q/K form

// Folds one query's head-reduced row into the running text reduction.
struct TextReducer {
    int32_t mode;
    int64_t queries;
    void start(float* out, int64_t n) const { std::fill(out, out + n, mode == VT_REDUCE_MAX ? -INFINITY : 0.0f); }
    void add(float* out, const float* row, int64_t n) const {
        if (mode == VT_REDUCE_MAX) {
            for (int64_t v = 0; v < n; ++v) out[v] = std::max(out[v], row[v]);
        } else {
            for (int64_t v = 0; v < n; ++v) out[v] += row[v];
        }
    }
    void finish(float* out, int64_t n) const {
        for (int64_t v = 0; v < n; ++v) {
            if (queries == 0) out[v] = 0.0f;  // no instruction: no relevance
            else if (mode == VT_REDUCE_MEAN) out[v] /= float(queries);
        }
    }
};

// Head reduction of one value into a row accumulator.
inline void head_add(int32_t mode, float& acc, float p, int64_t h, float inv_heads) {
    if (mode == VT_REDUCE_MAX) acc = h == 0 ? p : std::max(acc, p);
    else acc += p * inv_heads;
}

}  // namespace

void text_relevance(const TextRelevanceArgs& a) {
    dispatch_dtype("vt_text_relevance", a.dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* attn = static_cast<const T*>(a.attn);
        const float inv_heads = 1.0f / float(a.heads);
        int64_t base = 0;
        std::vector<float> row;
        for (int64_t b = 0; b < a.num_images; ++b) {
            const int64_t nq = a.query_offsets[b + 1] - a.query_offsets[b];
            const int64_t nv = a.visual_offsets[b + 1] - a.visual_offsets[b];
            float* out = a.out + a.visual_offsets[b];
            const TextReducer text{a.text_reduce, nq};
            text.start(out, nv);
            row.assign(static_cast<size_t>(nv), 0.0f);
            for (int64_t q = 0; q < nq; ++q) {
                std::fill(row.begin(), row.end(), 0.0f);
                for (int64_t h = 0; h < a.heads; ++h) {
                    const T* p = attn + base + (h * nq + q) * nv;
                    for (int64_t v = 0; v < nv; ++v) head_add(a.head_reduce, row[v], to_float(p[v]), h, inv_heads);
                }
                text.add(out, row.data(), nv);
            }
            text.finish(out, nv);
            base += a.heads * nq * nv;
        }
    });
}

void text_relevance_qk(const TextRelevanceQkArgs& a) {
    dispatch_dtype("vt_text_relevance_qk", a.dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* q = static_cast<const T*>(a.q);
        const T* k = static_cast<const T*>(a.k);
        const int64_t group = a.q_heads / a.kv_heads;
        const float inv_heads = 1.0f / float(a.q_heads);
        for (int64_t b = 0; b < a.num_images; ++b) {
            const int64_t q0 = a.query_offsets[b], nq = a.query_offsets[b + 1] - q0;
            const int64_t k0 = a.key_offsets[b], nk = a.key_offsets[b + 1] - k0;
            const int64_t v0 = a.visual_offsets[b], nv = a.visual_offsets[b + 1] - v0;
            const int64_t* vpos = a.visual_pos + v0;
            const TextReducer text{a.text_reduce, nq};
            const int64_t blocks = (nq + kQueryBlock - 1) / kQueryBlock;
            std::vector<float> partial(static_cast<size_t>(blocks * nv));
            parallel_for(blocks, 1, [&](int64_t w0, int64_t w1) {
                std::vector<float> scores(static_cast<size_t>(nk)), row(static_cast<size_t>(nv));
                for (int64_t w = w0; w < w1; ++w) {
                    float* acc = partial.data() + w * nv;
                    text.start(acc, nv);
                    for (int64_t r = q0 + w * kQueryBlock; r < std::min(q0 + nq, q0 + (w + 1) * kQueryBlock); ++r) {
                        const int64_t pos = a.query_pos[r];
                        std::fill(row.begin(), row.end(), 0.0f);
                        for (int64_t h = 0; h < a.q_heads; ++h) {
                            const T* qr = q + h * a.q_head_stride + r * a.q_token_stride;
                            const T* kh = k + (h / group) * a.k_head_stride + k0 * a.k_token_stride;
                            float top = -INFINITY;
                            for (int64_t j = 0; j <= pos; ++j) {
                                const T* kj = kh + j * a.k_token_stride;
                                float dot = 0.0f;
                                for (int64_t e = 0; e < a.head_dim; ++e) dot += to_float(qr[e]) * to_float(kj[e]);
                                scores[j] = a.scale * dot;
                                top = std::max(top, scores[j]);
                            }
                            float sum = 0.0f;
                            for (int64_t j = 0; j <= pos; ++j) sum += std::exp(scores[j] - top);
                            const float lse = top + std::log(sum);
                            for (int64_t v = 0; v < nv; ++v) {
                                const float p = vpos[v] <= pos ? std::exp(scores[vpos[v]] - lse) : 0.0f;
                                head_add(a.head_reduce, row[v], p, h, inv_heads);
                            }
                        }
                        text.add(acc, row.data(), nv);
                    }
                }
            });
            float* out = a.out + v0;
            text.start(out, nv);
            for (int64_t w = 0; w < blocks; ++w) text.add(out, partial.data() + w * nv, nv);
            text.finish(out, nv);
        }
    });
}

}  // namespace vt::cpu
