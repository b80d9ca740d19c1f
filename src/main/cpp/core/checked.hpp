// Overflow-checked int64 arithmetic for the argument checks of the entry points and for the
// host-side sizes (workspace, shared memory) of the CUDA launches. Sizes come from the caller
// and any product of them may wrap: a wrapped product passes an equality check (grid * grid
// with grid = 2^32 is 0) and then indexes out of bounds or divides by zero. Every size derived
// from more than one argument goes through these. Host code only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "core/error.hpp"

namespace vt {

// Bytes of the widest element type (fp32); element counts are kept below INT64_MAX / this so
// that byte offsets fit in int64 / ptrdiff_t too.
constexpr int64_t kMaxElementBytes = 4;

[[noreturn]] inline void overflow(const char* op, const char* arg, const char* what) {
    invalid_argument(op, arg, format("is too large: %s overflows int64", what));
}

// a * b for a, b >= 0; `what` names the expression in the message ("grid^2").
inline int64_t checked_mul(int64_t a, int64_t b, const char* op, const char* arg, const char* what) {
    int64_t out;
    if (__builtin_mul_overflow(a, b, &out)) overflow(op, arg, what);
    return out;
}

inline int64_t checked_add(int64_t a, int64_t b, const char* op, const char* arg, const char* what) {
    int64_t out;
    if (__builtin_add_overflow(a, b, &out)) overflow(op, arg, what);
    return out;
}

// Elements of a dense tensor of the given (non-negative) dimensions; its bytes must fit in int64.
inline int64_t checked_elements(std::initializer_list<int64_t> dims, const char* op, const char* arg) {
    int64_t n = 1;
    for (int64_t d : dims) n = checked_mul(n, d, op, arg, "the product of its dimensions");
    checked_mul(n, kMaxElementBytes, op, arg, "its size in bytes");
    return n;
}

// Elements spanned by a strided tensor: `inner` contiguous elements plus (count - 1) * stride
// for every outer dimension (count >= 1, stride >= 0); its bytes must fit in int64.
struct Dim {
    int64_t count, stride;
};
inline int64_t checked_extent(int64_t inner, std::initializer_list<Dim> outer, const char* op, const char* arg) {
    int64_t n = inner;
    for (const Dim& d : outer) {
        n = checked_add(n, checked_mul(d.count - 1, d.stride, op, arg, "its extent (count * stride)"), op, arg,
                        "its extent (count * stride)");
    }
    checked_mul(n, kMaxElementBytes, op, arg, "its size in bytes");
    return n;
}

// The workspace-size queries answer SIZE_MAX for sizes that do not fit (no allocation can
// serve them; the op itself then rejects the arguments).
inline size_t bytes_or_max(std::initializer_list<int64_t> dims, size_t element_bytes) {
    size_t n = element_bytes;
    for (int64_t d : dims) {
        if (d < 0 || __builtin_mul_overflow(n, static_cast<size_t>(d), &n)) return SIZE_MAX;
    }
    return n;
}

}  // namespace vt

namespace vt::workspace {

// The workspace sizes of the CUDA ops, host arithmetic shared by the *_workspace_bytes queries
// and the checks of the entry points, saturating at SIZE_MAX. Each buffer starts on a 256-byte
// boundary; the CUDA ops carve their workspace in the same order.
inline size_t add(size_t a, size_t b) {
    size_t r;
    return __builtin_add_overflow(a, b, &r) ? SIZE_MAX : r;
}
inline size_t align256(size_t bytes) { return bytes > SIZE_MAX - 255 ? SIZE_MAX : (bytes + 255) / 256 * 256; }
inline size_t floats(std::initializer_list<int64_t> dims) { return align256(bytes_or_max(dims, sizeof(float))); }

// Two [S, M] vectors.
inline size_t rollout(int64_t num_seqs, int64_t tokens) {
    return add(floats({num_seqs, tokens}), floats({num_seqs, tokens}));
}
// Two [S, M, M] matrices.
inline size_t rollout_matrix(int64_t num_seqs, int64_t tokens) {
    return add(floats({num_seqs, tokens, tokens}), floats({num_seqs, tokens, tokens}));
}
// Two [S, M] vectors and [S, H, M] row log-sum-exps.
inline size_t rollout_qk(int64_t num_seqs, int64_t heads, int64_t tokens) {
    return add(rollout(num_seqs, tokens), floats({num_seqs, heads, tokens}));
}
// [q_heads, total_queries] row log-sum-exps.
inline size_t text_relevance_qk(int64_t q_heads, int64_t total_queries) {
    return bytes_or_max({q_heads, total_queries}, sizeof(float));
}

}  // namespace vt::workspace
