// K2 on the CPU: per tile, one pass for min / max (and the NaN / Inf check), one pass for the
// fused score, a selection of the K-th largest value, and one ordered pass that keeps the
// values above it plus the lowest-index ties. The output is ascending by construction.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// Min and max of x[begin, end), failing on the first non-finite value. The common pass has no
// branch per element: it keeps running minima / maxima and ORs an exponent-all-ones test, and
// only when that test fired does a second pass look for the index to report. (The scalar form
// with a branch per element was 28% of the op's instructions at the InternVL2 shape; GCC does
// not vectorise the min / max reductions without -ffinite-math-only, so fp32 uses SSE2.)
template <class T>
Range checked_range(const T* x, int64_t begin, int64_t end, const char* arg, int64_t tile) {
    float lo = INFINITY, hi = -INFINITY;
    uint32_t special = 0;
    int64_t i = begin;
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float>) {
        __m128 vlo = _mm_set1_ps(INFINITY), vhi = _mm_set1_ps(-INFINITY);
        const __m128i exponent = _mm_set1_epi32(0x7f800000);
        __m128i vspecial = _mm_setzero_si128();
        for (; i + 4 <= end; i += 4) {
            const __m128 v = _mm_loadu_ps(x + i);
            vlo = _mm_min_ps(vlo, v);
            vhi = _mm_max_ps(vhi, v);
            const __m128i e = _mm_and_si128(_mm_castps_si128(v), exponent);
            vspecial = _mm_or_si128(vspecial, _mm_cmpeq_epi32(e, exponent));
        }
        float l[4], h[4];
        _mm_storeu_ps(l, vlo);
        _mm_storeu_ps(h, vhi);
        for (int k = 0; k < 4; ++k) lo = std::min(lo, l[k]), hi = std::max(hi, h[k]);
        special = uint32_t(_mm_movemask_epi8(vspecial));
    }
#endif
    for (; i < end; ++i) {
        const float v = to_float(x[i]);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        special |= uint32_t((__builtin_bit_cast(uint32_t, v) & 0x7f800000u) == 0x7f800000u);
    }
    if (special) {
        for (int64_t j = begin; j < end; ++j) {
            const float v = to_float(x[j]);
            if (!std::isfinite(v)) {
                invalid_argument(kOp, arg, format("holds a non-finite value (%g) at index %lld (tile %lld)", double(v),
                                                  static_cast<long long>(j), static_cast<long long>(tile)));
            }
        }
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
    if (!nb.flat && !(c && nc.flat)) {
        // The same roundings as MinMaxNorm, with its branches taken once per tile: disabled is
        // (v * 1 - 0) / 1, which is v exactly for finite v. Branch-free, so it vectorises (the
        // per-element form was 39% of the op's instructions at the InternVL2 shape).
        const float sb = nb.enabled ? nb.scale : 1.0f, lb = nb.enabled ? nb.lo : 0.0f,
                    rb_ = nb.enabled ? nb.range : 1.0f;
        if (c) {
            const float sc = nc.enabled ? nc.scale : 1.0f, lc = nc.enabled ? nc.lo : 0.0f,
                        rc_ = nc.enabled ? nc.range : 1.0f;
            for (int64_t i = begin; i < end; ++i) {
                fused[i] = wb * ((to_float(b[i]) * sb - lb) / rb_) + wc * ((to_float(c[i]) * sc - lc) / rc_);
            }
        } else {
            for (int64_t i = begin; i < end; ++i) fused[i] = wb * ((to_float(b[i]) * sb - lb) / rb_) + wc * 0.0f;
        }
    } else {
        for (int64_t i = begin; i < end; ++i) {
            const float cb = nb(to_float(b[i]));
            const float cc = c ? nc(to_float(c[i])) : 0.0f;
            fused[i] = wb * cb + wc * cc;
        }
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
    // Counted in int32 blocks so that the compare-and-add vectorises (an int64 sum of bools
    // did not).
    int64_t above = 0;
    for (int64_t i0 = begin; i0 < end; i0 += (int64_t(1) << 30)) {
        const int64_t i1 = std::min(end, i0 + (int64_t(1) << 30));
        int32_t part = 0;
        for (int64_t i = i0; i < i1; ++i) part += fused[i] > threshold ? 1 : 0;
        above += part;
    }
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
