package dev.vtprune.model;

import dev.vtprune.internal.Closing;
import dev.vtprune.internal.Args;
import dev.vtprune.internal.Tensors;
import java.util.Arrays;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Keys and values of the decoder layers 0 .. layers()-1 for B right-padded sequences:
 * per layer K and V [B, Hkv, L, headDim], contiguous, K after RoPE (exactly what the attention
 * used), in the model's dtype. Positions at or beyond a sequence's length hold padding.
 * Owns its tensors ({@link #close()}); caches made from one another hold their own handles on
 * shared storage, so each may be closed independently.
 *
 * <p>For decoding ({@link LanguageModel#decoder}) a cache also knows, per sequence, the RoPE
 * position the next token takes ({@link #nextPositions()}): the prefill's last position + 1,
 * which is the unpruned sequence length when the kept tokens kept their original positions
 * (FastV, PTP with the reused probe, IVTP's LM stage) and the pruned length when the shorter
 * sequence was prefilled from position 0 (PTP's paper form, the other baselines, IVTP's ViT
 * stage, whose survivors its LM stage then keeps at those positions). And, per
 * layer and sequence, how many of the layer's entries are real ({@link #layerLengths(int)}):
 * {@link #lengths()} in every layer, except for IVTP's LM stage, whose layers before a pruning
 * point cache more tokens than the layers after it (one sequence, no padding).
 */
public final class KvCache implements AutoCloseable {
    private final Closing closing = new Closing("KvCache");
    private final Tensor[] keys, values;
    private final long[] lengths;
    private final long[][] layerLengths;
    private final long[] nextPositions;

    /** Every layer holds `lengths` real entries, at positions 0..length-1. */
    KvCache(Tensor[] keys, Tensor[] values, long[] lengths) {
        this(keys, values, lengths, null, lengths);
    }

    /**
     * @param layerLengths  per layer, the real entries of each sequence (each <= the layer's
     *                      padded length); null for `lengths` in every layer
     * @param nextPositions per sequence, the RoPE position of the token after the cached ones
     */
    KvCache(Tensor[] keys, Tensor[] values, long[] lengths, long[][] layerLengths, long[] nextPositions) {
        this.keys = keys;
        this.values = values;
        this.lengths = lengths.clone();
        this.layerLengths = new long[keys.length][];
        for (int l = 0; l < keys.length; l++) {
            this.layerLengths[l] = (layerLengths == null ? lengths : layerLengths[l]).clone();
        }
        this.nextPositions = nextPositions.clone();
    }

    /** Number of layers held, counted from layer 0. */
    public int layers() {
        closing.check();
        return keys.length;
    }

    public Tensor key(int layer) {
        closing.check();
        return keys[Checks.layer(layer, "layer", 0, keys.length)];
    }

    public Tensor value(int layer) {
        closing.check();
        return values[Checks.layer(layer, "layer", 0, values.length)];
    }

    public long batch() {
        closing.check();
        return lengths.length;
    }

    /** The padded length L. */
    public long length() {
        closing.check();
        return keys.length == 0 ? 0 : keys[0].size(2);
    }

    /** The real length of each sequence. */
    public long[] lengths() {
        closing.check();
        return lengths.clone();
    }

    /** Real entries of each sequence in `layer`'s keys and values (the rest is padding). */
    public long[] layerLengths(int layer) {
        closing.check();
        return layerLengths[Checks.layer(layer, "layer", 0, keys.length)].clone();
    }

    /** Per sequence, the RoPE position the next token takes (see the class comment). */
    public long[] nextPositions() {
        closing.check();
        return nextPositions.clone();
    }

    /**
     * The cache of a subset of the positions, e.g. the tokens kept by a pruner, for every layer:
     * entry (b, j) of the result is position {@code index[b, j]} of sequence b. The kept entries
     * keep their RoPE positions, so the next position stays this cache's.
     *
     * @param index      int64 [B, L'] positions to keep per sequence (right-padded with any valid position)
     * @param newLengths the real length of each selected sequence
     */
    public KvCache gather(Tensor index, long[] newLengths) {
        closing.check();
        Args.rank(index, "index", 2, "[batch, positions]");
        Args.dtype(index, "index", ScalarType.Long);
        Args.size(index, "index", 0, batch(), "sequences of the cache");
        Checks.lengths(newLengths, batch(), index.size(1));
        for (Tensor key : keys) {
            if (key.size(2) != length()) {
                throw new IllegalStateException(this + ": its layers cache different numbers of tokens (IVTP's LM stage); "
                        + "gather needs one length in every layer");
            }
        }
        Tensor[] k = new Tensor[keys.length], v = new Tensor[values.length];
        try (Scope scope = Scope.noGrad()) {
            if (index.numel() > 0 && (index.min().item_long() < 0 || index.max().item_long() >= length())) {
                throw Args.error("index", "hold positions in [0, " + length() + ")", Tensors.describe(index));
            }
            for (int l = 0; l < keys.length; l++) {
                Tensor idx = index.to(keys[l].device(), ScalarType.Long).view(index.size(0), 1, index.size(1), 1)
                        .expand(keys[l].size(0), keys[l].size(1), index.size(1), keys[l].size(3));
                k[l] = scope.keep(keys[l].gather(2, idx).contiguous());
                v[l] = scope.keep(values[l].gather(2, idx).contiguous());
            }
        }
        return new KvCache(k, v, newLengths, null, nextPositions);
    }

    @Override
    public void close() {
        if (!closing.close()) return;
        Tensors.closeAll(keys);
        Tensors.closeAll(values);
    }

    @Override
    public String toString() {
        return "KvCache[" + keys.length + " layers, lengths " + Arrays.toString(lengths) + ", padded " + length() + "]";
    }
}
