package dev.vtprune.model;

/**
 * The deliberate switch that lets the modules' forward passes record autograd graphs.
 *
 * <p>Every forward normally holds LibTorch's no-grad mode ({@link Scope#noGrad()}): inference
 * needs no graph, and the pruning code that consumes the results must not find one. A trainer
 * opens {@link #enable()} on its thread around the forward and backward of a step; inside it
 * those scopes leave the grad mode as it is, so outputs depend differentiably on every weight
 * marked {@code requires_grad}. The switch is thread-local and nests.
 */
public final class Training {
    private static final ThreadLocal<int[]> DEPTH = ThreadLocal.withInitial(() -> new int[1]);

    private Training() {}

    /** Whether forwards on this thread record graphs. */
    public static boolean active() {
        return DEPTH.get()[0] > 0;
    }

    /** Turns training mode on for this thread until the returned handle is closed. */
    public static Mode enable() {
        DEPTH.get()[0]++;
        return new Mode();
    }

    /** An open training mode; close it on the thread that opened it (try-with-resources). */
    public static final class Mode implements AutoCloseable {
        private boolean closed;

        private Mode() {}

        @Override
        public void close() {
            if (closed) return;
            closed = true;
            DEPTH.get()[0]--;
        }
    }
}
