// K3 on the CPU: attention-rollout chains (IVTP eq. 3) and importance (eq. 4).
//
// Only the CLS row of R = B_l2 ... B_l1+1 A_l1 is needed, so the chain runs as vector-matrix
// products from the top layer down: v = e_0, v <- v^T B_l, ..., r = v^T A_l1. With
// B_l = rownorm(A_l + I), (v^T B)_j = sum_i w_i A[i, j] + w_j, w_i = v_i / (rowsum_i + 1):
// one pass over each layer's rows, and rows with v_i = 0 are skipped (the first step reads
// only the CLS row). Heads are averaged on the fly, never materialised.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype.hpp"
#include "core/ops.hpp"
#include "core/parallel.hpp"
#include "cpu/simd.hpp"

namespace vt::cpu {

namespace {

constexpr int64_t kRowBlock = 64;  // rows per work item; partial sums are combined in order

template <class T>
struct LayerView {
    const T* data;  // [S, H, M, M]
    int64_t heads, m;
    const T* row(int64_t seq, int64_t head, int64_t i) const { return data + ((seq * heads + head) * m + i) * m; }
};

// out[j] += the contribution of rows [i0, i1) to v^T B (residual) or v^T A (plain). All heads
// of a row are viewed as floats first, since the residual weight needs their sum.
template <class T>
void accumulate_rows(const LayerView<T>& A, int64_t seq, const float* v, int64_t i0, int64_t i1, bool residual,
                     float* out, std::vector<float>& scratch) {
    const int64_t m = A.m, heads = A.heads;
    const float inv_h = 1.0f / float(heads);
    scratch.resize(static_cast<size_t>(heads * m));
    std::vector<const float*> rows(static_cast<size_t>(heads));
    for (int64_t i = i0; i < i1; ++i) {
        if (v[i] == 0.0f) continue;
        float rowsum = 0.0f;
        for (int64_t h = 0; h < heads; ++h) {
            rows[h] = simd::as_floats(A.row(seq, h, i), m, scratch.data() + h * m);
            if (residual) rowsum += simd::sum(rows[h], m);
        }
        float w = v[i];
        if (residual) {
            w = v[i] / (rowsum * inv_h + 1.0f);
            out[i] += w;
        }
        for (int64_t h = 0; h < heads; ++h) simd::axpy(w * inv_h, rows[h], out, m);
    }
}

// v <- sum over rows of row_fn's contributions, for every sequence; v is [S, M]. Rows are cut
// into blocks that run in parallel into partial vectors, summed in a fixed order so that the
// result does not depend on the thread count.
template <class RowFn>
void chain_step(int64_t seqs, int64_t m, std::vector<float>& v, RowFn&& row_fn) {
    const int64_t blocks = (m + kRowBlock - 1) / kRowBlock;
    std::vector<float> partial(static_cast<size_t>(seqs * blocks * m), 0.0f);
    parallel_for(seqs * blocks, 1, [&](int64_t w0, int64_t w1) {
        for (int64_t w = w0; w < w1; ++w) {
            const int64_t s = w / blocks, blk = w % blocks;
            row_fn(s, v.data() + s * m, blk * kRowBlock, std::min(m, (blk + 1) * kRowBlock), partial.data() + w * m);
        }
    });
    for (int64_t s = 0; s < seqs; ++s) {
        float* out = v.data() + s * m;
        std::fill(out, out + m, 0.0f);
        for (int64_t blk = 0; blk < blocks; ++blk) {
            const float* p = partial.data() + (s * blocks + blk) * m;
            for (int64_t j = 0; j < m; ++j) out[j] += p[j];
        }
    }
}

// S_i = r_i |V_i| / sum_j r_j |V_j| over patches i >= 1 (r_i / sum r without values). In
// double: the norms of finite float values can overflow float (|V| of 1e38 entries), which made
// the importance NaN with OK. Non-finite values are bad input.
void importance(const float* cls_row, const void* values, int32_t dtype, int64_t value_dim, int64_t seqs, int64_t m,
                float* out) {
    std::vector<double> norms(static_cast<size_t>(m), 1.0);
    for (int64_t s = 0; s < seqs; ++s) {
        if (values) {
            dispatch_dtype("vt_rollout", dtype, [&](auto tag) {
                using T = decltype(tag);
                const T* vs = static_cast<const T*>(values) + s * m * value_dim;
                for (int64_t i = 0; i < m; ++i) {
                    double sq = 0.0;
                    for (int64_t e = 0; e < value_dim; ++e) {
                        const double x = to_float(vs[i * value_dim + e]);
                        sq += x * x;
                    }
                    if (!std::isfinite(sq)) {
                        invalid_argument("vt_rollout", "values",
                                         format("holds a non-finite value (sequence %lld, token %lld)",
                                                static_cast<long long>(s), static_cast<long long>(i)));
                    }
                    norms[i] = std::sqrt(sq);
                }
            });
        }
        const float* r = cls_row + s * m;
        float* o = out + s * (m - 1);
        double total = 0.0;
        for (int64_t i = 1; i < m; ++i) total += r[i] * norms[i];
        for (int64_t i = 1; i < m; ++i) o[i - 1] = total > 0.0 ? static_cast<float>(r[i] * norms[i] / total) : 0.0f;
    }
}

// Whether chain step l (0 = l1) uses B_l = rownorm(A_l + I) or the plain A_l.
bool residual_step(int64_t l, int32_t mode) { return l > 0 || mode == VT_ROLLOUT_ABNAR; }

}  // namespace

void rollout(const RolloutArgs& a) {
    dispatch_dtype("vt_rollout", a.dtype, [&](auto tag) {
        using T = decltype(tag);
        const int64_t m = a.tokens;
        std::vector<float> v(static_cast<size_t>(a.num_seqs * m), 0.0f);
        for (int64_t s = 0; s < a.num_seqs; ++s) v[s * m] = 1.0f;
        for (int64_t l = a.num_layers - 1; l >= 0; --l) {
            const LayerView<T> A{static_cast<const T*>(a.layers[l]), a.heads, m};
            const bool residual = residual_step(l, a.mode);
            chain_step(a.num_seqs, m, v, [&](int64_t s, const float* vs, int64_t i0, int64_t i1, float* out) {
                thread_local std::vector<float> scratch;
                accumulate_rows(A, s, vs, i0, i1, residual, out, scratch);
            });
        }
        std::copy(v.begin(), v.end(), a.cls_row);
    });
    importance(a.cls_row, a.values, a.dtype, a.value_dim, a.num_seqs, a.tokens, a.importance);
}

void rollout_matrix(const RolloutMatrixArgs& a) {
    dispatch_dtype("vt_rollout_matrix", a.dtype, [&](auto tag) {
        using T = decltype(tag);
        const int64_t m = a.tokens;
        std::vector<float> bmat(static_cast<size_t>(m * m)), next(static_cast<size_t>(m * m));
        for (int64_t s = 0; s < a.num_seqs; ++s) {
            float* R = a.matrix + s * m * m;
            for (int64_t l = 0; l < a.num_layers; ++l) {
                const LayerView<T> A{static_cast<const T*>(a.layers[l]), a.heads, m};
                const bool residual = residual_step(l, a.mode);
                // B = mean_h A (+ I, rows renormalised)
                parallel_for(m, 16, [&](int64_t i0, int64_t i1) {
                    for (int64_t i = i0; i < i1; ++i) {
                        float* b = bmat.data() + i * m;
                        std::fill(b, b + m, 0.0f);
                        for (int64_t h = 0; h < a.heads; ++h) {
                            const T* row = A.row(s, h, i);
                            for (int64_t j = 0; j < m; ++j) b[j] += to_float(row[j]);
                        }
                        float rowsum = 0.0f;
                        for (int64_t j = 0; j < m; ++j) {
                            b[j] /= float(a.heads);
                            rowsum += b[j];
                        }
                        if (residual) {
                            b[i] += 1.0f;
                            for (int64_t j = 0; j < m; ++j) b[j] /= rowsum + 1.0f;
                        }
                    }
                });
                if (l == 0) {  // R = A_l1 (IVTP) or B_l1 I (ABNAR)
                    std::copy(bmat.begin(), bmat.end(), R);
                    continue;
                }
                // R <- B R  (i-k-j order: the inner loop streams rows of R)
                parallel_for(m, 8, [&](int64_t i0, int64_t i1) {
                    for (int64_t i = i0; i < i1; ++i) {
                        float* out = next.data() + i * m;
                        std::fill(out, out + m, 0.0f);
                        for (int64_t k = 0; k < m; ++k) {
                            const float bik = bmat[i * m + k];
                            if (bik == 0.0f) continue;
                            const float* r = R + k * m;
                            for (int64_t j = 0; j < m; ++j) out[j] += bik * r[j];
                        }
                    }
                });
                std::copy(next.begin(), next.end(), R);
            }
        }
    });
}

// The Q/K form, per (sequence, head): the keys are packed once into tiles, the non-zero rows
// of v go through the score micro-kernel kRows at a time, each score row is turned into
// probabilities in place and folded into that pair's partial vector; the partials are summed
// over heads in order. Memory: one packed key block, kRows score rows and one vector per pair.
void rollout_qk(const RolloutQkArgs& a) {
    dispatch_dtype("vt_rollout_qk", a.dtype, [&](auto tag) {
        using T = decltype(tag);
        const int64_t m = a.tokens, d = a.head_dim, heads = a.heads, pairs = a.num_seqs * heads;
        const int64_t mp = simd::round_up(m, simd::kTile);
        std::vector<float> v(static_cast<size_t>(a.num_seqs * m), 0.0f);
        std::vector<float> partial(static_cast<size_t>(pairs * m));
        for (int64_t s = 0; s < a.num_seqs; ++s) v[s * m] = 1.0f;
        for (int64_t l = a.num_layers - 1; l >= 0; --l) {
            const T* q = static_cast<const T*>(a.q_layers[l]);
            const T* k = static_cast<const T*>(a.k_layers[l]);
            const bool residual = residual_step(l, a.mode);
            std::fill(partial.begin(), partial.end(), 0.0f);
            parallel_for(pairs, 1, [&](int64_t p0, int64_t p1) {
                std::vector<float> packed(static_cast<size_t>(mp * d)), qblock(static_cast<size_t>(simd::kRows * d)),
                    scores(static_cast<size_t>(simd::kRows * mp));
                std::vector<int64_t> rows;
                for (int64_t p = p0; p < p1; ++p) {
                    const int64_t s = p / heads, h = p % heads;
                    const int64_t base = s * a.seq_stride + h * a.head_stride;
                    const float* vs = v.data() + s * m;
                    rows.clear();
                    for (int64_t i = 0; i < m; ++i) {
                        if (vs[i] != 0.0f) rows.push_back(i);
                    }
                    if (rows.empty()) continue;
                    simd::pack_keys(k + base, a.token_stride, m, d, packed.data());
                    float* out = partial.data() + p * m;
                    for (size_t r0 = 0; r0 < rows.size(); r0 += simd::kRows) {
                        const int n = static_cast<int>(std::min<size_t>(simd::kRows, rows.size() - r0));
                        simd::pack_rows(q + base, a.token_stride, rows.data() + r0, n, d, a.scale, qblock.data());
                        simd::scores(qblock.data(), packed.data(), m, d, scores.data(), mp);
                        for (int r = 0; r < n; ++r) {
                            float* row = scores.data() + r * mp;
                            const float sum = simd::softmax_exp(row, m, "vt_rollout_qk", "q_layers/k_layers");
                            // Softmax rows sum to 1, so rownorm(A + I) = (A + I) / 2.
                            const float w = residual ? 0.5f * vs[rows[r0 + r]] : vs[rows[r0 + r]];
                            simd::axpy(w / (float(heads) * sum), row, out, m);
                        }
                    }
                }
            });
            for (int64_t s = 0; s < a.num_seqs; ++s) {
                float* vs = v.data() + s * m;
                for (int64_t j = 0; j < m; ++j) vs[j] = residual ? 0.5f * vs[j] : 0.0f;  // the identity's share
                for (int64_t h = 0; h < heads; ++h) simd::axpy(1.0f, partial.data() + (s * heads + h) * m, vs, m);
            }
        }
        std::copy(v.begin(), v.end(), a.cls_row);
    });
    importance(a.cls_row, a.values, a.dtype, a.value_dim, a.num_seqs, a.tokens, a.importance);
}

}  // namespace vt::cpu
