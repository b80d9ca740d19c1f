// Element types of the inputs (fp32, fp16, bf16) on the host, and dispatch over vt_dtype.
//
// Half and BFloat16 are storage types: kernels load them as float and accumulate in fp32.
// The fp16 conversion goes through GCC's _Float16, which becomes a single vcvtph2ps in the
// AVX2 / AVX-512 clones of the hot loops and a libgcc call elsewhere.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/error.hpp"

namespace vt {

struct Half {
    uint16_t bits;
};
struct BFloat16 {
    uint16_t bits;
};

inline float to_float(float x) { return x; }

inline float to_float(Half h) {
    _Float16 f;
    std::memcpy(&f, &h.bits, sizeof f);
    return static_cast<float>(f);
}

inline float to_float(BFloat16 b) {
    uint32_t bits = static_cast<uint32_t>(b.bits) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

inline const char* dtype_name(int32_t dtype) {
    switch (dtype) {
        case VT_FLOAT32: return "float32";
        case VT_FLOAT16: return "float16";
        case VT_BFLOAT16: return "bfloat16";
        default: return "unknown";
    }
}

// Calls fn(T{}) with T the one of F32, F16, BF16 that stores `dtype`; an unknown dtype is an
// invalid argument. One switch and one message for both backends: the host's storage types
// (dispatch_dtype below) and CUDA's (vt::cuda::dispatch_dtype, src/main/cuda/common.cuh).
template <class F32, class F16, class BF16, class Fn>
void dispatch_storage(const char* op, int32_t dtype, Fn&& fn) {
    switch (dtype) {
        case VT_FLOAT32: fn(F32{}); return;
        case VT_FLOAT16: fn(F16{}); return;
        case VT_BFLOAT16: fn(BF16{}); return;
        default:
            invalid_argument(op, "dtype", format("must be 0 (float32), 1 (float16) or 2 (bfloat16), got %d", dtype));
    }
}

// Calls fn(T{}) with T the host storage type of `dtype`.
template <class Fn>
void dispatch_dtype(const char* op, int32_t dtype, Fn&& fn) {
    dispatch_storage<float, Half, BFloat16>(op, dtype, static_cast<Fn&&>(fn));
}

}  // namespace vt
