// C ABI regression tests (issue 13): every case is one call that used to crash, wrap, hang or
// return OK with garbage, and must now fail with a status and a message naming the argument
// (or succeed with the exact result). Usage: vtprune_abi_test [name-filter]
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "check.hpp"
#include "views.hpp"

using vtv::view;

namespace {

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

}  // namespace

// The version the build passed in (pom.xml's) and the ABI of the header the test was built with.
TEST(version_is_reported) { EXPECT_TRUE(std::string(vt_version()) == VTPRUNE_EXPECTED_VERSION); }
TEST(abi_version_matches_the_header) { EXPECT_TRUE(vt_abi_version() == VT_ABI_VERSION); }

/* ---- vt_set_num_threads is bounded ---- */

TEST(thread_count_is_bounded) {
    const int32_t before = vt_get_num_threads();
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_set_num_threads(100000),
                  "vt_set_num_threads: argument 'threads' must be in [1, 256], got 100000");
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_set_num_threads(257), "must be in [1, 256]");
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_set_num_threads(0), "must be in [1, 256]");
    EXPECT_TRUE(vt_get_num_threads() == before);
    EXPECT_OK(vt_set_num_threads(256));
    EXPECT_TRUE(vt_get_num_threads() == 256);
    EXPECT_OK(vt_set_num_threads(before));
}

/* ---- K5: sizes whose products wrap in int64 ---- */

// One tile, one head: attn [1, 1, row_len]; out [1, 1] (every case fails before out is checked).
int32_t saliency_rows(const float* attn, int64_t row_len, int64_t first_patch, int64_t grid, int64_t merge,
                      float* out) {
    const vt_tensor a = view(attn, {1, 1, row_len}), o = view(out, {1, 1});
    const vt_cls_saliency_params p{first_patch, grid, merge, VT_REDUCE_MEAN};
    return vt_cls_saliency(nullptr, &a, &o, &p);
}

TEST(k5_grid_squared_wrapping_to_row_len_is_rejected) {
    // INT64_MAX^2 wraps to 1 = row_len: the old check passed and the pooling read past attn.
    float attn[1] = {1.0f}, out[1] = {0.0f};
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, saliency_rows(attn, 1, 0, kI64Max, kI64Max, out),
                  "argument 'grid' is too large: grid^2 overflows int64");
}

TEST(k5_grid_squared_wrapping_to_zero_is_rejected) {
    // (2^32)^2 wraps to 0: merge^2 too, and tokens = patches / merge^2 divided by zero.
    float attn[1] = {1.0f}, out[1] = {0.0f};
    const int64_t g = int64_t(1) << 32;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, saliency_rows(attn, 0, 0, g, g, out), "grid^2 overflows int64");
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, saliency_rows(attn, 1, 1, g, 1, out), "grid^2 overflows int64");
}

TEST(k5_negative_row_len_is_rejected) {
    // grid = 3037000500: grid^2 wraps negative, and so did the row_len it was compared with.
    float attn[4] = {}, out[4] = {};
    const int64_t g = 3037000500;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, saliency_rows(attn, 4, 0, g, g, out), "argument 'grid'");
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, saliency_rows(attn, int64_t(uint64_t(g) * uint64_t(g)), 0, 2, 1, out),
                  "argument 'attn' must have sizes >= 0");
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, saliency_rows(attn, -3, 1, 2, 1, out), "argument 'attn' must have sizes >= 0");
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, saliency_rows(attn, 3, 1, 2, 1, out),
                  "argument 'attn' must have shape[2] (row_len) = first_patch + grid^2 = 5, got 3");
}

TEST(k5_empty_views_have_any_strides) {
    // [0, 1, 5] with LibTorch's strides [5, 5, 1]: contiguous (no element is addressed), so the
    // call fails on the tile count, not on the layout.
    float out[1];
    const vt_tensor a = vtv::strided(nullptr, VT_FLOAT32, {0, 1, 5}, {5, 5, 1}), o = view(out, {0, 1});
    const vt_cls_saliency_params p{1, 2, 1, VT_REDUCE_MEAN};
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_cls_saliency(nullptr, &a, &o, &p),
                  "argument 'attn.shape[0] (num_tiles)' must be >= 1, got 0");
}

TEST(k5_first_patch_plus_patches_overflow_is_rejected) {
    float attn[1] = {}, out[1] = {};
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, saliency_rows(attn, kI64Max - 3, kI64Max - 2, 2, 1, out),
                  "argument 'first_patch' is too large: first_patch + grid^2 overflows int64");
}

TEST(k5_attn_size_overflow_is_rejected) {
    // row_len fits but num_tiles * heads * row_len does not.
    float attn[1] = {}, out[1] = {};
    const vt_tensor a = view(attn, {int64_t(1) << 40, int64_t(1) << 20, 1 << 10}), o = view(out, {1, 1});
    const vt_cls_saliency_params p{0, 32, 32, VT_REDUCE_MEAN};
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_cls_saliency(nullptr, &a, &o, &p), "argument 'attn' is too large");
}

