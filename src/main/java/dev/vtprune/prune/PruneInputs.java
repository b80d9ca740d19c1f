package dev.vtprune.prune;

import dev.vtprune.internal.Args;
import dev.vtprune.ops.Backend;
import dev.vtprune.ops.ClsSaliency;
import dev.vtprune.ops.Reduce;
import dev.vtprune.ops.TextLayout;
import dev.vtprune.ops.TextRelevance;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * What a LibTorch service already has when it wants to prune: per-tile CLS embeddings, the
 * ViT's CLS attention of one layer (as rows, or as q_cls and K), the instruction attention of
 * one LM layer (as probabilities, or as Q and K with positions), or per-token scores computed
 * elsewhere. Each method reads what it needs; everything is optional here.
 *
 * <p>Visual tokens are numbered in tile order (each image's local tiles, then its thumbnail),
 * the order of {@link #layout()}; the instruction inputs must list visual tokens in the same
 * order.
 */
public final class PruneInputs {
    private final TileLayout layout;
    private final Tensor tileCls;
    private final Tensor vitAttention, vitQCls, vitK, bottomUp;
    private final boolean vitRowsIncludeCls;
    private final int patchMerge;
    private final List<Tensor> lmAttention;
    private final Tensor lmQ, lmK, instruction;
    private final TextLayout textLayout;
    private final double vitScale, lmScale;

    private PruneInputs(Builder b) {
        layout = b.layout;
        tileCls = b.tileCls;
        vitAttention = b.vitAttention;
        vitRowsIncludeCls = b.vitRowsIncludeCls;
        vitQCls = b.vitQCls;
        vitK = b.vitK;
        bottomUp = b.bottomUp;
        patchMerge = b.patchMerge;
        lmAttention = b.lmAttention;
        lmQ = b.lmQ;
        lmK = b.lmK;
        textLayout = b.textLayout;
        instruction = b.instruction;
        vitScale = b.vitScale;
        lmScale = b.lmScale;
    }

    public static Builder builder(TileLayout layout) {
        return new Builder(layout);
    }

    public TileLayout layout() {
        return layout;
    }

    /** [tiles, D] CLS embedding of every tile, each image's thumbnail last. */
    public Tensor tileCls() {
        if (tileCls == null) throw missing("tileCls", "the per-tile CLS embeddings [tiles, D]");
        return tileCls;
    }

    public boolean hasInstruction() {
        return instruction != null || lmAttention != null || lmQ != null;
    }

    public boolean hasBottomUp() {
        return bottomUp != null || vitAttention != null || vitQCls != null;
    }

    /** The device of the given tensors (the CPU when none is given). */
    public org.bytedeco.pytorch.Device device() {
        for (Tensor t : new Tensor[] {tileCls, vitAttention, vitQCls, bottomUp, lmQ, instruction,
                lmAttention == null || lmAttention.isEmpty() ? null : lmAttention.get(0)}) {
            if (t != null) return t.device();
        }
        return Tensors.cpu();
    }

    public TextLayout textLayout() {
        return textLayout;
    }

    public Tensor lmQ() {
        return lmQ;
    }

    public Tensor lmK() {
        return lmK;
    }

    public double lmScale() {
        return lmScale;
    }

    /**
     * float32 [N] ViT saliency per visual token (PTP eq. 3): the given scores, or the CLS row of
     * the given layer reduced over heads and summed over each token's patches.
     */
    public Tensor bottomUp(Reduce headReduce, Backend backend) {
        if (bottomUp != null) return bottomUp;
        Tensor perTile;
        if (vitAttention != null) {
            perTile = ClsSaliency.fromAttention(vitAttention, vitRowsIncludeCls, patchMerge, headReduce, backend);
        } else if (vitQCls != null) {
            perTile = ClsSaliency.fromQk(vitQCls, vitK, patchMerge, vitScale, headReduce, backend);
        } else {
            throw missing("vitAttention or vitQk", "the ViT CLS attention of one layer (rows, or q_cls and K)");
        }
        long tokens = perTile.size(1);
        for (int t = 0; t < layout.numTiles(); t++) {
            if (layout.tokens(t) != tokens) {
                throw Args.error("layout", "give every tile the " + tokens + " tokens of its " + perTile.size(1)
                        + "-token ViT grid after a " + patchMerge + "x" + patchMerge + " merge", "tile " + t + " with "
                        + layout.tokens(t) + " tokens (check the patch-merge factor)");
            }
        }
        return perTile.flatten();
    }

    /**
     * float32 [N] instruction relevance per visual token (PTP eq. 4): the given scores, or the
     * reduction of the given LM attention (probabilities or Q/K).
     */
    public Tensor instruction(Reduce headReduce, Reduce textReduce, Backend backend) {
        Tensor c;
        if (instruction != null) {
            c = instruction;
        } else if (lmAttention != null) {
            c = TextRelevance.fromAttention(lmAttention, headReduce, textReduce, backend);
        } else if (lmQ != null) {
            c = TextRelevance.fromQk(lmQ, lmK, textLayout, lmScale, headReduce, textReduce, backend);
        } else {
            throw missing("lmAttention or lmQk", "the instruction attention of one LM layer (probabilities, or Q/K)");
        }
        if (c.size(0) != layout.numTokens()) {
            throw Args.error("instruction inputs", "cover the layout's " + layout.numTokens() + " visual tokens",
                    Tensors.describe(c));
        }
        return c;
    }

    private static IllegalArgumentException missing(String name, String what) {
        return new IllegalArgumentException("input '" + name + "' is required by this method: " + what);
    }

    /** Fluent construction; every setter is optional. */
    public static final class Builder {
        private final TileLayout layout;
        private Tensor tileCls, vitAttention, vitQCls, vitK, bottomUp, lmQ, lmK, instruction;
        private boolean vitRowsIncludeCls;
        private int patchMerge = 1;
        private List<Tensor> lmAttention;
        private TextLayout textLayout;
        private double vitScale = Double.NaN, lmScale = Double.NaN;

        private Builder(TileLayout layout) {
            this.layout = Args.notNull(layout, "layout");
        }

        public Builder tileCls(Tensor cls) {
            this.tileCls = cls;
            return this;
        }

        /** [tiles, heads, P] CLS-to-patch rows of the ViT layer (or [tiles, heads, 1 + P] with the CLS column). */
        public Builder vitAttention(Tensor rows, boolean rowsIncludeCls) {
            this.vitAttention = rows;
            this.vitRowsIncludeCls = rowsIncludeCls;
            return this;
        }

        /** q_cls [tiles, heads, d] and K [tiles, heads, 1 + P, d] of the ViT layer; scale NaN = 1/sqrt(d). */
        public Builder vitQk(Tensor qCls, Tensor k, double scale) {
            this.vitQCls = qCls;
            this.vitK = k;
            this.vitScale = scale;
            return this;
        }

        /** Per-token bottom-up scores [N] computed elsewhere. */
        public Builder bottomUp(Tensor scores) {
            this.bottomUp = scores;
            return this;
        }

        /** m: m x m patches form one visual token (InternVL: 2). */
        public Builder patchMerge(int merge) {
            this.patchMerge = merge;
            return this;
        }

        /** Per image, [heads, Q_b, N_b] instruction rows restricted to the visual columns. */
        public Builder lmAttention(List<Tensor> perImage) {
            this.lmAttention = perImage;
            return this;
        }

        /** Q [Hq, queries, d] and K [Hkv, keys, d] of the LM layer with positions; scale NaN = 1/sqrt(d). */
        public Builder lmQk(Tensor q, Tensor k, TextLayout positions, double scale) {
            this.lmQ = q;
            this.lmK = k;
            this.textLayout = Args.notNull(positions, "positions");
            this.lmScale = scale;
            return this;
        }

        /** Per-token instruction scores [N] computed elsewhere. */
        public Builder instruction(Tensor scores) {
            this.instruction = scores;
            return this;
        }

        public PruneInputs build() {
            return new PruneInputs(this);
        }
    }
}
