package dev.vtprune.model;

import dev.vtprune.internal.Closing;
import dev.vtprune.internal.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * Result of a decoder prefill; owns its tensors: after {@link #close()} (idempotent) the
 * accessors throw {@link IllegalStateException}.
 */
public final class Prefill implements AutoCloseable {
    private final Closing closing = new Closing("Prefill");
    private final Tensor lastLogits;
    private final KvCache cache;

    /**
     * @param lastLogits float32 [B, vocab]: logits at each sequence's last real position
     * @param cache      keys and values of every layer, ready for decoding
     */
    public Prefill(Tensor lastLogits, KvCache cache) {
        this.lastLogits = lastLogits;
        this.cache = cache;
    }

    public Tensor lastLogits() {
        closing.check();
        return lastLogits;
    }

    public KvCache cache() {
        closing.check();
        return cache;
    }

    @Override
    public void close() {
        if (!closing.close()) return;
        Tensors.closeAll(lastLogits);
        cache.close();
    }
}