// K5 from Q/K with head_dim 1: q [tiles, 1, 1], k [tiles, 1, keys, 1] with the given strides.
int32_t saliency_qk(const float* q, const float* k, int64_t tiles, int64_t keys, int64_t q_tile_stride,
                    int64_t k_tile_stride, int64_t k_token_stride, int64_t first_patch, int64_t grid, float* out) {
    const vt_tensor qv = vtv::strided(q, VT_FLOAT32, {tiles, 1, 1}, {q_tile_stride, 1, 1}),
                    kv = vtv::strided(k, VT_FLOAT32, {tiles, 1, keys, 1}, {k_tile_stride, 1, k_token_stride, 1}),
                    ov = view(out, {tiles, 1});
    const vt_cls_saliency_qk_params p{first_patch, grid, grid, VT_REDUCE_MEAN, 1.0f};
    return vt_cls_saliency_qk(nullptr, &qv, &kv, &ov, &p);
}

TEST(k5_qk_grid_and_strides_overflow_are_rejected) {
    float q[4] = {}, k[4] = {}, out[4] = {};
    const int64_t g = int64_t(1) << 32;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, saliency_qk(q, k, 1, 1, 1, 1, 1, 0, g, out), "argument 'grid' is too large");
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, saliency_qk(q, k, 1, 1, 1, 1, 1, 0, kI64Max, out),
                  "argument 'grid' is too large");
    // keys * k_token_stride wraps: the old checks passed.
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, saliency_qk(q, k, 1, int64_t(1) << 40, 1, 1, int64_t(1) << 30, 1, 1, out),
                  "argument 'k' is too large");
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, saliency_qk(q, k, int64_t(1) << 40, 5, int64_t(1) << 30, 5, 1, 1, 2, out),
                  "argument 'q_cls' is too large");
}

TEST(k5_qk_strided_views_are_read_through_their_strides) {
    // Two tiles; q and k interleaved with junk (tile stride 2 for q, token stride 2 for k): the
    // same result as the contiguous copy, and the junk (NaN) is never read.
    const float q[4] = {1.0f, NAN, 2.0f, NAN}, qc[2] = {1.0f, 2.0f};
    const float k[8] = {0.5f, NAN, -0.5f, NAN, 1.0f, NAN, 0.0f, NAN}, kc[4] = {0.5f, -0.5f, 1.0f, 0.0f};
    float out[2] = {-1, -1}, want[2] = {-2, -2};
    EXPECT_OK(saliency_qk(qc, kc, 2, 2, 1, 2, 1, 1, 1, want));
    EXPECT_OK(saliency_qk(q, k, 2, 2, 2, 4, 2, 1, 1, out));
    EXPECT_TRUE(out[0] == want[0] && out[1] == want[1]);
    EXPECT_TRUE(std::fabs(want[0] - 1.0 / (1.0 + std::exp(1.0))) < 1e-6);
    // Head_dim must be contiguous; strides must not be negative.
    const float k2[4] = {};
    const vt_tensor qv = view(qc, {2, 1, 1}), ov = view(out, {2, 1}),
                    kt = vtv::strided(k2, VT_FLOAT32, {2, 1, 1, 2}, {2, 2, 2, 2}),
                    kn = vtv::strided(k2, VT_FLOAT32, {2, 1, 2, 1}, {-2, 2, 1, 1});
    const vt_cls_saliency_qk_params p{1, 1, 1, VT_REDUCE_MEAN, 1.0f};
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_cls_saliency_qk(nullptr, &qv, &kt, &ov, &p),
                  "argument 'k' must have stride 1 in its last dimension, got strides [2, 2, 2, 2]");
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_cls_saliency_qk(nullptr, &qv, &kn, &ov, &p),
                  "argument 'k' must have strides >= 0, got [-2, 2, 1, 1]");
}

TEST(k5_valid_call_still_pools_exactly) {
    // 1 tile, 2 heads, CLS column + 4x4 patches, 2x2 merge: out = mean over heads, summed per 2x2.
    std::vector<float> attn(2 * 17), out(4, -1.0f);
    for (int h = 0; h < 2; ++h) {
        for (int i = 0; i < 17; ++i) attn[h * 17 + i] = float(h * 100 + i);
    }
    const vt_tensor a = view(attn.data(), {1, 2, 17}), o = view(out.data(), {1, 4}), o3 = view(out.data(), {1, 3});
    const vt_cls_saliency_params p{1, 4, 2, VT_REDUCE_MEAN};
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_cls_saliency(nullptr, &a, &o3, &p),
                  "argument 'out' must have shape[1] = 4 ((grid/merge)^2), got 3");
    EXPECT_OK(vt_cls_saliency(nullptr, &a, &o, &p));
    // patch p of head h is h * 100 + 1 + p; the head mean is 51 + p.
    const int tl[4] = {0, 2, 8, 10};
    for (int t = 0; t < 4; ++t) {
        const int p = tl[t];
        EXPECT_TRUE(out[t] == float(4 * 51 + p + (p + 1) + (p + 4) + (p + 5)));
    }
}

/* ---- K4 from Q/K: the CPU path checks the same pointers as the CUDA path ---- */

