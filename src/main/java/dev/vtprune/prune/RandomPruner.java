package dev.vtprune.prune;

import dev.vtprune.internal.Args;
import dev.vtprune.ops.Backend;
import java.util.SplittableRandom;

/**
 * Baseline: keeps a uniformly random subset of floor(keep * N_b + 0.5) tokens of each image.
 * Seeded and independent of LibTorch's global generator: the same seed gives the same tokens on
 * every device and platform.
 */
public final class RandomPruner implements TokenPruner {
    private final double ratio;
    private final long seed;

    public RandomPruner(double ratio, long seed) {
        this.ratio = Args.inRange(ratio, "ratio", 0.0, 1.0, false);
        this.seed = seed;
    }

    @Override
    public String name() {
        return "random";
    }

    @Override
    public double ratio() {
        return ratio;
    }

    @Override
    public Selection select(PruneInputs in) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] scores = new float[(int) in.layout().numTokens()];
        for (int i = 0; i < scores.length; i++) scores[i] = (float) random.nextDouble();
        return Selection.owned(() -> ImageTopK.select(in.layout(), ImageTopK.scoresOn(scores, in.device()), ratio,
                Backend.NATIVE));
    }
}
