package dev.vtprune.prune;

import dev.vtprune.internal.Args;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * Baseline: spatially uniform pruning. Every tile keeps floor(keep * n_t + 0.5) tokens at evenly
 * strided positions of its raster order (token floor((j + 0.5) n_t / K_t) for j < K_t), which
 * spreads them over the tile's grid. Needs nothing but the layout.
 */
public final class SpatialPruner implements TokenPruner {
    private final double ratio;

    public SpatialPruner(double ratio) {
        this.ratio = Args.inRange(ratio, "ratio", 0.0, 1.0, false);
    }

    @Override
    public String name() {
        return "spatial";
    }

    @Override
    public double ratio() {
        return ratio;
    }

    @Override
    public Selection select(PruneInputs in) {
        TileLayout layout = in.layout();
        for (int b = 0; b < layout.numImages(); b++) {
            long largest = 0, tokens = 0;
            for (int t = layout.firstTile(b); t <= layout.thumbnail(b); t++) {
                largest = Math.max(largest, layout.tokens(t));
                tokens += layout.tokens(t);
            }
            ImageTopK.keepsSomething(ratio, b, tokens, largest);
        }
        long[] budgets = new long[layout.numTiles()];
        long total = 0;
        for (int t = 0; t < budgets.length; t++) {
            budgets[t] = ImageTopK.budget(1.0 - ratio, layout.tokens(t));
            total += budgets[t];
        }
        long[] kept = new long[(int) total];
        int w = 0;
        for (int t = 0; t < budgets.length; t++) {
            long n = layout.tokens(t), k = budgets[t];
            for (long j = 0; j < k; j++) kept[w++] = layout.tokenOffset(t) + (long) Math.floor((j + 0.5) * n / k);
        }
        return Selection.owned(() -> {
            org.bytedeco.pytorch.Device device = in.device();
            return new Selection(layout, Tensors.longs(device, kept), Tensors.longs(device, budgets),
                    Tensors.longs(device, budgets), null, null, null);
        });
    }
}