// One image: 1 query head, head_dim 2, 1 query at key position 1 of 2 keys, 1 visual token at 0.
struct TextQk {
    float q[2] = {1.0f, 0.0f}, k[4] = {0.5f, 0.0f, -0.5f, 0.0f}, out[1] = {-1.0f};
    int64_t query_offsets[2] = {0, 1}, key_offsets[2] = {0, 2}, query_pos[1] = {1};
    int64_t visual_offsets[2] = {0, 1}, visual_pos[1] = {0};
    vt_tensor qv = view(q, {1, 1, 2}), kv = view(k, {1, 2, 2}), qo = view(query_offsets, {2}),
              ko = view(key_offsets, {2}), qp = view(query_pos, {1}), vo = view(visual_offsets, {2}),
              vp = view(visual_pos, {1}), ov = view(out, {1});
    vt_text_relevance_qk_params p{1.0f, VT_REDUCE_MEAN, VT_REDUCE_MAX};

    int32_t run() { return vt_text_relevance_qk(nullptr, &qv, &kv, &qo, &ko, &qp, &vo, &vp, &ov, &p, nullptr, 0); }
};

TEST(k4_qk_valid_call_gives_the_softmax_probability) {
    TextQk t;
    EXPECT_OK(t.run());
    const double want = std::exp(0.5) / (std::exp(0.5) + std::exp(-0.5));
    EXPECT_TRUE(std::fabs(t.out[0] - want) < 1e-6);
}

TEST(k4_qk_null_data_is_rejected) {
    // NULL q used to return OK, reading the query as zeros.
    for (int i = 0; i < 5; ++i) {
        TextQk t;
        vt_tensor* views[5] = {&t.qv, &t.kv, &t.qp, &t.vp, &t.ov};
        const char* names[5] = {"argument 'q' must not have NULL data", "argument 'k' must not have NULL data",
                                "argument 'query_pos' must not have NULL data",
                                "argument 'visual_pos' must not have NULL data", "argument 'out' must not have NULL data"};
        views[i]->data = nullptr;
        EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, t.run(), names[i]);
    }
}

TEST(k4_qk_views_must_agree_with_each_other_and_the_offsets) {
    TextQk t;
    t.ko = view(t.key_offsets, {1});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, t.run(),
                  "argument 'key_offsets' must have shape[0] = 2 (num_images + 1, query_offsets.shape[0]), got 1");
    TextQk u;
    u.kv = view(u.k, {1, 1, 2});  // one key row, but key_offsets end at 2
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, u.run(), "argument 'key_offsets' must end at 1, got 2");
    TextQk w;
    w.kv = view(w.k, {1, 2, 1});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, w.run(), "argument 'k' must have shape[2] = 2 (head_dim, q.shape[2]), got 1");
    TextQk x;
    x.kv.dtype = VT_BFLOAT16;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, x.run(), "argument 'k' must have the dtype of 'q' (0, float32), got 2 (bfloat16)");
}

TEST(k4_qk_empty_batch_needs_no_buffers) {
    // No queries and no visual tokens: nothing is read or written, so NULL data is fine.
    TextQk t;
    t.query_offsets[1] = 0;
    t.visual_offsets[1] = 0;
    t.qv = view(static_cast<const float*>(nullptr), {1, 0, 2});
    t.qp = view(static_cast<const int64_t*>(nullptr), {0});
    t.vp = view(static_cast<const int64_t*>(nullptr), {0});
    t.ov = view(static_cast<const float*>(nullptr), {0});
    EXPECT_OK(t.run());
}

/* ---- Non-finite attention logits from finite (or non-finite) q, k: an error, not OK + NaN ---- */

// K5 from Q/K with 1 tile, 1 head, head_dim 1, keys {CLS, 1 patch}: logits scale * q * k_j.
int32_t saliency_qk_1d(float q, float k0, float k1, float* out) {
    const float qv[1] = {q}, kv[2] = {k0, k1};
    return saliency_qk(qv, kv, 1, 2, 1, 2, 1, 1, 1, out);
}

TEST(k5_qk_overflowing_logits_are_rejected) {
    float out[1] = {-1.0f};
    // 1e30 * 1e30 overflows float32: +Inf (then Inf - Inf = NaN inside the softmax).
    EXPECT_STATUS(VT_ERR_NONFINITE, saliency_qk_1d(1e30f, 1e30f, 0.0f, out),
                  "argument 'q_cls/k' gives non-finite attention logits");
    // Only -Inf: used to pass as probability 0.
    EXPECT_STATUS(VT_ERR_NONFINITE, saliency_qk_1d(1e30f, 0.0f, -1e30f, out), "non-finite attention logits");
    EXPECT_STATUS(VT_ERR_NONFINITE, saliency_qk_1d(NAN, 1.0f, 1.0f, out), "non-finite attention logits");
    EXPECT_STATUS(VT_ERR_NONFINITE, saliency_qk_1d(1.0f, INFINITY, 1.0f, out), "non-finite attention logits");
}

TEST(k5_qk_large_finite_logits_stay_exact) {
    // Logits 80 and -80: exp underflows to 0 for the patch, which is the right answer.
    float out[1] = {-1.0f};
    EXPECT_OK(saliency_qk_1d(8.0f, 10.0f, -10.0f, out));
    EXPECT_TRUE(out[0] >= 0.0f && out[0] < 1e-30f);
    EXPECT_OK(saliency_qk_1d(8.0f, -10.0f, 10.0f, out));
    EXPECT_TRUE(out[0] == 1.0f);
}

