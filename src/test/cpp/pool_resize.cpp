// Stress test of the CPU thread pool across resizes (issue 13): vt_set_num_threads(2 + i % 3)
// followed by one pooled op, many thousands of times. Every result is compared with the
// single-threaded one, so a call that returns while a worker still runs (or skips) a chunk
// fails, and ctest's TIMEOUT turns a deadlock into a failure. Also the TSan driver.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "views.hpp"
#include "vtprune/vtprune.h"

namespace {

// K5 from Q/K: parallel_for over tiles with grain 1, so every call with >= 2 tiles is pooled.
constexpr int64_t kTiles = 8, kHeads = 2, kGrid = 4, kKeys = 1 + kGrid * kGrid, kDim = 8;

int32_t saliency(const std::vector<float>& q, const std::vector<float>& k, std::vector<float>& out) {
    const vt_tensor qv = vtv::view(q.data(), {kTiles, kHeads, kDim}), kv = vtv::view(k.data(), {kTiles, kHeads, kKeys, kDim}),
                    ov = vtv::view(out.data(), {kTiles, kGrid * kGrid});
    const vt_cls_saliency_qk_params p{1, kGrid, 1, VT_REDUCE_MEAN, 0.5f};
    return vt_cls_saliency_qk(nullptr, &qv, &kv, &ov, &p);
}

}  // namespace

int main(int argc, char** argv) {
    const long iterations = argc > 1 ? std::atol(argv[1]) : 20000;
    std::vector<float> q(kTiles * kHeads * kDim), k(kTiles * kHeads * kKeys * kDim);
    unsigned s = 12345;
    for (float& x : q) x = float((s = s * 1103515245u + 12345u) >> 16) / 65536.0f - 0.5f;
    for (float& x : k) x = float((s = s * 1103515245u + 12345u) >> 16) / 65536.0f - 0.5f;

    std::vector<float> want(kTiles * kGrid * kGrid), got(want.size());
    if (vt_set_num_threads(1) != VT_OK || saliency(q, k, want) != VT_OK) {
        std::printf("FAIL: reference call: %s\n", vt_last_error());
        return 1;
    }
    for (long i = 0; i < iterations; ++i) {
        const int32_t threads = 2 + int32_t(i % 3);
        if (vt_set_num_threads(threads) != VT_OK || vt_get_num_threads() != threads) {
            std::printf("FAIL: iteration %ld: vt_set_num_threads(%d): %s\n", i, threads, vt_last_error());
            return 1;
        }
        std::fill(got.begin(), got.end(), -1.0f);
        if (saliency(q, k, got) != VT_OK) {
            std::printf("FAIL: iteration %ld: %s\n", i, vt_last_error());
            return 1;
        }
        if (got != want) {
            std::printf("FAIL: iteration %ld (%d threads): result differs from the 1-thread result\n", i, threads);
            return 1;
        }
    }
    std::printf("ok: %ld resize + pooled-op iterations, results identical to 1 thread\n", iterations);
    return 0;
}
