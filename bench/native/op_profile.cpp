// One native op at the InternVL2-2B shape of the benchmarks (bench/.../Shape.java INTERNVL:
// 12 + 1 tiles of 256 visual tokens, ViT 16 heads x 1025 tokens x 64, CLS width 1024, LM 16 q /
// 8 kv heads x 128, 20 system + 3,328 visual + 64 instruction tokens), called through the C ABI
// for profiles of the op alone: no JVM, no LibTorch, no tensor allocation per call.
//
//   g++ -O2 -g -std=c++17 -Isrc/main/cpp/include bench/native/op_profile.cpp
//     -L BUILD -lvtprune -Wl,-rpath,BUILD -o /tmp/op_profile
//   /tmp/op_profile OP [calls] [threads] [tiles]
//   valgrind --tool=callgrind --toggle-collect='measured_calls*' /tmp/op_profile OP 1 1
//
// OP: k1 k2 k4 k4qk k5 k5qk k3qk, or gather / gather-reused (PTP's row gather, see below). One warm-up call (it creates the thread pool and touches the
// outputs), then `calls` calls inside measured_calls(), whose best wall time is printed;
// callgrind's --toggle-collect on measured_calls counts those calls only. `tiles` (default 13)
// shrinks the ViT-side ops (k5, k5qk, k3qk), whose work is linear in it, for callgrind runs.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "vtprune/vtprune.h"

namespace {

// Inputs are seeded and never zero: U(lo, hi) from a 64-bit LCG (the numbers matter only as
// data for the kernels; no result is checked here: the C ABI tests do that).
std::vector<float> uniform(size_t n, float lo, float hi, uint64_t seed) {
    std::vector<float> v(n);
    uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (auto& x : v) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x = lo + (hi - lo) * float((s >> 40) & 0xFFFFFF) / float(1 << 24);
    }
    return v;
}

// A contiguous view of `data` with the given sizes.
vt_tensor view(void* data, vt_dtype dtype, std::vector<int64_t> shape) {
    vt_tensor t{};
    t.data = data;
    t.dtype = dtype;
    t.device = -1;
    t.ndim = int32_t(shape.size());
    int64_t stride = 1;
    for (int d = t.ndim - 1; d >= 0; --d) {
        t.shape[d] = shape[d];
        t.strides[d] = stride;
        stride *= shape[d];
    }
    return t;
}

void check(int32_t status, const char* op) {
    if (status != VT_OK) {
        std::fprintf(stderr, "%s failed (%d): %s\n", op, status, vt_last_error());
        std::exit(1);
    }
}

