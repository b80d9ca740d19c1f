package dev.vtprune.prune;

import dev.vtprune.internal.Args;
import dev.vtprune.ops.Backend;
import dev.vtprune.ops.Rollout;
import java.util.Arrays;

/**
 * IVTP — Instruction-guided Visual Token Pruning (papers/ivtp-...txt §3.2-3.4, design §4):
 * group-wise token pruning (GTP) inside the vision encoder and then inside the first
 * {@code lmLayers} LM layers. At the top layer of each group of {@code groupSize} layers the
 * CLS row of the group's attention rollout (eq. 3, K3), weighted by the value norms of the top
 * layer (eq. 4), scores the remaining visual tokens and the lowest are dropped before the next
 * group runs.
 *
 * <p>What runs today: the ViT stage ({@link #vitKeepCounts}), which {@code LvlmPipeline} executes
 * inside {@code VisionEncoder.forward}. The LM stage with the CLIP-text pseudo-CLS (eq. 5-8) is
 * not implemented yet: a config with {@code lmLayers > 0} is a valid schedule (the FLOPs model
 * and {@link #schedule} use it) but the pipeline refuses to run it. {@code lmLayers = 0} is the
 * paper's IVTP-V (Table 7): every pruning point in the ViT, the final count reached there.
 *
 * <p>IVTP prunes inside the forward, so {@link #select} (pruning from inputs gathered after the
 * ViT) does not apply; the pipeline reads {@link #config} and {@link #vitKeepCounts} instead.
 */
public final class IvtpPruner implements TokenPruner {

    /**
     * @param groupSize      layers per group; pruning at the top layer of each (paper: 3). A
     *                       stage whose layer count is not a multiple ends in a shorter group
     * @param lmLayers       W, the first LM layers that prune (paper: 12); 0 = ViT stage only
     * @param finalKeep      visual tokens kept at the last pruning point, per tile (paper: 64 of
     *                       LLaVA-1.5's 576); 0 to use finalRatio instead
     * @param finalRatio     kept fraction at the last pruning point, in (0, 1], when finalKeep
     *                       is 0 (NaN otherwise): round(finalRatio * N), at least 1
     * @param keepCounts     tokens kept after each pruning point, ViT points first, or null for
     *                       the geometric schedule from N to the final count (see
     *                       {@link #schedule})
     * @param tau            relevance threshold of the pseudo-CLS (eq. 8; paper: 0.2), in [0, 1]
     * @param valueWeighting weight the rollout row by value norms (eq. 4); false: the row alone
     * @param mode           rollout form (IVTP eq. 3, or Abnar and Zuidema's)
     * @param backend        native kernels, or the LibTorch composition (for comparison)
     */
    public record Config(int groupSize, int lmLayers, long finalKeep, double finalRatio, long[] keepCounts, double tau,
                         boolean valueWeighting, Rollout.Mode mode, Backend backend) {
        /** The paper's defaults (LLaVA-1.5: 576 -> 64, groups of 3, W = 12, tau = 0.2). */
        public static final Config PAPER = new Config(3, 12, 64, Double.NaN, null, 0.2, true, Rollout.Mode.IVTP,
                Backend.NATIVE);

        /** The paper's W (12 of LLaVA-1.5's 32 LM layers) scaled to an LM of {@code depth} layers, at least 1. */
        public static int scaledLmLayers(int depth) {
            return Math.max(1, (int) Math.round((double) PAPER.lmLayers() * depth / 32));
        }

        public Config {
            Args.atLeast(groupSize, "groupSize", 1);
            Args.atLeast(lmLayers, "lmLayers", 0);
            if (keepCounts != null) {
                keepCounts = keepCounts.clone();
                for (int i = 0; i < keepCounts.length; i++) {
                    Args.atLeast(keepCounts[i], "keepCounts[" + i + "]", 1);
                    if (i > 0 && keepCounts[i] > keepCounts[i - 1]) {
                        throw Args.error("keepCounts[" + i + "]", "be <= keepCounts[" + (i - 1) + "] = "
                                + keepCounts[i - 1] + " (tokens only leave)", keepCounts[i]);
                    }
                }
            }
            Args.atLeast(finalKeep, "finalKeep", 0);
            if (finalKeep > 0 && !Double.isNaN(finalRatio)) {
                throw Args.error("finalRatio", "be NaN when finalKeep (" + finalKeep + ") is given", finalRatio);
            }
            if (finalKeep == 0 && !(finalRatio > 0 && finalRatio <= 1)) {
                throw Args.error("finalRatio", "be in (0, 1] when finalKeep is 0", finalRatio);
            }
            if (keepCounts != null && keepCounts.length > 0 && finalKeep > 0 && keepCounts[keepCounts.length - 1] != finalKeep) {
                throw Args.error("keepCounts", "end at finalKeep = " + finalKeep + " (the final count is exact)",
                        Arrays.toString(keepCounts));
            }
            if (Double.isNaN(tau) || tau < 0 || tau > 1) throw Args.error("tau", "be finite and in [0, 1]", tau);
            Args.notNull(mode, "mode");
            Args.notNull(backend, "backend");
        }

        @Override
        public long[] keepCounts() {
            return keepCounts == null ? null : keepCounts.clone();
        }

        /** The final count kept out of n tokens per tile. */
        public long finalCount(long n) {
            Args.atLeast(n, "n (visual tokens per tile)", 1);
            long f = finalKeep > 0 ? finalKeep : Math.max(1, Math.round(finalRatio * n));
            if (f > n) throw Args.error("finalKeep", "be <= N = " + n + " (the visual tokens per tile)", f);
            return f;
        }

        public Config withFinalKeep(long k) {
            return new Config(groupSize, lmLayers, k, Double.NaN, null, tau, valueWeighting, mode, backend);
        }

        public Config withFinalRatio(double r) {
            return new Config(groupSize, lmLayers, 0, r, null, tau, valueWeighting, mode, backend);
        }

        public Config withKeepCounts(long[] counts) {
            long f = counts == null || counts.length == 0 ? finalKeep : counts[counts.length - 1];
            return new Config(groupSize, lmLayers, f, f > 0 ? Double.NaN : finalRatio, counts, tau, valueWeighting,
                    mode, backend);
        }

        public Config withGroupSize(int g) {
            return new Config(g, lmLayers, finalKeep, finalRatio, keepCounts, tau, valueWeighting, mode, backend);
        }

        public Config withLmLayers(int w) {
            return new Config(groupSize, w, finalKeep, finalRatio, keepCounts, tau, valueWeighting, mode, backend);
        }

        public Config withMode(Rollout.Mode m) {
            return new Config(groupSize, lmLayers, finalKeep, finalRatio, keepCounts, tau, valueWeighting, m, backend);
        }

        public Config withValueWeighting(boolean on) {
            return new Config(groupSize, lmLayers, finalKeep, finalRatio, keepCounts, tau, on, mode, backend);
        }

        public Config withBackend(Backend b) {
            return new Config(groupSize, lmLayers, finalKeep, finalRatio, keepCounts, tau, valueWeighting, mode, b);
        }

        @Override
        public String toString() {
            return "IvtpPruner.Config[groupSize=" + groupSize + ", lmLayers=" + lmLayers + ", finalKeep=" + finalKeep
                    + ", finalRatio=" + finalRatio + ", keepCounts=" + Arrays.toString(keepCounts) + ", tau=" + tau
                    + ", valueWeighting=" + valueWeighting + ", mode=" + mode + ", backend=" + backend + "]";
        }
    }