TEST(k4_qk_overflowing_logits_are_rejected) {
    TextQk t;
    t.q[0] = 1e30f;
    t.k[0] = 1e30f;
    EXPECT_STATUS(VT_ERR_NONFINITE, t.run(), "argument 'q/k' gives non-finite attention logits");
    TextQk u;
    u.p.scale = 3e38f;  // finite q, k, scale; q . k * scale overflows
    u.q[0] = 4.0f;
    EXPECT_STATUS(VT_ERR_NONFINITE, u.run(), "non-finite attention logits");
}

TEST(k3_qk_overflowing_logits_are_rejected) {
    // 1 sequence, 1 head, 2 tokens, head_dim 1; q = k = 1e30 for both tokens.
    const float q[2] = {1e30f, 1e30f}, k[2] = {1e30f, 1e30f};
    const vt_tensor ql = view(q, {1, 1, 2, 1}), kl = view(k, {1, 1, 2, 1});
    float cls_row[2] = {-1.0f, -1.0f}, importance[1] = {-1.0f};
    const vt_tensor cv = view(cls_row, {1, 2}), iv = view(importance, {1, 1});
    const vt_rollout_qk_params p{1, 1.0f, VT_ROLLOUT_IVTP};
    EXPECT_STATUS(VT_ERR_NONFINITE, vt_rollout_qk(nullptr, &ql, &kl, nullptr, &cv, &iv, &p, nullptr, 0),
                  "argument 'q_layers/k_layers' gives non-finite attention logits");
}

/* ---- K2: a finite tile whose range overflows float ---- */

TEST(k2_normalize_with_overflowing_range_keeps_its_budget) {
    // max - min = Inf: (x - min) / Inf made every fused score NaN or 0 and kept entries unwritten.
    const float b[4] = {FLT_MAX, -FLT_MAX, 0.0f, FLT_MAX / 2};
    const int64_t offsets[2] = {0, 4}, budgets[1] = {2};
    float fused[4] = {-7, -7, -7, -7};
    int64_t kept[4] = {-7, -7, -7, -7}, per_tile[1] = {-7};
    const vt_tensor bv = view(b, {4}), ov = view(offsets, {2}), budv = view(budgets, {1}), fv = view(fused, {4}),
                    kv = view(kept, {4}), pv = view(per_tile, {1});
    const vt_fused_topk_params p{0.0f, 1};
    EXPECT_OK(vt_fused_topk(nullptr, &bv, nullptr, &ov, &budv, &fv, &kv, &pv, &p));
    EXPECT_TRUE(per_tile[0] == 2);
    EXPECT_TRUE(kept[0] == 0 && kept[1] == 3 && kept[2] == -1 && kept[3] == -1);
    EXPECT_TRUE(fused[0] == 1.0f && fused[1] == 0.0f && fused[2] == 0.5f && fused[3] == 0.75f);
}

TEST(k2_names_the_first_non_finite_score_wherever_it_sits) {
    // The fp32 scan runs 4 values at a time and only rescans for the index when an exponent was
    // all ones: a value inside a vector, in the scalar tail, and the first of two must be named.
    float b[13], c[13];
    for (int i = 0; i < 13; ++i) b[i] = c[i] = float(i % 5) - 2.0f;
    const int64_t offsets[3] = {0, 2, 13}, budgets[2] = {1, 3};
    int64_t kept[13], per_tile[2];
    const vt_tensor bv = view(b, {13}), cv = view(c, {13}), ov = view(offsets, {3}), budv = view(budgets, {2}),
                    kv = view(kept, {13}), pv = view(per_tile, {2});
    const vt_fused_topk_params p{0.5f, 1};
    EXPECT_OK(vt_fused_topk(nullptr, &bv, &cv, &ov, &budv, nullptr, &kv, &pv, &p));
    b[12] = NAN;  // tile 1 holds 11 values: 8 in vectors, 3 in the tail
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_fused_topk(nullptr, &bv, &cv, &ov, &budv, nullptr, &kv, &pv, &p),
                  "argument 'bottom_up' holds a non-finite value (nan) at index 12 (tile 1)");
    b[12] = 0.0f;
    c[5] = INFINITY;
    c[9] = -INFINITY;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_fused_topk(nullptr, &bv, &cv, &ov, &budv, nullptr, &kv, &pv, &p),
                  "argument 'instruction' holds a non-finite value (inf) at index 5 (tile 1)");
}

TEST(k2_views_must_agree_with_the_offsets) {
    const float b[4] = {1, 2, 3, 4}, c[4] = {4, 3, 2, 1};
    const int64_t offsets[3] = {0, 2, 4}, short_offsets[3] = {0, 2, 3}, budgets[2] = {1, 1};
    int64_t kept[4], per_tile[2];
    const vt_tensor bv = view(b, {4}), ov = view(offsets, {3}), budv = view(budgets, {2}), kv = view(kept, {4}),
                    pv = view(per_tile, {2});
    const vt_fused_topk_params p{0.5f, 1};
    EXPECT_OK(vt_fused_topk(nullptr, &bv, &bv, &ov, &budv, nullptr, &kv, &pv, &p));
    EXPECT_TRUE(kept[0] == 1 && kept[1] == 3 && per_tile[0] == 1 && per_tile[1] == 1);
    // The offsets end before N: the CPU path checks them against bottom_up's view.
    const vt_tensor sv = view(short_offsets, {3});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_fused_topk(nullptr, &bv, &bv, &sv, &budv, nullptr, &kv, &pv, &p),
                  "vt_fused_topk: argument 'token_offsets' must end at 4, got 3");
    // instruction of another dtype or length, alpha > 0 without it
    vt_tensor cv = view(c, {4});
    cv.dtype = VT_FLOAT16;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_fused_topk(nullptr, &bv, &cv, &ov, &budv, nullptr, &kv, &pv, &p),
                  "argument 'instruction' must have the dtype of 'bottom_up' (0, float32), got 1 (float16)");
    const vt_tensor c3 = view(c, {3});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_fused_topk(nullptr, &bv, &c3, &ov, &budv, nullptr, &kv, &pv, &p),
                  "argument 'instruction' must have shape[0] = 4 (N, bottom_up.shape[0]), got 3");
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_fused_topk(nullptr, &bv, nullptr, &ov, &budv, nullptr, &kv, &pv, &p),
                  "argument 'instruction' must not be NULL when alpha != 0");
    const vt_tensor b1 = view(budgets, {1});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_fused_topk(nullptr, &bv, &bv, &ov, &b1, nullptr, &kv, &pv, &p),
                  "argument 'budgets' must have shape[0] = 2 (num_tiles, token_offsets.shape[0] - 1), got 1");
}

