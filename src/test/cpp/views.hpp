// vt_tensor views for the C++ callers of the ABI (the C tests, the fuzz harness, gpucheck):
// contiguous row-major views of a buffer, with the dtype taken from the element type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "vtprune/vtprune.h"

namespace vtv {

inline vt_tensor view(const void* data, int32_t dtype, std::initializer_list<int64_t> shape, int32_t device = -1) {
    vt_tensor t{};
    t.data = const_cast<void*>(data);  // (a view of an input is only read)
    t.dtype = dtype;
    t.device = device;
    t.ndim = static_cast<int32_t>(shape.size());
    int32_t d = 0;
    for (int64_t s : shape) t.shape[d++] = s;
    int64_t stride = 1;  // wraps like the caller's sizes may: the library checks, not this helper
    for (d = t.ndim - 1; d >= 0; --d) {
        t.strides[d] = stride;
        stride = static_cast<int64_t>(static_cast<uint64_t>(stride) * static_cast<uint64_t>(t.shape[d]));
    }
    return t;
}

inline vt_tensor view(std::nullptr_t, int32_t dtype, std::initializer_list<int64_t> shape, int32_t device = -1) {
    return view(static_cast<const void*>(nullptr), dtype, shape, device);
}

inline vt_tensor view(const float* data, std::initializer_list<int64_t> shape, int32_t device = -1) {
    return view(data, VT_FLOAT32, shape, device);
}

inline vt_tensor view(const int64_t* data, std::initializer_list<int64_t> shape, int32_t device = -1) {
    return view(data, VT_INT64, shape, device);
}

// A view with explicit strides (in elements), for the strided Q/K arguments.
inline vt_tensor strided(const void* data, int32_t dtype, std::initializer_list<int64_t> shape,
                         std::initializer_list<int64_t> strides, int32_t device = -1) {
    vt_tensor t = view(data, dtype, shape, device);
    int32_t d = 0;
    for (int64_t s : strides) t.strides[d++] = s;
    return t;
}

}  // namespace vtv
