package dev.vtprune.model;

import dev.vtprune.internal.Closing;
import dev.vtprune.internal.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * Result of {@link LanguageModel#probe}: the decoder run through layers 0..layer only.
 * q and k are exactly what that layer's attention used (projection, bias, RoPE applied; not
 * yet scaled by 1/sqrt(d)), so {@code TextRelevance.fromQk} computes PTP's instruction
 * relevance from them (take sequence b as {@code q.select(0, b)} [Hq, L, d], narrowed to the
 * instruction positions, and {@code k.select(0, b)} [Hkv, L, d]). Owns its tensors: after
 * {@link #close()} (idempotent) the accessors throw {@link IllegalStateException}.
 */
public final class Probe implements AutoCloseable {
    private final Closing closing = new Closing("Probe");
    private final int layer;
    private final Tensor q, k, hidden;
    private final KvCache cache;

    /**
     * @param layer  the probed layer
     * @param q      [B, Hq, L, headDim], contiguous
     * @param k      [B, Hkv, L, headDim], contiguous (its own handle on the cache's keys of `layer`)
     * @param hidden [B, L, hidden]: the states entering layer `layer + 1`
     * @param cache  keys and values of layers 0..layer, to continue with
     *               {@link LanguageModel#prefillFrom} instead of re-running them
     */
    public Probe(int layer, Tensor q, Tensor k, Tensor hidden, KvCache cache) {
        this.layer = layer;
        this.q = q;
        this.k = k;
        this.hidden = hidden;
        this.cache = cache;
    }

    public int layer() {
        closing.check();
        return layer;
    }

    public Tensor q() {
        closing.check();
        return q;
    }

    public Tensor k() {
        closing.check();
        return k;
    }

    public Tensor hidden() {
        closing.check();
        return hidden;
    }

    public KvCache cache() {
        closing.check();
        return cache;
    }

    @Override
    public void close() {
        if (!closing.close()) return;
        Tensors.closeAll(q, k, hidden);
        cache.close();
    }
}
