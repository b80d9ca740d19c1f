package dev.vtprune.model;

import dev.vtprune.internal.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * Result of {@link LanguageModel#probe}: the decoder run through layers 0..layer only.
 * q and k are exactly what that layer's attention used (projection, bias, RoPE applied; not
 * yet scaled by 1/sqrt(d)), so {@code TextRelevance.fromQk} computes PTP's instruction
 * relevance from them (take sequence b as {@code q.select(0, b)} [Hq, L, d], narrowed to the
 * instruction positions, and {@code k.select(0, b)} [Hkv, L, d]).
 *
 * @param layer  the probed layer
 * @param q      [B, Hq, L, headDim], contiguous
 * @param k      [B, Hkv, L, headDim], contiguous (its own handle on the cache's keys of `layer`)
 * @param hidden [B, L, hidden]: the states entering layer `layer + 1`
 * @param cache  keys and values of layers 0..layer, to continue with
 *               {@link LanguageModel#prefillFrom} instead of re-running them
 */
public record Probe(int layer, Tensor q, Tensor k, Tensor hidden, KvCache cache) implements AutoCloseable {
    @Override
    public void close() {
        Tensors.closeAll(q, k, hidden);
        cache.close();
    }
}
