package dev.vtprune.model;

import static dev.vtprune.model.ModelTesting.assertMessage;
import static dev.vtprune.model.ModelTesting.assertShape;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.model.ModelConfig.Family;
import dev.vtprune.ops.Backend;
import dev.vtprune.ops.Rollout;
import dev.vtprune.internal.Tensors;
import dev.vtprune.testing.Approx;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * IVTP's ViT stage ({@link VitPruning}) against a float64 oracle written from the paper (eq. 3
 * as full matrix products, eq. 4, block sums, a sort with ties to the lower block) that runs
 * each group's layers only on the tokens the previous pruning point kept. Two small models with
 * 5 layers in groups of 2, so that there are two full groups and a short last one.
 */
class VitPruningTest {
    /** CLIP-shaped: 6 x 6 patches, every patch a visual token. */
    static final ModelConfig LLAVA = new ModelConfig("gtp-llava", Family.LLAVA,
            new ModelConfig.Vision(84, 14, 5, 32, 2, 64, 1, false, true, true), new ModelConfig.Projector(32, 48, 48, false),
            new ModelConfig.Language(3, 48, 4, 4, 96, 300, false, 10000, 1e-5, false, 2048), ModelConfig.Tiling.SINGLE);
    /** InternViT-shaped: 8 x 8 patches, 2 x 2 pixel shuffle, 16 visual tokens per tile. */
    static final ModelConfig INTERNVL = new ModelConfig("gtp-internvl", Family.INTERNVL_INTERNLM2,
            new ModelConfig.Vision(112, 14, 5, 32, 2, 64, 2, true, false, false), new ModelConfig.Projector(128, 48, 48, true),
            new ModelConfig.Language(3, 48, 4, 2, 96, 300, false, 10000, 1e-5, false, 2048), new ModelConfig.Tiling(1, 4, true));

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of("llava", new long[] {20, 11, 5}, Rollout.Mode.IVTP, true, Backend.NATIVE),
                Arguments.of("llava", new long[] {30, 30, 7}, Rollout.Mode.ABNAR, false, Backend.NATIVE),
                Arguments.of("llava", new long[] {20, 11, 5}, Rollout.Mode.IVTP, true, Backend.LIBTORCH),
                Arguments.of("internvl", new long[] {10, 6, 3}, Rollout.Mode.IVTP, true, Backend.NATIVE),
                Arguments.of("internvl", new long[] {16, 5, 5}, Rollout.Mode.ABNAR, true, Backend.NATIVE));
    }

    /**
     * Per pruning point and tile: the patches present, their importance, the patches kept; at
     * the end the states of the kept tokens. Tolerances: float32 through 5 layers of width 32
     * against float64 (states ~1, errors ~1e-6; importance ~1/n, errors ~1e-7). The oracle
     * checks that each decision has a margin far above those errors, so a seed cannot pass by luck.
     */
    @ParameterizedTest(name = "{0} keep {1} {2} values {3} {4}")
    @MethodSource("cases")
    void matchesTheFloat64Oracle(String which, long[] keep, Rollout.Mode mode, boolean values, Backend backend) {
        ModelConfig c = which.equals("llava") ? LLAVA : INTERNVL;
        ModelConfig.Vision v = c.vision();
        String prefix = c.family() == Family.LLAVA ? "vision_tower.vision_model." : "vision_model.";
        TestCheckpoint ck = TestCheckpoint.of(c, 31);
        int tiles = 3, h = v.hidden(), perTile = 3 * v.imageSize() * v.imageSize();
        Tensor pixels = ModelTesting.randn(32, tiles, 3, v.imageSize(), v.imageSize());
        double[] px = Tensors.toDoubles(pixels);
        VitPruning plan = new VitPruning(2, keep, v.merge(), values, mode, backend);
        try (Lvlm m = ModelTesting.load(ck, c); VisionOutput out = m.vision().forward(pixels, plan)) {
            List<VitPruning.Step> steps = out.trace().steps();
            assertEquals(3, steps.size(), "pruning points of 5 layers in groups of 2");
            assertArrayEquals(new int[] {1, 3, 4}, steps.stream().mapToInt(VitPruning.Step::layer).toArray());
            long finalTokens = keep[2] * v.merge() * v.merge();
            assertShape(out.patches(), tiles, finalTokens, h);
            double[] patches = Tensors.toDoubles(out.patches()), cls = Tensors.toDoubles(out.cls());
            long[] keptIds = Tensors.toLongs(out.keptPatches());
            for (int t = 0; t < tiles; t++) {
                Gtp want = oracle(c, ck.hf, prefix, Arrays.copyOfRange(px, t * perTile, (t + 1) * perTile), 2, keep,
                        v.merge(), values, mode);
                String what = which + " tile " + t;
                for (int s = 0; s < 3; s++) {
                    VitPruning.Step got = steps.get(s);
                    assertArrayEquals(want.present.get(s), got.patches()[t], what + " point " + s + " patches present");
                    Approx.assertClose(want.importance.get(s), got.importance()[t], 1e-6, 1e-4,
                            what + " point " + s + " importance");
                    assertArrayEquals(want.kept.get(s), got.kept()[t], what + " point " + s + " kept patches");
                }
                int n = (int) finalTokens;
                assertArrayEquals(want.kept.get(2), Arrays.copyOfRange(keptIds, t * n, (t + 1) * n), what + " keptPatches");
                Approx.assertClose(Arrays.copyOfRange(want.states, 0, h), Arrays.copyOfRange(cls, t * h, (t + 1) * h),
                        1e-4, 1e-4, what + " final CLS");
                Approx.assertClose(Arrays.copyOfRange(want.states, h, (1 + n) * h),
                        Arrays.copyOfRange(patches, t * n * h, (t + 1) * n * h), 1e-4, 1e-4, what + " final patch states");
                long[] blocks = Arrays.stream(want.kept.get(2)).map(p -> block(p, v.grid(), v.merge())).distinct().sorted()
                        .toArray();
                assertArrayEquals(blocks, out.trace().tokens()[t], what + " merged tokens kept");
            }
        }
    }

    /**
     * The projector on kept blocks equals the unpruned projector (the real pixel shuffle) run on
     * a grid whose dropped patches hold anything at all, read at the kept tokens.
     */
    @Test
    void projectorOnKeptBlocksIsThePixelShuffleOfTheFullGrid() {
        ModelConfig c = INTERNVL;
        ModelConfig.Vision v = c.vision();
        try (Lvlm m = RandomWeights.create(c, 41, ScalarType.Float)) {
            Tensor pixels = ModelTesting.randn(42, 2, 3, v.imageSize(), v.imageSize());
            VitPruning plan = new VitPruning(2, new long[] {12, 9, 7}, 2, true, Rollout.Mode.IVTP, Backend.NATIVE);
            try (VisionOutput out = m.vision().forward(pixels, plan)) {
                long[][] tokens = out.trace().tokens();
                Tensor got = m.projector().forwardKept(out.patches(), out.keptPatches(), tokens);
                assertShape(got, 2, 7, c.language().hidden());
                Tensor grid = ModelTesting.randn(43, 2, v.patches(), v.hidden());  // junk where dropped
                long n = out.patches().size(1);
                grid.scatter_(1, out.keptPatches().unsqueeze(2).expand(2, n, v.hidden()), out.patches());
                double[] full = Tensors.toDoubles(m.projector().forward(grid)), g = Tensors.toDoubles(got);
                int d = c.language().hidden(), per = v.tokensPerTile();
                for (int t = 0; t < 2; t++) {
                    for (int j = 0; j < 7; j++) {
                        int tok = (int) tokens[t][j];
                        Approx.assertClose(Arrays.copyOfRange(full, (t * per + tok) * d, (t * per + tok + 1) * d),
                                Arrays.copyOfRange(g, (t * 7 + j) * d, (t * 7 + j + 1) * d), 1e-5, 1e-5,
                                "tile " + t + " kept token " + tok);
                    }
                }
            }
        }
    }

    @Test
    void badPlansGiveClearErrors() {
        assertMessage(() -> new VitPruning(0, new long[] {1}, 1, true, Rollout.Mode.IVTP, Backend.NATIVE),
                "'groupSize' must be >= 1", "got 0");
        assertMessage(() -> new VitPruning(2, new long[] {3, 4}, 1, true, Rollout.Mode.IVTP, Backend.NATIVE),
                "'keep[1]' must be <= keep[0] = 3", "got 4");
        assertMessage(() -> new VitPruning(2, new long[] {0}, 1, true, Rollout.Mode.IVTP, Backend.NATIVE),
                "'keep[0]' must be >= 1");
        try (Lvlm m = RandomWeights.create(LLAVA, 1, ScalarType.Float)) {
            Tensor pixels = ModelTesting.randn(1, 1, 3, 84, 84);
            assertMessage(() -> m.vision().forward(pixels, new VitPruning(2, new long[] {3, 2}, 1, true,
                    Rollout.Mode.IVTP, Backend.NATIVE)), "'plan.keep' must hold one count per group", "= 3)", "got 2");
            assertMessage(() -> m.vision().forward(pixels, new VitPruning(2, new long[] {3, 2, 1}, 2, true,
                    Rollout.Mode.IVTP, Backend.NATIVE)), "'plan.merge' must be the model's pixel-shuffle factor 1");
        }
    }

    // ------------------------------------------------------------------ the oracle

    static long block(long p, int grid, int m) {
        return (p / grid / m) * (grid / m) + (p % grid) / m;
    }

    /** Per pruning point: patches present, their importance, patches kept; and the final states [1 + n, h]. */
    record Gtp(List<long[]> present, List<double[]> importance, List<long[]> kept, double[] states) {}

    static Gtp oracle(ModelConfig c, Map<String, Tensor> ck, String p, double[] pixels, int groupSize, long[] keep,
                      int merge, boolean values, Rollout.Mode mode) {
        ModelConfig.Vision v = c.vision();
        int h = v.hidden(), heads = v.heads(), layers = v.layers();
        double[] x = Oracle64.vitEmbed(c, ck, p, pixels);
        long[] ids = new long[v.patches()];
        for (int i = 0; i < ids.length; i++) ids[i] = i;
        Gtp out = new Gtp(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), null);
        List<double[]> group = new ArrayList<>();
        int point = 0;
        for (int l = 0; l < layers; l++) {
            int n = 1 + ids.length;
            Oracle64.VitLayer y = Oracle64.vitLayer(c, ck, p, l, x, n);
            x = y.states();
            double[] a = new double[n * n];
            for (int hh = 0; hh < heads; hh++) for (int e = 0; e < n * n; e++) a[e] += y.probs()[hh * n * n + e] / heads;
            group.add(a);
            if ((l + 1) % groupSize != 0 && l != layers - 1) continue;
            // Eq. 3 as full matrices: R = A_l1 (ABNAR: rownorm(A_l1 + I)); R = rownorm(A_l + I) R.
            double[] r = mode == Rollout.Mode.ABNAR ? residual(group.get(0), n) : group.get(0);
            for (int g = 1; g < group.size(); g++) r = matmul(residual(group.get(g), n), r, n);
            group.clear();
            // Eq. 4 over the patches (row 0 = CLS).
            double[] s = new double[n - 1];
            double sum = 0;
            for (int i = 1; i < n; i++) {
                double norm = 0;
                for (int e = 0; e < h; e++) norm += y.values()[i * h + e] * y.values()[i * h + e];
                s[i - 1] = r[i] * (values ? Math.sqrt(norm) : 1);
                sum += s[i - 1];
            }
            for (int i = 0; i < s.length; i++) s[i] /= sum;
            long[] blocks = Arrays.stream(ids).map(q -> block(q, v.grid(), merge)).distinct().sorted().toArray();
            double[] bs = new double[blocks.length];
            for (int i = 0; i < ids.length; i++) bs[Arrays.binarySearch(blocks, block(ids[i], v.grid(), merge))] += s[i];
            Integer[] order = new Integer[blocks.length];
            for (int i = 0; i < order.length; i++) order[i] = i;
            Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -bs[i]).thenComparingInt(i -> i));
            int k = (int) Math.min(keep[point++], blocks.length);
            if (k < blocks.length) {
                double margin = bs[order[k - 1]] - bs[order[k]];
                assertTrue(margin > 1e-5, "the oracle's decision has a margin of " + margin + " only: pick another seed");
            }
            boolean[] keptBlock = new boolean[blocks.length];
            for (int i = 0; i < k; i++) keptBlock[order[i]] = true;
            List<Integer> rows = new ArrayList<>(List.of(0));
            List<Long> kept = new ArrayList<>();
            for (int i = 0; i < ids.length; i++) {
                if (!keptBlock[Arrays.binarySearch(blocks, block(ids[i], v.grid(), merge))]) continue;
                rows.add(1 + i);
                kept.add(ids[i]);
            }
            out.present.add(ids);
            out.importance.add(s);
            ids = kept.stream().mapToLong(Long::longValue).toArray();
            out.kept.add(ids);
            double[] next = new double[rows.size() * h];
            for (int i = 0; i < rows.size(); i++) System.arraycopy(x, rows.get(i) * h, next, i * h, h);
            x = next;
        }
        return new Gtp(out.present, out.importance, out.kept, x);
    }

    static double[] residual(double[] a, int n) {
        double[] b = new double[n * n];
        for (int i = 0; i < n; i++) {
            double sum = 0;
            for (int j = 0; j < n; j++) sum += b[i * n + j] = a[i * n + j] + (i == j ? 1 : 0);
            for (int j = 0; j < n; j++) b[i * n + j] /= sum;
        }
        return b;
    }

    static double[] matmul(double[] a, double[] b, int n) {
        double[] c = new double[n * n];
        for (int i = 0; i < n; i++) for (int k = 0; k < n; k++) for (int j = 0; j < n; j++) c[i * n + j] += a[i * n + k] * b[k * n + j];
        return c;
    }
}
