package dev.vtprune.ops;

import dev.vtprune.internal.OpScope;
import org.bytedeco.pytorch.Tensor;

/** The one finiteness rule of the Q/K ops (K3, K4, K5), shared by their native and LibTorch paths. */
final class FiniteAttention {
    private FiniteAttention() {}

    /**
     * Runs a Q/K op and refuses a non-finite result: finite q and k whose logits q.k * scale
     * overflow float32 are bad input, with this one message on both backends (the native
     * kernel's VT_ERR_NONFINITE, and a check of the result that also covers the LibTorch
     * composition). The check reads the result once (a device sync on CUDA).
     */
    static Tensor check(java.util.function.Supplier<Tensor> op, String q, String k) {
        return check(op, out -> out, q, k);
    }

    /**
     * The same for an op with several outputs: {@code probe} picks the one that turns NaN on the
     * CUDA path (vtprune.h: K3's cls_row). A failed check closes the result.
     */
    static <R extends AutoCloseable> R check(java.util.function.Supplier<R> op,
                                             java.util.function.Function<R, Tensor> probe, String q, String k) {
        R out;
        try {
            out = op.get();
        } catch (VtpruneException e) {
            if (e.status() != VtpruneException.Status.NONFINITE) throw e;
            throw overflow(q, k);
        }
        boolean finite;
        try (OpScope scope = new OpScope()) {
            Tensor t = probe.apply(out);
            finite = t.numel() == 0 || t.isfinite().all().item_bool();
        }
        if (!finite) {
            try {
                out.close();
            } catch (Exception ignored) {
                // the overflow is the error to report
            }
            throw overflow(q, k);
        }
        return out;
    }

    private static IllegalArgumentException overflow(String q, String k) {
        return new IllegalArgumentException("arguments '" + q + "' and '" + k + "' must give finite attention logits "
                + q + "." + k + " * scale, got values past float32's range (the softmax is not finite); scale them down");
    }
}
