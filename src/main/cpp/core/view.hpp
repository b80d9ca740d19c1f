// Host-side checks of the vt_tensor views of one call (vtprune.h): every view is checked before
// the op dispatches, on both paths, since a view is a host struct even when its data is device
// memory. The messages follow the library's form: "<op>: argument '<name>' must ...".
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/checked.hpp"
#include "core/error.hpp"
#include "vtprune/vtprune.h"

namespace vt {

static_assert(offsetof(vt_tensor, data) == 0 && offsetof(vt_tensor, dtype) == 8 && offsetof(vt_tensor, device) == 12 &&
                  offsetof(vt_tensor, ndim) == 16 && offsetof(vt_tensor, reserved) == 20 &&
                  offsetof(vt_tensor, shape) == 24 && offsetof(vt_tensor, strides) == 56 && sizeof(vt_tensor) == 88,
              "vt_tensor's layout is documented in vtprune.h and written by dev.vtprune.ops.NativeViews");

// Bit masks of the dtypes an argument accepts.
constexpr unsigned kFloating = 1u << VT_FLOAT32 | 1u << VT_FLOAT16 | 1u << VT_BFLOAT16;
constexpr unsigned kF32 = 1u << VT_FLOAT32;
constexpr unsigned kI64 = 1u << VT_INT64;

// Contiguous: row-major strides. Strided: last stride 1, the others >= 0 (the Q/K forms).
enum class Layout { Contiguous, Strided };

// The views of one call. The first view checked fixes the call's device; every later one must
// name it too.
class Views {
public:
    explicit Views(const char* op) : op_(op) {}

    // Checks `t` (named `name`): not NULL, reserved 0, rank `ndim` (its dimensions spelled
    // `dims`, e.g. "[num_tiles, dim]"), a dtype of `dtypes`, sizes >= 0, the strides of
    // `layout`, a footprint whose bytes fit in int64, data non-NULL unless empty, and the call's
    // device. Returns *t.
    const vt_tensor& operator()(const vt_tensor* t, const char* name, int32_t ndim, const char* dims, unsigned dtypes,
                                Layout layout = Layout::Contiguous);

    // Like operator(), but a NULL view is allowed (an optional argument): returns nullptr then.
    const vt_tensor* optional(const vt_tensor* t, const char* name, int32_t ndim, const char* dims, unsigned dtypes,
                              Layout layout = Layout::Contiguous) {
        return t == nullptr ? nullptr : &(*this)(t, name, ndim, dims, dtypes, layout);
    }

    // Requires t.shape[d] == want; `what` says where `want` comes from ("num_tiles, cls.shape[0]").
    void dim(const vt_tensor& t, const char* name, int d, int64_t want, const char* what) const {
        if (t.shape[d] != want) dim_mismatch(name, d, want, t.shape[d], what);
    }

    // Requires `t` to have the dtype of the view `other` (named `other_name`).
    void same_dtype(const vt_tensor& t, const char* name, const vt_tensor& other, const char* other_name) const;

    // The device of the call's views (-1: the CPU); only valid after a view was checked.
    int32_t device() const { return device_; }

    // The params struct: not NULL.
    template <class P>
    const P& params(const P* p) const {
        if (p == nullptr) invalid_argument(op_, "params", "must not be NULL");
        return *p;
    }

private:
    // Names the fault of a view that failed operator()'s checks (or of its device); cold.
    [[noreturn]] __attribute__((cold, noinline)) void reject(const vt_tensor* t, const char* name, int32_t ndim,
                                                             const char* dims, unsigned dtypes, Layout layout) const;
    [[noreturn]] void dim_mismatch(const char* name, int d, int64_t want, int64_t got, const char* what) const;

    const char* op_;
    const char* first_ = nullptr;  // the view that fixed the device
    int32_t device_ = -1;
};

}  // namespace vt
