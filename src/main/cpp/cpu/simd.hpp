// Vectorised building blocks of the CPU kernels (simd.cpp), compiled in AVX-512, AVX2 and
// baseline clones chosen at load time, so one library runs everywhere at the best speed.
//
// The Q/K kernels compute logits with a small register-blocked matrix product: a few query
// rows against packed tiles of kTile keys (keys transposed so that one tile row is one vector),
// the arrangement of a GEMM micro-kernel.
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/dtype.hpp"

namespace vt::cpu::simd {

constexpr int64_t kTile = 16;  // keys per packed tile: one AVX-512 register of fp32
constexpr int kRows = 8;       // query rows per scores() call

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// out[r * ld + j] = sum_e q[r * d + e] * key_j[e] for r < kRows and j < round_up(n, kTile);
// `packed` holds the keys as written by pack_keys (entries past n are zero).
void scores(const float* q, const float* packed, int64_t n, int64_t d, float* out, int64_t ld);

// x[i] <- exp(x[i] - shift) for i < n; returns their sum, or NaN when some x[i] was not
// finite. exp to ~2 ulp; 0 below -87.
float exp_sum(float* x, int64_t n, float shift);

float max(const float* x, int64_t n);

// The softmax of n logits in place, unnormalised: x[i] <- exp(x[i] - max x); returns their
// sum. Logits that are not finite (Inf / NaN in q or k, or scale * q . k overflowing
// float32) are bad input, reported naming `op` and `arg`, never NaN probabilities with OK.
inline float softmax_exp(float* x, int64_t n, const char* op, const char* arg) {
    const float sum = exp_sum(x, n, max(x, n));
    if (!(sum > 0.0f && sum <= float(n))) {
        non_finite(op, arg,
                   "gives non-finite attention logits scale * q . k (they hold Inf / NaN, or the dot "
                   "products overflow float32)");
    }
    return sum;
}

float sum(const float* x, int64_t n);

// y[i] += a * x[i]
void axpy(float a, const float* x, float* y, int64_t n);

// y[i] = a * x[i]
void scale_into(float a, const float* x, float* y, int64_t n);
// y[i] = max(y[i], x[i])
void max_into(const float* x, float* y, int64_t n);

// Folds row x into a running reduction acc over rows (vt_reduce): MEAN adds scale * x (and
// starts from scale * x at the first row), MAX keeps the element-wise maximum.
inline void fold(int32_t mode, const float* x, float* acc, int64_t n, bool first, float scale) {
    if (mode == 1 /* VT_REDUCE_MAX */) {
        if (first) {
            for (int64_t i = 0; i < n; ++i) acc[i] = x[i];
        } else {
            max_into(x, acc, n);
        }
    } else {
        if (first) {
            scale_into(scale, x, acc, n);  // not zero + axpy: that pass was 21% of K4's instructions
        } else {
            axpy(scale, x, acc, n);
        }
    }
}

// out[j] = scale * (q . k_j) for n keys k_j = k + j * stride (fp32 rows of d).
void dot_rows(const float* q, const float* k, int64_t stride, int64_t n, int64_t d, float scale, float* out);

// Packs keys j < n (rows of d elements, `stride` apart) into tiles: tile t is d rows of kTile
// floats, element [t][e][c] = key (t * kTile + c)[e], zero past n. Size round_up(n, kTile) * d.
template <class T>
void pack_keys(const T* k, int64_t stride, int64_t n, int64_t d, float* packed) {
    const int64_t tiles = (n + kTile - 1) / kTile;
    for (int64_t t = 0; t < tiles; ++t) {
        float* dst = packed + t * d * kTile;
        for (int64_t c = 0; c < kTile; ++c) {
            const int64_t j = t * kTile + c;
            if (j < n) {
                const T* row = k + j * stride;
                for (int64_t e = 0; e < d; ++e) dst[e * kTile + c] = to_float(row[e]);
            } else {
                for (int64_t e = 0; e < d; ++e) dst[e * kTile + c] = 0.0f;
            }
        }
    }
}

// Copies rows index[0..rows) (rows <= kRows) of d elements each, row i at x + i * stride,
// times `scale`, into a dense [kRows, d] block; missing rows are zero.
template <class T>
void pack_rows(const T* x, int64_t stride, const int64_t* index, int rows, int64_t d, float scale, float* out) {
    for (int r = 0; r < kRows; ++r) {
        const T* row = r < rows ? x + index[r] * stride : nullptr;
        for (int64_t e = 0; e < d; ++e) out[r * d + e] = row ? scale * to_float(row[e]) : 0.0f;
    }
}

// A float view of n elements: `x` itself when T is float, else converted into `scratch`.
template <class T>
const float* as_floats(const T* x, int64_t n, float* scratch) {
    if constexpr (std::is_same_v<T, float>) {
        return x;
    } else {
        for (int64_t i = 0; i < n; ++i) scratch[i] = to_float(x[i]);
        return scratch;
    }
}

}  // namespace vt::cpu::simd
