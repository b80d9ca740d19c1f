package dev.vtprune.model;

import dev.vtprune.internal.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * Result of a decoder prefill.
 *
 * @param lastLogits float32 [B, vocab]: logits at each sequence's last real position
 * @param cache      keys and values of every layer, ready for decoding
 */
public record Prefill(Tensor lastLogits, KvCache cache) implements AutoCloseable {
    @Override
    public void close() {
        Tensors.closeAll(lastLogits);
        cache.close();
    }
}
