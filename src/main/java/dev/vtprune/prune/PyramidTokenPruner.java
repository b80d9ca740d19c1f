package dev.vtprune.prune;

import dev.vtprune.internal.Args;
import dev.vtprune.ops.Backend;
import dev.vtprune.ops.Reduce;
import dev.vtprune.ops.RegionBudget;
import dev.vtprune.ops.SegmentedTopK;
import dev.vtprune.ops.TileLayout;
import org.bytedeco.pytorch.Tensor;

/**
 * PTP — Pyramid Token Pruning (papers/ptp-pyramid-token-pruning.txt, design §4): region budgets
 * from tile-vs-thumbnail CLS similarity (K1), token saliency from the ViT's CLS attention (K5),
 * instruction relevance from early-LM attention (K4), min-max normalised and fused with weight
 * alpha, and the top K_t tokens of each tile kept (K2). Every step is a native op; this class
 * only wires them.
 */
public final class PyramidTokenPruner implements TokenPruner {

    /**
     * @param ratio             r, the fraction of visual tokens dropped, in [0, 1)
     * @param alpha             weight of the instruction scores (0: bottom-up only, 1: instruction only)
     * @param vitLayer          ViT layer whose CLS attention gives the saliency (0-based; the
     *                          paper's 11 of 24); read by the pipeline that runs the ViT
     * @param lmLayer           LM layer whose attention gives instruction relevance (0-based; 1 =
     *                          the second block); read by the pipeline that runs the probe
     * @param headReduce        how heads are combined (paper: MEAN)
     * @param textReduce        how instruction tokens are combined (paper: MAX)
     * @param regionTemperature softmax temperature of the region weights (paper: 1)
     * @param minPerTile        tokens reserved for every local tile before the proportional split
     * @param backend           native kernels, or the LibTorch composition (for comparison)
     */
    public record Config(double ratio, double alpha, int vitLayer, int lmLayer, Reduce headReduce, Reduce textReduce,
                         double regionTemperature, long minPerTile, Backend backend) {
        /** The paper's defaults. */
        public static final Config PAPER = new Config(0.5, 0.5, 11, 1, Reduce.MEAN, Reduce.MAX, 1.0, 0, Backend.NATIVE);

        public Config {
            Args.inRange(ratio, "ratio", 0.0, 1.0, false);
            Args.inRange(alpha, "alpha", 0.0, 1.0, true);
            Args.atLeast(vitLayer, "vitLayer", 0);
            Args.atLeast(lmLayer, "lmLayer", 0);
            Args.notNull(headReduce, "headReduce");
            Args.notNull(textReduce, "textReduce");
            if (!(regionTemperature > 0) || Double.isInfinite(regionTemperature)) {
                throw Args.error("regionTemperature", "be finite and > 0", regionTemperature);
            }
            Args.atLeast(minPerTile, "minPerTile", 0);
            Args.notNull(backend, "backend");
        }

        public Config withRatio(double r) {
            return new Config(r, alpha, vitLayer, lmLayer, headReduce, textReduce, regionTemperature, minPerTile, backend);
        }

        public Config withAlpha(double a) {
            return new Config(ratio, a, vitLayer, lmLayer, headReduce, textReduce, regionTemperature, minPerTile, backend);
        }

        public Config withBackend(Backend b) {
            return new Config(ratio, alpha, vitLayer, lmLayer, headReduce, textReduce, regionTemperature, minPerTile, b);
        }
    }

    private final Config config;

    public PyramidTokenPruner(Config config) {
        this.config = Args.notNull(config, "config");
    }

    public Config config() {
        return config;
    }

    @Override
    public String name() {
        return "ptp";
    }

    @Override
    public double ratio() {
        return config.ratio();
    }

    @Override
    public Selection select(PruneInputs in) {
        Args.notNull(in, "inputs");
        Config c = config;
        if (c.alpha() > 0 && !in.hasInstruction()) {
            throw new IllegalArgumentException("PTP with alpha = " + c.alpha() + " needs the instruction attention "
                    + "(lmAttention or lmQk); give it, or set alpha to 0 for bottom-up pruning");
        }
        TileLayout layout = in.layout();
        for (int b = 0; b < layout.numImages(); b++) {  // K1's budgets: thumbnail, and K_L over the local tiles
            long local = layout.tokenOffset(layout.thumbnail(b)) - layout.tokenOffset(layout.firstTile(b));
            long thumb = layout.tokens(layout.thumbnail(b));
            ImageTopK.keepsSomething(c.ratio(), b, local + thumb, Math.max(local, thumb));
        }
        return Selection.owned(() -> {
            RegionBudget.Result regions = RegionBudget.compute(in.tileCls(), in.layout(),
                    new RegionBudget.Params(c.ratio(), c.regionTemperature(), c.minPerTile()), c.backend());
            Tensor b = in.bottomUp(c.headReduce(), c.backend());
            Tensor instruction = c.alpha() > 0 ? in.instruction(c.headReduce(), c.textReduce(), c.backend()) : null;
            SegmentedTopK.Result top = SegmentedTopK.select(b, instruction, in.layout(), regions.budgets(), c.alpha(), true,
                    c.backend());
            return new Selection(in.layout(), top.kept(), top.keptPerTile(), regions.budgets(), regions.scores(),
                    regions.weights(), top.fused());
        });
    }
}
