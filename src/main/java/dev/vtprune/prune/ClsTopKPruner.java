package dev.vtprune.prune;

import dev.vtprune.internal.Args;
import dev.vtprune.ops.Backend;
import dev.vtprune.ops.Reduce;

/**
 * Baseline: the ViT CLS-attention saliency (K5) ranked over each whole image, without region
 * budgets — the "TopK" rows of the papers' tables.
 */
public final class ClsTopKPruner implements TokenPruner {
    private final double ratio;
    private final Reduce headReduce;
    private final Backend backend;

    public ClsTopKPruner(double ratio, Reduce headReduce, Backend backend) {
        this.ratio = Args.inRange(ratio, "ratio", 0.0, 1.0, false);
        this.headReduce = Args.notNull(headReduce, "headReduce");
        this.backend = Args.notNull(backend, "backend");
    }

    @Override
    public String name() {
        return "cls-topk";
    }

    @Override
    public double ratio() {
        return ratio;
    }

    @Override
    public Selection select(PruneInputs in) {
        return Selection.owned(() -> ImageTopK.select(in.layout(), in.bottomUp(headReduce, backend), ratio, backend));
    }
}
