// K2 on the CPU: per tile, one pass for min / max (and the NaN / Inf check), one pass for the
// fused score, a selection of the K-th largest value, and one ordered pass that keeps the
// values above it plus the lowest-index ties. The output is ascending by construction.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype.hpp"
#include "core/normalize.hpp"
#include "core/ops.hpp"
#include "core/parallel.hpp"

namespace vt::cpu {

namespace {

constexpr const char* kOp = "vt_fused_topk";

struct Range {
    float lo, hi;
};

template <class T>
Range checked_range(const T* x, int64_t begin, int64_t end, const char* arg, int64_t tile) {
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t i = begin; i < end; ++i) {
        float v = to_float(x[i]);
        if (!std::isfinite(v)) {
            invalid_argument(kOp, arg, format("holds a non-finite value (%g) at index %lld (tile %lld)", double(v),
                                              static_cast<long long>(i), static_cast<long long>(tile)));
        }
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    return {lo, hi};
}

template <class T>
void select_tile(const FusedTopkArgs& a, const T* b, const T* c, int64_t tile, int64_t out_begin, float* fused,
                 std::vector<float>& scratch) {
    const int64_t begin = a.token_offsets[tile], end = a.token_offsets[tile + 1];
    const int64_t n = end - begin;
    const int64_t k = std::min(a.budgets[tile], n);
    a.kept_per_tile[tile] = k;

    const Range rb = checked_range(b, begin, end, "bottom_up", tile);
    const MinMaxNorm nb = make_min_max_norm(a.normalize, rb.lo, rb.hi);
    MinMaxNorm nc;
    if (c) {
        const Range rc = checked_range(c, begin, end, "instruction", tile);
        nc = make_min_max_norm(a.normalize, rc.lo, rc.hi);
    }
    const float wb = 1.0f - a.alpha, wc = a.alpha;
    for (int64_t i = begin; i < end; ++i) {
        const float cb = nb(to_float(b[i]));
        const float cc = c ? nc(to_float(c[i])) : 0.0f;
        fused[i] = wb * cb + wc * cc;
    }
    if (k == 0) return;
    int64_t* out = a.kept + out_begin;
    if (k == n) {
        for (int64_t i = 0; i < n; ++i) out[i] = begin + i;
        return;
    }
    // The k-th largest value and how many of its ties fit after the strictly larger ones.
    scratch.assign(fused + begin, fused + end);
    std::nth_element(scratch.begin(), scratch.begin() + (k - 1), scratch.end(), std::greater<float>());
    const float threshold = scratch[k - 1];
    int64_t above = 0;
    for (int64_t i = begin; i < end; ++i) above += fused[i] > threshold;
    int64_t ties = k - above;
    int64_t w = 0;
    for (int64_t i = begin; i < end; ++i) {
        const float f = fused[i];
        if (f > threshold || (f == threshold && ties-- > 0)) out[w++] = i;
    }
}

template <class T>
void run(const FusedTopkArgs& a) {
    const T* b = static_cast<const T*>(a.bottom_up);
    const T* c = static_cast<const T*>(a.instruction);
    const int64_t total = a.token_offsets[a.num_tiles] - a.token_offsets[0];
    std::vector<int64_t> out_begin(a.num_tiles + 1);
    for (int64_t t = 0; t < a.num_tiles; ++t) {
        const int64_t n = a.token_offsets[t + 1] - a.token_offsets[t];
        if (a.budgets[t] < 0) {
            invalid_argument(kOp, "budgets", format("must be >= 0, got %lld for tile %lld",
                                                    static_cast<long long>(a.budgets[t]), static_cast<long long>(t)));
        }
        out_begin[t + 1] = out_begin[t] + std::min(a.budgets[t], n);
    }
    std::vector<float> own_fused;
    float* fused = a.fused;
    if (!fused) {
        own_fused.resize(static_cast<size_t>(a.token_offsets[a.num_tiles]));
        fused = own_fused.data();
    }
    // Tiles are independent; split them over threads only when there is real work.
    const int64_t avg = std::max<int64_t>(1, total / std::max<int64_t>(a.num_tiles, 1));
    parallel_for(a.num_tiles, std::max<int64_t>(1, 65536 / avg), [&](int64_t t0, int64_t t1) {
        std::vector<float> scratch;
        for (int64_t t = t0; t < t1; ++t) select_tile(a, b, c, t, out_begin[t], fused, scratch);
    });
    std::fill(a.kept + out_begin[a.num_tiles], a.kept + total, int64_t(-1));
}

}  // namespace

void fused_topk(const FusedTopkArgs& a) {
    dispatch_dtype(kOp, a.dtype, [&](auto tag) { run<decltype(tag)>(a); });
}

}  // namespace vt::cpu
