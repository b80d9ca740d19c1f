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

// Calls fn(T{}) with T the storage type of `dtype`; an unknown dtype is an invalid argument.
template <class Fn>
void dispatch_dtype(const char* op, int32_t dtype, Fn&& fn) {
    switch (dtype) {
        case VT_FLOAT32: fn(float{}); return;
        case VT_FLOAT16: fn(Half{}); return;
        case VT_BFLOAT16: fn(BFloat16{}); return;
        default:
            invalid_argument(op, "dtype", format("must be 0 (float32), 1 (float16) or 2 (bfloat16), got %d", dtype));
    }
}

}  // namespace vt
