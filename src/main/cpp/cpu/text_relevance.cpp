// K4 on the CPU: instruction-to-visual relevance c_v = text_reduce_q head_reduce_h P[h, q, v].
//
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype.hpp"
#include "core/ops.hpp"
#include "core/parallel.hpp"
#include "cpu/simd.hpp"

namespace vt::cpu {

namespace {

constexpr int64_t kQueryBlock = 16;     // query rows per work item of the Q/K form
constexpr int64_t kColumnBlock = 1024;  // visual tokens per work item of the probability form
constexpr int64_t kParallelElements = 1 << 20;  // elements a thread should get before the pool wakes

// Folds one query's head-reduced row into the running text reduction.
struct TextReducer {
    int32_t mode;
    int64_t queries;
    void start(float* out, int64_t n) const { std::fill(out, out + n, mode == VT_REDUCE_MAX ? -INFINITY : 0.0f); }
    void add(float* out, const float* row, int64_t n) const { simd::fold(mode, row, out, n, false, 1.0f); }
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

// From probabilities: columns (visual tokens) are cut into blocks that run in parallel; in a
// block, each query's rows of all heads are folded (vectorised) into one head-reduced row, which
// is folded into the text reduction.
void text_relevance(const TextRelevanceArgs& a) {
    dispatch_dtype("vt_text_relevance", a.dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* attn = static_cast<const T*>(a.attn);
        const float inv_heads = 1.0f / float(a.heads);
        int64_t base = 0;
        for (int64_t b = 0; b < a.num_images; ++b) {
            const int64_t nq = a.query_offsets[b + 1] - a.query_offsets[b];
            const int64_t nv = a.visual_offsets[b + 1] - a.visual_offsets[b];
            float* out = a.out + a.visual_offsets[b];
            const TextReducer text{a.text_reduce, nq};
            const int64_t blocks = (nv + kColumnBlock - 1) / kColumnBlock;
            const int64_t per_block = std::max<int64_t>(1, a.heads * nq * std::min(nv, kColumnBlock));
            parallel_for(blocks, std::max<int64_t>(1, kParallelElements / per_block), [&](int64_t c0, int64_t c1) {
                std::vector<float> row(static_cast<size_t>(kColumnBlock)), scratch(static_cast<size_t>(kColumnBlock));
                for (int64_t c = c0; c < c1; ++c) {
                    const int64_t v0 = c * kColumnBlock, w = std::min(kColumnBlock, nv - v0);
                    text.start(out + v0, w);
                    for (int64_t q = 0; q < nq; ++q) {
                        for (int64_t h = 0; h < a.heads; ++h) {
                            const float* p = simd::as_floats(attn + base + (h * nq + q) * nv + v0, w, scratch.data());
                            simd::fold(a.head_reduce, p, row.data(), w, h == 0, inv_heads);
                        }
                        text.add(out + v0, row.data(), w);
                    }
                    text.finish(out + v0, w);
                }
            });
            base += a.heads * nq * nv;
        }
    });
}

// The Q/K form. Each kv head's keys, up to the last one any query of the image sees, are packed
// once per image (in parallel over kv heads) and shared by every work item: packing them per
// work item was 21.7% of the instructions at InternVL2 (bench/NOTES.md). A work item is a block
// of kQueryBlock query rows: for each kv head it runs the rows of every query head of that kv
// group through the score micro-kernel over the prefix of packed tiles the block can see (a
// tile past a block's last key holds real keys where a per-block pack held zeros; those scores
// are never read), turns each row into probabilities in place (row max, exp, sum), and reads
// them at the visual positions only. Memory: the packed keys, O(kv_heads * L * d) per image,
// and per work item simd::kRows score rows and [block, N] head accumulators: never O(Q * L).
void text_relevance_qk(const TextRelevanceQkArgs& a) {
    dispatch_dtype("vt_text_relevance_qk", a.dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* q = static_cast<const T*>(a.q);
        const T* k = static_cast<const T*>(a.k);
        const int64_t group = a.q_heads / a.kv_heads, d = a.head_dim;
        const float inv_heads = 1.0f / float(a.q_heads);
        for (int64_t b = 0; b < a.num_images; ++b) {
            const int64_t q0 = a.query_offsets[b], nq = a.query_offsets[b + 1] - q0;
            const int64_t k0 = a.key_offsets[b];
            const int64_t v0 = a.visual_offsets[b], nv = a.visual_offsets[b + 1] - v0;
            const int64_t* vpos = a.visual_pos + v0;
            // Visual tokens are one run of positions in every model we serve: then a row's
            // probabilities are read as one contiguous, vectorised fold instead of a gather.
            bool contiguous = nv > 0;
            for (int64_t v = 1; contiguous && v < nv; ++v) contiguous = vpos[v] == vpos[0] + v;
            const TextReducer text{a.text_reduce, nq};
            const int64_t blocks = (nq + kQueryBlock - 1) / kQueryBlock;
            std::vector<float> partial(static_cast<size_t>(blocks * nv));
            int64_t all_keys = 0;
            for (int64_t r = 0; r < nq; ++r) all_keys = std::max(all_keys, a.query_pos[q0 + r] + 1);
            const int64_t head_size = simd::round_up(all_keys, simd::kTile) * d;
            std::vector<float> packed(static_cast<size_t>(a.kv_heads * head_size));
            parallel_for(a.kv_heads, 1, [&](int64_t g0, int64_t g1) {
                for (int64_t g = g0; g < g1; ++g) {
                    simd::pack_keys(k + g * a.k_head_stride + k0 * a.k_token_stride, a.k_token_stride, all_keys, d,
                                    packed.data() + g * head_size);
                }
            });
            parallel_for(blocks, 1, [&](int64_t w0, int64_t w1) {
                std::vector<float> qblock(static_cast<size_t>(simd::kRows * d)), scores, heads;
                std::vector<int64_t> rows(kQueryBlock);
                for (int64_t w = w0; w < w1; ++w) {
                    const int64_t r0 = q0 + w * kQueryBlock, nr = std::min(kQueryBlock, q0 + nq - r0);
                    int64_t keys = 0;  // the block sees keys [0, max position]
                    for (int64_t r = 0; r < nr; ++r) {
                        rows[r] = r0 + r;
                        keys = std::max(keys, a.query_pos[r0 + r] + 1);
                    }
                    const int64_t kp = simd::round_up(keys, simd::kTile);
                    scores.resize(static_cast<size_t>(simd::kRows * kp));
                    heads.assign(static_cast<size_t>(nr * nv), 0.0f);  // head reduction per row
                    for (int64_t g = 0; g < a.kv_heads; ++g) {
                        const float* head_keys = packed.data() + g * head_size;
                        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
                            for (int64_t c = 0; c < nr; c += simd::kRows) {
                                const int n = static_cast<int>(std::min<int64_t>(simd::kRows, nr - c));
                                simd::pack_rows(q + h * a.q_head_stride, a.q_token_stride, rows.data() + c, n, d, a.scale,
                                                qblock.data());
                                simd::scores(qblock.data(), head_keys, keys, d, scores.data(), kp);
                                for (int r = 0; r < n; ++r) {
                                    const int64_t pos = a.query_pos[rows[c + r]];
                                    float* row = scores.data() + r * kp;
                                    const float inv_sum = 1.0f / simd::softmax_exp(row, pos + 1, "vt_text_relevance_qk", "q/k");
                                    float* acc = heads.data() + (c + r) * nv;
                                    if (contiguous) {
                                        // Tokens past the query's position see p = 0, which leaves the
                                        // zero-initialised accumulator as it is under MEAN and MAX.
                                        const int64_t seen = std::clamp<int64_t>(pos - vpos[0] + 1, 0, nv);
                                        float* p = row + vpos[0];
                                        for (int64_t v = 0; v < seen; ++v) p[v] *= inv_sum;
                                        simd::fold(a.head_reduce, p, acc, seen, h == 0, inv_heads);
                                        continue;
                                    }
                                    for (int64_t v = 0; v < nv; ++v) {
                                        const float p = vpos[v] <= pos ? row[vpos[v]] * inv_sum : 0.0f;
                                        head_add(a.head_reduce, acc[v], p, h, inv_heads);
                                    }
                                }
                            }
                        }
                    }
                    float* block = partial.data() + w * nv;
                    text.start(block, nv);
                    for (int64_t r = 0; r < nr; ++r) text.add(block, heads.data() + r * nv, nv);
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
