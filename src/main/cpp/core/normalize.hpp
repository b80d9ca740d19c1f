// The per-tile min-max normalisation of K2, x^ = (x - lo) / (hi - lo), shared by the CPU and
// CUDA kernels so that both round alike (the CPU is built without FMA contraction; the device
// branch spells its roundings out).
#pragma once

#include <cmath>

#include "host_device.hpp"

namespace vt {

// Identity when disabled, constant 0 for a flat tile (hi - lo <= 1e-12). When hi - lo
// overflows float (finite inputs such as {FLT_MAX, -FLT_MAX}), x, lo and hi are halved first:
// exact at such magnitudes, and (x - lo) / Inf would give NaN and 0 instead of scores in [0, 1].
struct MinMaxNorm {
    float lo = 0.0f, range = 1.0f, scale = 1.0f;  // lo and range already multiplied by scale
    bool flat = false, enabled = false;

    VT_HD float operator()(float v) const {
        if (!enabled) return v;
        if (flat) return 0.0f;
#if defined(__CUDA_ARCH__)
        return __fdiv_rn(__fsub_rn(__fmul_rn(v, scale), lo), range);
#else
        return (v * scale - lo) / range;
#endif
    }
};

VT_HD inline MinMaxNorm make_min_max_norm(bool enabled, float lo, float hi) {
    MinMaxNorm n;
    n.enabled = enabled;
    if (enabled) {
        n.range = hi - lo;
        if (n.range == INFINITY) {
            n.scale = 0.5f;
            n.range = hi * 0.5f - lo * 0.5f;
        }
        n.lo = lo * n.scale;
        n.flat = !(n.range > 1e-12f);
    }
    return n;
}

}  // namespace vt
