package dev.vtprune.ops;

import dev.vtprune.nativelib.VtNative;

/** How attention is reduced over heads (PTP: MEAN) or over instruction tokens (PTP: MAX). */
public enum Reduce {
    MEAN(VtNative.VT_REDUCE_MEAN), MAX(VtNative.VT_REDUCE_MAX);

    final int code;

    Reduce(int code) {
        this.code = code;
    }
}