/* ---- K1: budgets at extreme counts, degenerate temperatures ---- */

// One image: `local` local tiles of n[t] tokens (dim-1 CLS values cls[t]) and a thumbnail of
// n[local] tokens whose CLS is 1.
struct Budget {
    int64_t local;
    std::vector<int64_t> offsets;
    std::vector<float> cls;
    std::vector<float> scores, weights;
    std::vector<int64_t> budgets;
    Budget(std::vector<int64_t> n, std::vector<float> c) : local(int64_t(n.size()) - 1), offsets{0}, cls(std::move(c)) {
        for (int64_t x : n) offsets.push_back(offsets.back() + x);
        cls.push_back(1.0f);
        scores.assign(n.size(), -1.0f);
        weights.assign(n.size(), -1.0f);
        budgets.assign(n.size(), -7);
    }
    int32_t run(double keep, double temperature = 1.0) {
        const int64_t tiles[2] = {0, local + 1};
        const vt_tensor c = view(cls.data(), {local + 1, 1}), to = view(tiles, {2}),
                        ko = view(offsets.data(), {local + 2}), s = view(scores.data(), {local + 1}),
                        w = view(weights.data(), {local + 1}), b = view(budgets.data(), {local + 1});
        const vt_region_budget_params p{keep, temperature, 0};
        return vt_region_budget(nullptr, &c, &to, &ko, &s, &w, &b, &p);
    }
    int64_t n(int64_t t) const { return offsets[t + 1] - offsets[t]; }
};

/* ---- Views: the library checks every vt_tensor of a call itself (K1 as the example) ---- */

// A valid K1 call whose views a test then breaks one at a time.
struct BudgetViews {
    float cls[6] = {1, 0, 0, 1, 1, 1};  // 3 tiles of dim 2: 2 local + thumbnail
    int64_t tile_off[2] = {0, 3}, tok_off[4] = {0, 4, 8, 12};
    float scores[3] = {}, weights[3] = {};
    int64_t budgets[3] = {};
    vt_tensor c = view(cls, {3, 2}), to = view(tile_off, {2}), ko = view(tok_off, {4}), s = view(scores, {3}),
              w = view(weights, {3}), b = view(budgets, {3});
    vt_region_budget_params p{0.5, 1.0, 0};
    const vt_tensor* cp = &c;
    const vt_region_budget_params* pp = &p;
    int32_t run() { return vt_region_budget(nullptr, cp, &to, &ko, &s, &w, &b, pp); }
};

TEST(views_valid_call_runs) {
    BudgetViews v;
    EXPECT_OK(v.run());
    EXPECT_TRUE(v.budgets[0] + v.budgets[1] == 4 && v.budgets[2] == 2);
}

TEST(views_null_view_and_params_are_rejected) {
    BudgetViews v;
    v.cp = nullptr;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, v.run(), "vt_region_budget: argument 'cls' must not be NULL (a vt_tensor view)");
    BudgetViews u;
    u.pp = nullptr;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, u.run(), "vt_region_budget: argument 'params' must not be NULL");
}

TEST(views_null_data_is_rejected_unless_empty) {
    BudgetViews v;
    v.w.data = nullptr;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, v.run(), "argument 'weights' must not have NULL data (it has shape [3])");
}

TEST(views_wrong_rank_is_rejected) {
    BudgetViews v;
    v.c = view(v.cls, {6});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, v.run(), "argument 'cls' must have rank 2 [num_tiles, dim], got 1");
    BudgetViews u;
    u.c.ndim = 99;  // beyond VT_MAX_DIMS: rejected before any shape entry is read
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, u.run(), "argument 'cls' must have rank 2 [num_tiles, dim], got 99");
}

TEST(views_inconsistent_sizes_are_rejected) {
    BudgetViews v;
    v.s = view(v.scores, {2});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, v.run(),
                  "argument 'scores' must have shape[0] = 3 (num_tiles, cls.shape[0]), got 2");
    BudgetViews u;
    u.ko = view(u.tok_off, {3});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, u.run(), "argument 'token_offsets' must have shape[0] = 4");
    BudgetViews n;
    n.c.shape[1] = -2;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, n.run(), "argument 'cls' must have sizes >= 0, got shape [num_tiles, dim] = [3, -2]");
}