    /** Pruning points of a stage of `layers` layers: one at the top of each group, a short last group included. */
    public static int points(int layers, int groupSize) {
        Args.atLeast(layers, "layers", 0);
        Args.atLeast(groupSize, "groupSize", 1);
        return (layers + groupSize - 1) / groupSize;
    }

    /**
     * Tokens kept after each of `points` pruning points, out of n: the config's keepCounts when
     * given (their number must be `points`, each <= n), else geometric from n to the final count
     * F: {@code k_i = round(n (F/n)^(i/points))}, i = 1..points, held in [F, k_{i-1}] so the
     * counts never rise, and {@code k_points = F} exactly.
     */
    public static long[] schedule(Config c, long n, int points) {
        Args.notNull(c, "config");
        Args.atLeast(points, "points (pruning points)", 1);
        long f = c.finalCount(n);
        long[] given = c.keepCounts();
        if (given != null) {
            if (given.length != points) {
                throw Args.error("keepCounts", "hold one count per pruning point (" + points + ")", given.length);
            }
            if (given[0] > n) throw Args.error("keepCounts[0]", "be <= N = " + n, given[0]);
            return given;
        }
        long[] k = new long[points];
        long previous = n;
        for (int i = 1; i <= points; i++) {
            long g = Math.round(n * Math.pow((double) f / n, (double) i / points));
            k[i - 1] = previous = Math.max(f, Math.min(previous, g));
        }
        k[points - 1] = f;
        return k;
    }

    private final Config config;

    public IvtpPruner(Config config) {
        this.config = Args.notNull(config, "config");
    }

    public Config config() {
        return config;
    }

    @Override
    public String name() {
        return "ivtp";
    }

    /** Fraction dropped by the end, for a LLaVA-1.5-sized view of 576 tokens when the final count is absolute. */
    @Override
    public double ratio() {
        return config.finalKeep() > 0 ? 1.0 - Math.min(1.0, config.finalKeep() / 576.0) : 1.0 - config.finalRatio();
    }

    /**
     * Tokens kept after every pruning point for an encoder of `vitLayers` layers producing
     * `tokensPerTile` tokens per tile (after any m x m merge): the ViT's
     * {@code ceil(vitLayers / groupSize)} points first, then the LM's
     * {@code ceil(lmLayers / groupSize)}, one schedule over both (see {@link #schedule(Config, long, int)}).
     */
    public long[] schedule(int vitLayers, long tokensPerTile) {
        int vit = points(vitLayers, config.groupSize());
        if (vit == 0) throw Args.error("vitLayers", "be >= 1 for the ViT stage", vitLayers);
        return schedule(config, tokensPerTile, vit + points(config.lmLayers(), config.groupSize()));
    }

    /** The ViT's share of {@link #schedule(int, long)}: one count per group of the encoder. */
    public long[] vitKeepCounts(int vitLayers, long tokensPerTile) {
        return Arrays.copyOf(schedule(vitLayers, tokensPerTile), points(vitLayers, config.groupSize()));
    }

    /** Not applicable: IVTP prunes inside the forward (see the class comment). */
    @Override
    public Selection select(PruneInputs inputs) {
        throw new IllegalArgumentException("IVTP prunes inside the vision encoder's forward, not from gathered inputs: "
                + "run it through LvlmPipeline (Options.of(ivtpPruner)) or `vtprune gtp` for one offline decision");
    }
}
