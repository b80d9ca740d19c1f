#include "core/view.hpp"

#include <string>

namespace vt {
namespace {

const char* dtype_name(int32_t dtype) {
    switch (dtype) {
        case VT_FLOAT32: return "float32";
        case VT_FLOAT16: return "float16";
        case VT_BFLOAT16: return "bfloat16";
        case VT_INT64: return "int64";
        default: return "unknown";
    }
}

int64_t element_bytes(int32_t dtype) {
    return dtype == VT_INT64 ? 8 : dtype == VT_FLOAT32 ? 4 : 2;
}

// "0 (float32), 1 (float16) or 2 (bfloat16)"
std::string dtype_list(unsigned dtypes) {
    std::string out;
    int listed = 0, total = __builtin_popcount(dtypes);
    for (int32_t d = VT_FLOAT32; d <= VT_INT64; ++d) {
        if (!(dtypes >> d & 1u)) continue;
        if (listed > 0) out += listed == total - 1 ? " or " : ", ";
        out += format("%d (%s)", d, dtype_name(d));
        ++listed;
    }
    return out;
}

std::string device_name(int32_t device) {
    return device < 0 ? std::string("cpu") : format("cuda:%d", device);
}

std::string list(const int64_t* v, int32_t n) {
    std::string out;
    for (int32_t i = 0; i < n; ++i) out += format(i == 0 ? "%lld" : ", %lld", static_cast<long long>(v[i]));
    return out;
}

// The checks of Views::operator() as one predicate, without a message: every call runs it on
// every view, so it stays small (no strings, no frames for them); reject() finds and names the
// fault when it fails. The two must agree: reject() re-runs the same checks in the same order.
bool valid(const vt_tensor* t, int32_t ndim, unsigned dtypes, Layout layout) {
    if (t == nullptr || t->reserved != 0 || t->ndim != ndim || t->dtype < 0 || t->dtype >= 32 ||
        !(dtypes >> t->dtype & 1u) || t->device < -1) {
        return false;
    }
    bool empty = false;
    for (int32_t d = 0; d < ndim; ++d) {
        if (t->shape[d] < 0) return false;
        empty |= t->shape[d] == 0;
    }
    int64_t extent = 1;
    if (layout == Layout::Contiguous) {
        for (int32_t d = ndim - 1; d >= 0 && !empty; --d) {
            if (t->shape[d] != 1 && t->strides[d] != extent) return false;
            if (__builtin_mul_overflow(extent, t->shape[d], &extent)) return false;
        }
    } else {
        if (ndim > 0 && t->shape[ndim - 1] != 1 && t->strides[ndim - 1] != 1) return false;
        for (int32_t d = 0; d + 1 < ndim; ++d) {
            if (t->strides[d] < 0) return false;
        }
        if (!empty) {
            extent = ndim > 0 ? t->shape[ndim - 1] : 1;
            for (int32_t d = 0; d + 1 < ndim; ++d) {
                int64_t span;
                if (__builtin_mul_overflow(t->shape[d] - 1, t->strides[d], &span) ||
                    __builtin_add_overflow(extent, span, &extent)) {
                    return false;
                }
            }
        }
    }
    if (empty) return true;
    int64_t bytes;
    return !__builtin_mul_overflow(extent, element_bytes(t->dtype), &bytes) && t->data != nullptr;
}

}  // namespace

const vt_tensor& Views::operator()(const vt_tensor* t, const char* name, int32_t ndim, const char* dims,
                                   unsigned dtypes, Layout layout) {
    if (__builtin_expect(valid(t, ndim, dtypes, layout), 1)) {
        if (first_ == nullptr) {
            first_ = name;
            device_ = t->device;
            return *t;
        }
        if (t->device == device_) return *t;
    }
    reject(t, name, ndim, dims, dtypes, layout);
}

void Views::reject(const vt_tensor* t, const char* name, int32_t ndim, const char* dims, unsigned dtypes,
                   Layout layout) const {
    if (t == nullptr) invalid_argument(op_, name, "must not be NULL (a vt_tensor view)");
    if (t->reserved != 0) invalid_argument(op_, name, format("must have reserved = 0, got %d", t->reserved));
    if (t->ndim != ndim) invalid_argument(op_, name, format("must have rank %d %s, got %d", ndim, dims, t->ndim));
    if (t->dtype < 0 || t->dtype >= 32 || !(dtypes >> t->dtype & 1u)) {
        invalid_argument(op_, name, format("must have dtype %s, got %d", dtype_list(dtypes).c_str(), t->dtype));
    }
    if (t->device < -1) invalid_argument(op_, name, format("must be on device -1 (cpu) or >= 0 (cuda), got %d", t->device));
    if (first_ != nullptr && t->device != device_) {
        invalid_argument(op_, name,
                         format("must be on the device of '%s' (%s), got %s", first_, device_name(device_).c_str(),
                                device_name(t->device).c_str()));
    }
    bool empty = false;
    for (int32_t d = 0; d < ndim; ++d) {
        if (t->shape[d] < 0) {
            invalid_argument(op_, name, format("must have sizes >= 0, got shape %s = [%s]", dims, list(t->shape, ndim).c_str()));
        }
        empty |= t->shape[d] == 0;
    }
    // The element just past the view's last one, counted in elements: the footprint.
    int64_t extent = 1;
    if (layout == Layout::Contiguous) {
        // An empty view addresses no element: any strides are contiguous (as in LibTorch).
        int64_t stride = 1;
        for (int32_t d = ndim - 1; d >= 0 && !empty; --d) {
            if (t->shape[d] != 1 && t->strides[d] != stride) {
                std::string want;
                int64_t s = 1;
                for (int32_t e = ndim - 1; e >= 0; --e) {
                    want = (e == ndim - 1 ? format("%lld", static_cast<long long>(s))
                                          : format("%lld, ", static_cast<long long>(s))) + want;
                    s = int64_t(uint64_t(s) * uint64_t(t->shape[e] > 0 ? t->shape[e] : 1));  // (message only)
                }
                invalid_argument(op_, name,
                                 format("must be contiguous (row-major strides [%s] for shape [%s]), got strides [%s]",
                                        want.c_str(), list(t->shape, ndim).c_str(), list(t->strides, ndim).c_str()));
            }
            stride = checked_mul(stride, t->shape[d], op_, name, "the product of its dimensions");
        }
        extent = stride;
    } else {
        if (ndim > 0 && t->shape[ndim - 1] != 1 && t->strides[ndim - 1] != 1) {
            invalid_argument(op_, name, format("must have stride 1 in its last dimension, got strides [%s]",
                                               list(t->strides, ndim).c_str()));
        }
        for (int32_t d = 0; d + 1 < ndim; ++d) {
            if (t->strides[d] < 0) {
                invalid_argument(op_, name,
                                 format("must have strides >= 0, got [%s]", list(t->strides, ndim).c_str()));
            }
        }
        if (!empty) {
            extent = ndim > 0 ? t->shape[ndim - 1] : 1;
            for (int32_t d = 0; d + 1 < ndim; ++d) {
                extent = checked_add(extent, checked_mul(t->shape[d] - 1, t->strides[d], op_, name, "its extent"), op_,
                                     name, "its extent");
            }
        }
    }
    if (!empty) {  // (an empty view reads and writes nothing: its data may be NULL)
        checked_mul(extent, element_bytes(t->dtype), op_, name, "its size in bytes");
        if (t->data == nullptr) {
            invalid_argument(op_, name,
                             format("must not have NULL data (it has shape [%s])", list(t->shape, ndim).c_str()));
        }
    }
    throw Error(VT_ERR_INTERNAL, format("%s: the check of view '%s' failed, but no fault was found", op_, name));
}

void Views::same_dtype(const vt_tensor& t, const char* name, const vt_tensor& other, const char* other_name) const {
    if (t.dtype != other.dtype) {
        invalid_argument(op_, name,
                         format("must have the dtype of '%s' (%d, %s), got %d (%s)", other_name, other.dtype,
                                dtype_name(other.dtype), t.dtype, dtype_name(t.dtype)));
    }
}

void Views::dim_mismatch(const char* name, int d, int64_t want, int64_t got, const char* what) const {
    invalid_argument(op_, name,
                     format("must have shape[%d] = %lld (%s), got %lld", d, static_cast<long long>(want), what,
                            static_cast<long long>(got)));
}

}  // namespace vt