TEST(views_wrong_dtype_is_rejected) {
    BudgetViews v;
    v.c.dtype = VT_INT64;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, v.run(),
                  "argument 'cls' must have dtype 0 (float32), 1 (float16) or 2 (bfloat16), got 3");
    BudgetViews u;
    u.b.dtype = VT_FLOAT32;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, u.run(), "argument 'budgets' must have dtype 3 (int64), got 0");
    BudgetViews w;
    w.s.dtype = -5;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, w.run(), "argument 'scores' must have dtype 0 (float32), got -5");
}

TEST(views_mixed_devices_are_rejected) {
    BudgetViews v;
    v.w.device = 0;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, v.run(), "argument 'weights' must be on the device of 'cls' (cpu), got cuda:0");
    BudgetViews u;
    u.to.device = -7;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, u.run(), "argument 'tile_offsets' must be on device -1 (cpu) or >= 0 (cuda), got -7");
}

TEST(views_non_contiguous_strides_are_rejected) {
    // cls read as its transpose: [3, 2] with strides [1, 3] is a column-major view.
    BudgetViews v;
    v.c.strides[0] = 1;
    v.c.strides[1] = 3;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, v.run(),
                  "argument 'cls' must be contiguous (row-major strides [2, 1] for shape [3, 2]), got strides [1, 3]");
    BudgetViews u;
    u.s.strides[0] = 2;  // every other float
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, u.run(), "argument 'scores' must be contiguous");
    BudgetViews w;  // a dimension of size 1 may have any stride
    w.c = view(w.cls, {3, 1});
    w.c.strides[1] = 77;
    w.c.strides[0] = 2;  // ... but the rows must still follow on
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, w.run(), "argument 'cls' must be contiguous");
}

TEST(views_reserved_field_must_be_zero) {
    BudgetViews v;
    v.ko.reserved = 1;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, v.run(), "argument 'token_offsets' must have reserved = 0, got 1");
}

TEST(views_footprint_overflow_is_rejected) {
    BudgetViews v;
    v.c = view(v.cls, {3, int64_t(1) << 62});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, v.run(), "argument 'cls' is too large");
}

TEST(views_cuda_device_without_cuda_is_unavailable) {
    if (vt_cuda_device_count() > 0) return;  // (a GPU here: the call would run)
    BudgetViews v;
    for (vt_tensor* t : {&v.c, &v.to, &v.ko, &v.s, &v.w, &v.b}) t->device = 0;
    EXPECT_STATUS(VT_ERR_CUDA_UNAVAILABLE, v.run(), "vt_region_budget");
}

TEST(k1_subnormal_temperature_is_rejected) {
    Budget b({10, 20, 5}, {0.5f, -0.5f});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, b.run(0.5, 1e-310), "argument 'temperature' must be finite and >=");
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, b.run(0.5, 0.0), "argument 'temperature'");
    EXPECT_OK(b.run(0.5, DBL_MIN));  // the smallest normal: weights are one-hot, not NaN
    EXPECT_TRUE(b.weights[0] == 1.0f && b.weights[1] == 0.0f);
}

TEST(k1_budget_of_almost_int64_max_tokens_does_not_wrap) {
    // keep * n rounds to 2^63 in double: the cast gave INT64_MIN.
    Budget b({5, kI64Max - 5}, {0.25f});
    EXPECT_OK(b.run(1.0));
    EXPECT_TRUE(b.budgets[0] == 5);
    EXPECT_TRUE(b.budgets[1] == kI64Max - 5);
}

TEST(k1_budget_split_adds_up_above_2_pow_53) {
    // Found by a random search against the old split: the floors of the shares summed past K_L
    // (by 2 to 17 tokens) and only a positive remainder was corrected.
    const struct {
        std::vector<int64_t> n;
        std::vector<float> cls;
        double keep;
    } cases[] = {
        {{1068006399271803116, 4714055010741194, 5}, {-0.394f, 0.656f}, 0.046046046046046049},
        {{2148274983896344, 1043822453935970601, 45658160017734265, 5}, {0.414f, 0.738f, -0.83f}, 0.45845845845845845},
        {{23206782500650440, 4797485828690738, 5}, {-0.77f, -0.33f}, 0.85685685685685686},
        {{166703492951146349, 14792258090795614, 22754288062247961, 26791977791745649, 5},
         {0.136f, -0.92f, -0.956f, -0.558f},
         0.35035035035035034},
    };
    for (const auto& c : cases) {
        Budget b(c.n, c.cls);
        EXPECT_OK(b.run(c.keep));
        int64_t tokens = 0, sum = 0;
        for (int64_t t = 0; t < b.local; ++t) {
            tokens += b.n(t);
            sum += b.budgets[t];
            EXPECT_TRUE(b.budgets[t] >= 0 && b.budgets[t] <= b.n(t));
        }
        const double k = std::floor(c.keep * double(tokens) + 0.5);
        EXPECT_TRUE(sum == int64_t(k));
    }
}

/* ---- Sizes that overflow: the workspace queries saturate, the ops reject ---- */

