package dev.vtprune.prune;

import dev.vtprune.internal.Args;
import dev.vtprune.ops.Backend;
import dev.vtprune.ops.Reduce;
import dev.vtprune.ops.TextLayout;
import dev.vtprune.ops.TextRelevance;
import dev.vtprune.internal.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * Baseline: FastV (Chen et al.) — at LM layer K, the attention of each image's last token to
 * its visual tokens, averaged over heads; the top (1 - ratio) of the visual tokens are kept for
 * the layers after K. The selection comes from the Q/K of layer K (K4 with one query per image,
 * no attention matrix); the pipeline applies it inside the LM.
 */
public final class FastVPruner implements TokenPruner {
    private final double ratio;
    private final int layer;
    private final Backend backend;

    /**
     * @param ratio fraction of visual tokens dropped after layer K (FastV's 1 - R)
     * @param layer K, the LM layer (0-based) whose attention decides (FastV: 2)
     */
    public FastVPruner(double ratio, int layer, Backend backend) {
        this.ratio = Args.inRange(ratio, "ratio", 0.0, 1.0, false);
        this.layer = (int) Args.atLeast(layer, "layer", 0);
        this.backend = Args.notNull(backend, "backend");
    }

    @Override
    public String name() {
        return "fastv";
    }

    @Override
    public double ratio() {
        return ratio;
    }

    public int layer() {
        return layer;
    }

    @Override
    public Selection select(PruneInputs in) {
        return Selection.owned(() -> {
            TextLayout text = in.textLayout();
            if (in.lmQ() == null || text == null) {
                throw new IllegalArgumentException("input 'lmQk' is required by FastV: the Q/K of LM layer " + layer);
            }
            // The last query of each image only.
            TextLayout.Builder last = TextLayout.builder();
            long[] rows = new long[text.numImages()];
            for (int b = 0; b < text.numImages(); b++) {
                long[] q = text.queryPos(b);
                if (q.length == 0) throw Args.error("lmQk", "hold at least one query per image", "none for image " + b);
                rows[b] = text.queryOffset(b) + q.length - 1;
                last.add(text.keys(b), new long[] {q[q.length - 1]}, text.visualPos(b));
            }
            Tensor q = in.lmQ().index_select(1, Tensors.longs(in.lmQ().device(), rows));
            try (TextLayout lastOnly = last.build()) {
                Tensor scores = TextRelevance.fromQk(q, in.lmK(), lastOnly, in.lmScale(), Reduce.MEAN, Reduce.MAX, backend);
                return ImageTopK.select(in.layout(), scores, ratio, backend);
            }
        });
    }
}
