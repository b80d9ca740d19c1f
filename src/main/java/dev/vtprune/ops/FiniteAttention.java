package dev.vtprune.ops;

import dev.vtprune.internal.OpScope;
import org.bytedeco.pytorch.Tensor;

/** The one finiteness rule of the Q/K ops (K4, K5), shared by their native and LibTorch paths. */
final class FiniteAttention {
    private FiniteAttention() {}

    /**
     * Runs a Q/K op and refuses a non-finite result: finite q and k whose logits q.k * scale
     * overflow float32 are bad input, with this one message on both backends (the native
     * kernel's VT_ERR_NONFINITE, and a check of the result that also covers the LibTorch
     * composition). The check reads the result once (a device sync on CUDA).
     */
    static Tensor check(java.util.function.Supplier<Tensor> op, String q, String k) {
        Tensor out;
        try {
            out = op.get();
        } catch (VtpruneException e) {
            if (e.status() != VtpruneException.Status.NONFINITE) throw e;
            throw overflow(q, k);
        }
        boolean finite;
        try (OpScope scope = new OpScope()) {
            finite = out.numel() == 0 || out.isfinite().all().item_bool();
        }
        if (!finite) throw overflow(q, k);
        return out;
    }

    private static IllegalArgumentException overflow(String q, String k) {
        return new IllegalArgumentException("arguments '" + q + "' and '" + k + "' must give finite attention logits "
                + q + "." + k + " * scale, got values past float32's range (the softmax is not finite); scale them down");
    }
}