TEST(workspace_queries_saturate_instead_of_wrapping) {
    const int64_t big = int64_t(1) << 40;
    const vt_tensor l_big = view(nullptr, VT_FLOAT32, {big, 1, big, big}, 0),
                    m_big = view(nullptr, VT_FLOAT32, {1, 1, int64_t(1) << 32, int64_t(1) << 32}, 0),
                    qk_big = view(nullptr, VT_FLOAT32, {big, big, 1, 1}, 0),
                    l_ok = view(nullptr, VT_FLOAT32, {3, 2, 5, 5}, 0), qk_ok = view(nullptr, VT_FLOAT32, {1, 100, 1, 8}, 0),
                    l_host = view(nullptr, VT_FLOAT32, {3, 2, 5, 5});
    EXPECT_TRUE(vt_rollout_workspace_bytes(&l_big) == SIZE_MAX);
    EXPECT_TRUE(vt_rollout_matrix_workspace_bytes(&m_big) == SIZE_MAX);
    EXPECT_TRUE(vt_rollout_qk_workspace_bytes(&qk_big) == SIZE_MAX);
    const vt_tensor q_big = view(nullptr, VT_FLOAT32, {big, big, 1}, 0), q_ok = view(nullptr, VT_FLOAT32, {8, 1000, 64}, 0),
                    q_host = view(nullptr, VT_FLOAT32, {8, 1000, 64});
    EXPECT_TRUE(vt_text_relevance_qk_workspace_bytes(&q_big) == SIZE_MAX);
    EXPECT_TRUE(vt_text_relevance_qk_workspace_bytes(nullptr) == 0);
    EXPECT_TRUE(vt_text_relevance_qk_workspace_bytes(&q_host) == 0);
    // In range: exact sizes (256-byte aligned buffers), whether or not CUDA is compiled in.
    EXPECT_TRUE(vt_rollout_workspace_bytes(&l_ok) == 2 * 256);
    EXPECT_TRUE(vt_rollout_qk_workspace_bytes(&qk_ok) == 2 * 256 + 512);
    EXPECT_TRUE(vt_text_relevance_qk_workspace_bytes(&q_ok) == 32000);
    EXPECT_TRUE(vt_rollout_workspace_bytes(&l_host) == 0);
    EXPECT_TRUE(vt_rollout_workspace_bytes(nullptr) == 0 && vt_rollout_qk_workspace_bytes(nullptr) == 0);
}

TEST(k4_heads_times_queries_overflow_is_rejected) {
    // heads * Q * N wraps: the old CPU path walked 2^62 heads through attn.
    const float attn[4] = {};
    float out[2] = {};
    const int64_t qo[2] = {0, 2}, vo[2] = {0, 2};
    const vt_tensor av = view(attn, {4}), qov = view(qo, {2}), vov = view(vo, {2}), ov = view(out, {2});
    const vt_text_relevance_params p{int64_t(1) << 62, VT_REDUCE_MEAN, VT_REDUCE_MAX};
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_text_relevance(nullptr, &av, &qov, &vov, &ov, &p),
                  "argument 'attn' is too large");
    // attn shorter than the offsets imply: checked on the CPU path
    const vt_text_relevance_params p2{1, VT_REDUCE_MEAN, VT_REDUCE_MAX};
    const vt_tensor a3 = view(attn, {3});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_text_relevance(nullptr, &a3, &qov, &vov, &ov, &p2),
                  "argument 'attn' must have shape[0] = 4 (the sum of heads * Q_b * N_b over the offsets), got 3");
    EXPECT_OK(vt_text_relevance(nullptr, &av, &qov, &vov, &ov, &p2));
    // Q/K form: q_heads * total_queries row statistics (q's heads share one row: stride 0).
    TextQk t;
    t.qv = vtv::strided(t.q, VT_FLOAT32, {int64_t(1) << 62, 8, 2}, {0, 0, 1});
    t.qp = view(t.query_pos, {8});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, t.run(), "argument 'q' is too large");
}

TEST(k3_layer_size_overflow_is_rejected) {
    const float a[4] = {};
    float cls_row[2], importance[1], matrix[4];
    const int64_t m = int64_t(1) << 32;  // S * H * M * M = 2^64
    const vt_tensor layer = view(a, {1, 1, m, m}), cv = view(cls_row, {1, m}), iv = view(importance, {1, m - 1}),
                    mv = view(matrix, {1, m, m});
    const vt_rollout_params p{1, VT_ROLLOUT_IVTP};
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_rollout(nullptr, &layer, nullptr, &cv, &iv, &p, nullptr, 0),
                  "argument 'layers[0]' is too large");
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_rollout_matrix(nullptr, &layer, &mv, &p, nullptr, 0),
                  "argument 'layers[0]' is too large");
    const vt_tensor ql = vtv::strided(a, VT_FLOAT32, {1, 1, m, 1}, {0, 0, int64_t(1) << 62, 1});
    const vt_rollout_qk_params pq{1, 1.0f, VT_ROLLOUT_IVTP};
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_rollout_qk(nullptr, &ql, &ql, nullptr, &cv, &iv, &pq, nullptr, 0),
                  "argument 'q_layers[0]' is too large");
}

// Two layers of 1 sequence, 1 head, 2 tokens.
struct RolloutViews {
    float a0[4] = {0.5f, 0.5f, 0.25f, 0.75f}, a1[4] = {1.0f, 0.0f, 0.5f, 0.5f};
    float cls_row[2] = {-1, -1}, importance[1] = {-1};
    vt_tensor layers[2] = {view(a0, {1, 1, 2, 2}), view(a1, {1, 1, 2, 2})};
    vt_tensor cv = view(cls_row, {1, 2}), iv = view(importance, {1, 1});
    vt_rollout_params p{2, VT_ROLLOUT_IVTP};
    int32_t run() { return vt_rollout(nullptr, layers, nullptr, &cv, &iv, &p, nullptr, 0); }
};

