#include "cpu/simd.hpp"

#include <cmath>

// Compiled with -fassociative-math (CMakeLists.txt) so that plain reduction loops vectorise:
// these blocks feed tolerance-checked results, never bit-compared ones.
//
// One clone per x86-64 level, picked by the dynamic loader (ifunc) on the running CPU.
#if defined(__x86_64__) && !defined(__clang__)
#define VT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VT_CLONES
#endif

namespace vt::cpu::simd {

namespace {

// exp(x) for x <= ~88 in the Cephes expf form: x = n ln2 + r, |r| <= ln2 / 2, a degree-6
// polynomial for e^r, and 2^n put into the exponent bits. Branch-free, so loops vectorise.
// Defined for every input: 0 below -87.3, +Inf above 88.3, NaN for NaN. (The clamps are
// written so that a NaN fails both comparisons and is clamped too: casting NaN to int, as
// the polynomial path does with n, is undefined behaviour.)
inline float exp_approx(float x) {
    // (ternaries, not fmin / fmax: those keep GCC from vectorising)
    const float low = x >= -87.3f ? x : -87.3f;
    const float clamped = low <= 88.3f ? low : 88.3f;
    const float n = std::floor(clamped * 1.44269504088896341f + 0.5f);
    const float r = clamped - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    // (a bit cast, not memcpy: a memcpy here stops GCC from vectorising the calling loops)
    const float scale = __builtin_bit_cast(float, (static_cast<int32_t>(n) + 127) << 23);
    // x + Inf: +Inf above the range, NaN for NaN. (Two flat selects: GCC 12 does not vectorise
    // the same selects nested in one expression, which left every clone scalar: see bench/NOTES.md.)
    const float in_range = x <= 88.3f ? p * scale : x + INFINITY;
    return x < -87.3f ? 0.0f : in_range;
}

}  // namespace

VT_CLONES void scores(const float* __restrict q, const float* __restrict packed, int64_t n, int64_t d,
                      float* __restrict out, int64_t ld) {
    const int64_t tiles = (n + kTile - 1) / kTile;
    for (int64_t t = 0; t < tiles; ++t) {
        const float* kt = packed + t * d * kTile;
        float acc[kRows][kTile] = {};
        for (int64_t e = 0; e < d; ++e) {
            const float* kv = kt + e * kTile;
#pragma GCC unroll 8
            for (int r = 0; r < kRows; ++r) {
                const float qe = q[r * d + e];
#pragma omp simd
                for (int c = 0; c < kTile; ++c) acc[r][c] += qe * kv[c];
            }
        }
        for (int r = 0; r < kRows; ++r) {
#pragma omp simd
            for (int c = 0; c < kTile; ++c) out[r * ld + t * kTile + c] = acc[r][c];
        }
    }
}

VT_CLONES float exp_sum(float* __restrict x, int64_t n, float shift) {
    float sum = 0.0f;
    int32_t non_finite = 0;  // an exponent of all ones: Inf or NaN (bits, as -ffinite-math is not assumed here)
    for (int64_t i = 0; i < n; ++i) {
        non_finite |= (__builtin_bit_cast(int32_t, x[i]) & 0x7f800000) == 0x7f800000;
        const float e = exp_approx(x[i] - shift);
        x[i] = e;
        sum += e;
    }
    return non_finite ? NAN : sum;
}

VT_CLONES float max(const float* __restrict x, int64_t n) {
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
    return m;
}

VT_CLONES float sum(const float* __restrict x, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += x[i];
    return s;
}

VT_CLONES void axpy(float a, const float* __restrict x, float* __restrict y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

VT_CLONES void scale_into(float a, const float* __restrict x, float* __restrict y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = a * x[i];
}

VT_CLONES void max_into(const float* __restrict x, float* __restrict y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] > y[i] ? x[i] : y[i];
}

VT_CLONES void dot_rows(const float* __restrict q, const float* __restrict k, int64_t stride, int64_t n, int64_t d,
                        float scale, float* __restrict out) {
    for (int64_t j = 0; j < n; ++j) {
        const float* kj = k + j * stride;
        float s = 0.0f;
        for (int64_t e = 0; e < d; ++e) s += q[e] * kj[e];
        out[j] = scale * s;
    }
}

}  // namespace vt::cpu::simd
