package dev.vtprune.model;

import dev.vtprune.internal.Args;
import dev.vtprune.internal.Tensors;
import java.util.Arrays;
import org.bytedeco.pytorch.Tensor;

/** Argument checks of the module entry points, phrased like dev.vtprune.internal.Args. */
final class Checks {
    private Checks() {}

    /** A floating tensor of exactly this shape; dims names the axes for the message. */
    static void shape(Tensor t, String name, String dims, long... expected) {
        Args.defined(t, name);
        if (!Arrays.equals(t.shape(), expected)) {
            throw Args.error(name, "have shape " + Arrays.toString(expected) + " " + dims, Tensors.describe(t));
        }
        Args.floating(t, name);
    }

    /** lengths of B right-padded sequences of padded length L: one per sequence, in [1, L]. */
    static void lengths(long[] lengths, long batch, long padded) {
        Args.notNull(lengths, "lengths");
        if (lengths.length != batch) {
            throw Args.error("lengths", "hold one length per sequence (" + batch + ")", Arrays.toString(lengths));
        }
        for (int b = 0; b < lengths.length; b++) {
            if (lengths[b] < 1 || lengths[b] > padded) {
                throw Args.error("lengths[" + b + "]", "be in [1, " + padded + "] (the padded length)", lengths[b]);
            }
        }
    }

    static int layer(int layer, String name, int lo, int layers) {
        if (layer < lo || layer >= layers) throw Args.error(name, "be in [" + lo + ", " + (layers - 1) + "]", layer);
        return layer;
    }
}