TEST(k3_every_layer_view_is_checked) {
    RolloutViews r;
    EXPECT_OK(r.run());
    // IVTP: R = B_1 A_0 with B_1 = rownorm(A_1 + I) = [[1, 0], [0.25, 0.75]]: CLS row = A_0's.
    EXPECT_TRUE(r.cls_row[0] == 0.5f && r.cls_row[1] == 0.5f && r.importance[0] == 1.0f);
    RolloutViews s;
    s.layers[1] = view(s.a1, {1, 1, 1, 2});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, s.run(), "argument 'layers[1]' must have shape[2] = 2 (layers[0]), got 1");
    RolloutViews d;
    d.layers[1].dtype = VT_FLOAT16;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, d.run(), "argument 'layers[1]' must have the dtype of 'layers[0]'");
    RolloutViews t;
    t.layers[1].strides[2] = 1;
    t.layers[1].strides[3] = 2;  // transposed
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, t.run(), "argument 'layers[1]' must be contiguous");
    RolloutViews n;
    n.p.num_layers = 0;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, n.run(), "argument 'num_layers' must be >= 1, got 0");
    RolloutViews o;
    o.iv = view(o.importance, {1, 2});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, o.run(), "argument 'importance' must have shape[1] = 1 (tokens - 1), got 2");
    RolloutViews sq;  // not square
    for (vt_tensor& l : sq.layers) l = view(sq.a0, {1, 1, 2, 1});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, sq.run(), "argument 'layers[0]' must have shape[3] = 2");
    RolloutViews dev;
    dev.layers[1].device = 0;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, dev.run(), "argument 'layers[1]' must be on the device of 'layers[0]' (cpu), got cuda:0");
}

TEST(k3_qk_layers_share_one_layout) {
    // q and k [1, 1, 2, 2] in a buffer with token stride 4 (interleaved with another head's rows).
    const float q[8] = {1, 0, 9, 9, 0, 1, 9, 9}, k[8] = {1, 0, 9, 9, 0, 1, 9, 9};
    const vt_tensor ql = vtv::strided(q, VT_FLOAT32, {1, 1, 2, 2}, {8, 8, 4, 1}),
                    kl = vtv::strided(k, VT_FLOAT32, {1, 1, 2, 2}, {8, 8, 4, 1}),
                    kc = view(k, {1, 1, 2, 2});
    float cls_row[2], importance[1];
    const vt_tensor cv = view(cls_row, {1, 2}), iv = view(importance, {1, 1});
    const vt_rollout_qk_params p{1, 1.0f, VT_ROLLOUT_ABNAR};
    EXPECT_OK(vt_rollout_qk(nullptr, &ql, &kl, nullptr, &cv, &iv, &p, nullptr, 0));
    // ABNAR over one layer: R = (A + I) / 2, A = softmax([[1, 0], [0, 1]]): CLS row (1 + s, 1 - s) / 2.
    const double s = std::exp(1.0) / (std::exp(1.0) + 1.0);
    EXPECT_TRUE(std::fabs(cls_row[0] - (1 + s) / 2) < 1e-6 && std::fabs(cls_row[1] - (1 - s) / 2) < 1e-6);
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_rollout_qk(nullptr, &ql, &kc, nullptr, &cv, &iv, &p, nullptr, 0),
                  "argument 'k_layers[0]' must have the strides of 'q_layers[0]' [8, 8, 4, 1] (the kernel takes one "
                  "layout), got [4, 4, 2, 1]");
}

TEST(k3_importance_of_huge_finite_values_is_exact) {
    // |V_i| of 1e38 entries overflows float: the importance was NaN with OK.
    const float a[4] = {0.5f, 0.5f, 0.25f, 0.75f};  // 1 sequence, 1 head, 2 tokens
    float values[4] = {1e38f, 1e38f, 3e38f, 3e38f}, cls_row[2], importance[1] = {-1.0f};
    const vt_tensor layer = view(a, {1, 1, 2, 2}), vv = view(values, {1, 2, 2}), cv = view(cls_row, {1, 2}),
                    iv = view(importance, {1, 1});
    const vt_rollout_params p{1, VT_ROLLOUT_IVTP};
    EXPECT_OK(vt_rollout(nullptr, &layer, &vv, &cv, &iv, &p, nullptr, 0));
    EXPECT_TRUE(importance[0] == 1.0f);  // the only patch
    values[3] = INFINITY;
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_rollout(nullptr, &layer, &vv, &cv, &iv, &p, nullptr, 0),
                  "argument 'values' holds a non-finite value");
    const vt_tensor v3 = view(values, {1, 1, 4});
    EXPECT_STATUS(VT_ERR_INVALID_ARGUMENT, vt_rollout(nullptr, &layer, &v3, &cv, &iv, &p, nullptr, 0),
                  "argument 'values' must have shape[1] = 2 (tokens), got 1");
}

int main(int argc, char** argv) { return vtt::run_all(argc > 1 ? argv[1] : nullptr); }