// Kept out of line so that callgrind's --toggle-collect can name it.
__attribute__((noinline)) double measured_calls(const std::function<void()>& op, int calls) {
    double best = 1e300;
    for (int i = 0; i < calls; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        op();
        const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
        if (us < best) best = us;
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s k1|k2|k4|k4qk|k5|k5qk|k3qk [calls] [threads] [tiles]\n", argv[0]);
        return 2;
    }
    const std::string op = argv[1];
    const int calls = argc > 2 ? std::atoi(argv[2]) : 10;
    const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
    const int64_t tiles = argc > 4 ? std::atoll(argv[4]) : 13;
    if (calls < 1 || threads < 1 || tiles < 1) {
        std::fprintf(stderr, "calls, threads and tiles must be >= 1 (got %d, %d, %lld)\n", calls, threads,
                     static_cast<long long>(tiles));
        return 2;
    }
    check(vt_set_num_threads(threads), "vt_set_num_threads");

    // InternVL2-2B: 12 local tiles + thumbnail, 256 tokens each after the 2 x 2 merge.
    const int64_t T = 13, per_tile = 256, N = T * per_tile, D = 1024;
    const int64_t H = 16, M = 1025, d = 64, grid = 32, merge = 2;
    const int64_t Hq = 16, Hkv = 8, dl = 128, Q = 64, system = 20, L = system + N + Q;

    std::vector<int64_t> tile_offsets{0, T}, token_offsets(T + 1);
    for (int64_t t = 0; t <= T; ++t) token_offsets[t] = t * per_tile;
    std::function<void()> call;
    // Everything the call reads or writes lives until main returns.
    std::vector<std::vector<float>> f;
    std::vector<std::vector<int64_t>> i64;
    std::vector<vt_tensor> views;
    vt_region_budget_params k1p{0.5, 1.0, 0};
    vt_fused_topk_params k2p{0.5f, 1};
    vt_text_relevance_params k4p{Hq, VT_REDUCE_MEAN, VT_REDUCE_MAX};
    vt_text_relevance_qk_params k4qkp{1.0f / std::sqrt(float(dl)), VT_REDUCE_MEAN, VT_REDUCE_MAX};
    vt_cls_saliency_params k5p{1, grid, merge, VT_REDUCE_MEAN};
    vt_cls_saliency_qk_params k5qkp{1, grid, merge, VT_REDUCE_MEAN, 1.0f / std::sqrt(float(d))};
    vt_rollout_qk_params k3p{3, 1.0f / std::sqrt(float(d)), VT_ROLLOUT_IVTP};
    views.reserve(16);
    f.reserve(16);
    i64.reserve(16);

    if (op == "k1") {
        f.push_back(uniform(T * D, -1.0f, 1.0f, 1));
        f.emplace_back(T);
        f.emplace_back(T);
        i64.emplace_back(T);
        views = {view(f[0].data(), VT_FLOAT32, {T, D}), view(tile_offsets.data(), VT_INT64, {2}),
                 view(token_offsets.data(), VT_INT64, {T + 1}), view(f[1].data(), VT_FLOAT32, {T}),
                 view(f[2].data(), VT_FLOAT32, {T}), view(i64[0].data(), VT_INT64, {T})};
        call = [&] {
            check(vt_region_budget(nullptr, &views[0], &views[1], &views[2], &views[3], &views[4], &views[5], &k1p),
                  "vt_region_budget");
        };
    } else if (op == "k2") {
        f.push_back(uniform(N, 0.0f, 1.0f, 2));
        f.push_back(uniform(N, 0.0f, 1.0f, 3));
        f.emplace_back(N);
        i64.emplace_back(T, per_tile / 2);  // budgets: r = 0.5
        i64.emplace_back(N);
        i64.emplace_back(T);
        views = {view(f[0].data(), VT_FLOAT32, {N}),         view(f[1].data(), VT_FLOAT32, {N}),
                 view(token_offsets.data(), VT_INT64, {T + 1}), view(i64[0].data(), VT_INT64, {T}),
                 view(f[2].data(), VT_FLOAT32, {N}),         view(i64[1].data(), VT_INT64, {N}),
                 view(i64[2].data(), VT_INT64, {T})};
        call = [&] {
            check(vt_fused_topk(nullptr, &views[0], &views[1], &views[2], &views[3], &views[4], &views[5], &views[6],
                                &k2p),
                  "vt_fused_topk");
        };
    } else if (op == "k4") {
        f.push_back(uniform(Hq * Q * N, 1e-6f, 2.0f / float(L), 4));
        f.emplace_back(N);
        i64.push_back({0, Q});
        i64.push_back({0, N});
        views = {view(f[0].data(), VT_FLOAT32, {Hq * Q * N}), view(i64[0].data(), VT_INT64, {2}),
                 view(i64[1].data(), VT_INT64, {2}), view(f[1].data(), VT_FLOAT32, {N})};
        call = [&] {
            check(vt_text_relevance(nullptr, &views[0], &views[1], &views[2], &views[3], &k4p), "vt_text_relevance");
        };
    } else if (op == "k4qk") {
        f.push_back(uniform(Hq * Q * dl, -1.0f, 1.0f, 5));
        f.push_back(uniform(Hkv * L * dl, -1.0f, 1.0f, 6));
        f.emplace_back(N);
        std::vector<int64_t> qpos(Q), vpos(N);
        for (int64_t q = 0; q < Q; ++q) qpos[q] = system + N + q;
        for (int64_t v = 0; v < N; ++v) vpos[v] = system + v;
        i64.push_back({0, Q});
        i64.push_back({0, L});
        i64.push_back(qpos);
        i64.push_back({0, N});
        i64.push_back(vpos);
        views = {view(f[0].data(), VT_FLOAT32, {Hq, Q, dl}), view(f[1].data(), VT_FLOAT32, {Hkv, L, dl}),
                 view(i64[0].data(), VT_INT64, {2}),         view(i64[1].data(), VT_INT64, {2}),
                 view(i64[2].data(), VT_INT64, {Q}),         view(i64[3].data(), VT_INT64, {2}),
                 view(i64[4].data(), VT_INT64, {N}),         view(f[2].data(), VT_FLOAT32, {N})};
        call = [&] {
            check(vt_text_relevance_qk(nullptr, &views[0], &views[1], &views[2], &views[3], &views[4], &views[5],
                                       &views[6], &views[7], &k4qkp, nullptr, 0),
                  "vt_text_relevance_qk");
        };
    } else if (op == "k5") {
        f.push_back(uniform(tiles * H * M, 1e-6f, 2.0f / float(M), 7));
        f.emplace_back(tiles * per_tile);
        views = {view(f[0].data(), VT_FLOAT32, {tiles, H, M}), view(f[1].data(), VT_FLOAT32, {tiles, per_tile})};
        call = [&] { check(vt_cls_saliency(nullptr, &views[0], &views[1], &k5p), "vt_cls_saliency"); };
    } else if (op == "k5qk") {
        f.push_back(uniform(tiles * H * d, -1.0f, 1.0f, 8));
        f.push_back(uniform(tiles * H * M * d, -1.0f, 1.0f, 9));
        f.emplace_back(tiles * per_tile);
        views = {view(f[0].data(), VT_FLOAT32, {tiles, H, d}), view(f[1].data(), VT_FLOAT32, {tiles, H, M, d}),
                 view(f[2].data(), VT_FLOAT32, {tiles, per_tile})};
        call = [&] {
            check(vt_cls_saliency_qk(nullptr, &views[0], &views[1], &views[2], &k5qkp), "vt_cls_saliency_qk");
        };
    } else if (op == "k3qk") {
        for (int l = 0; l < 6; ++l) f.push_back(uniform(tiles * H * M * d, -1.0f, 1.0f, 10 + l));
        f.emplace_back(tiles * M);
        f.emplace_back(tiles * (M - 1));
        for (int l = 0; l < 6; ++l) views.push_back(view(f[l].data(), VT_FLOAT32, {tiles, H, M, d}));
        views.push_back(view(f[6].data(), VT_FLOAT32, {tiles, M}));
        views.push_back(view(f[7].data(), VT_FLOAT32, {tiles, M - 1}));
        call = [&] {
            check(vt_rollout_qk(nullptr, &views[0], &views[3], nullptr, &views[6], &views[7], &k3p, nullptr, 0),
                  "vt_rollout_qk");
        };
    } else if (op == "gather" || op == "gather-reused") {
        // PTP's gather at r = 0.5: rows kept[i] (every other token) of the [N, 2048] projected
        // tokens, as index_select does it (one memcpy per row), into a buffer allocated per call
        // ("gather", as a fresh output tensor is) or allocated once ("gather-reused").
        const int64_t width = 2048, rows = N / 2;
        f.push_back(uniform(N * width, -1.0f, 1.0f, 20));
        f.emplace_back(op == "gather" ? 0 : rows * width);
        i64.emplace_back(rows);
        for (int64_t r = 0; r < rows; ++r) i64[0][r] = 2 * r;
        call = [&, width, rows] {
            const bool fresh = f[1].empty();
            float* out = fresh ? static_cast<float*>(std::malloc(sizeof(float) * rows * width)) : f[1].data();
            if (!out) std::exit(1);
            for (int64_t r = 0; r < rows; ++r) std::memcpy(out + r * width, f[0].data() + i64[0][r] * width, sizeof(float) * width);
            volatile float sink = out[rows * width - 1];
            (void)sink;
            if (fresh) std::free(out);
        };
    } else {
        std::fprintf(stderr, "unknown op '%s' (k1 k2 k4 k4qk k5 k5qk k3qk gather gather-reused)\n", op.c_str());
        return 2;
    }
    call();  // warm-up: thread pool, first touch of the outputs
    const double best = measured_calls(call, calls);
    std::printf("%s threads=%d tiles=%lld calls=%d best_us=%.1f\n", op.c_str(), threads,
                static_cast<long long>(op == "k5" || op == "k5qk" || op == "k3qk" ? tiles : T), calls, best);
    return 0;
}
