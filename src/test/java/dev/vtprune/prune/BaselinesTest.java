package dev.vtprune.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vtprune.ops.Backend;
import dev.vtprune.ops.Reduce;
import dev.vtprune.ops.TextLayout;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import dev.vtprune.testing.Data;
import dev.vtprune.testing.Oracle;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

class BaselinesTest {

    /** The top floor(keep * N_b + 0.5) of each image by `scores`, ties to the lower index, ascending. */
    static long[] imageTopK(TileLayout layout, double[] scores, double ratio) {
        return IntStream.range(0, layout.numImages()).mapToObj(b -> {
            int lo = (int) layout.tokenOffset(layout.firstTile(b));
            int hi = (int) (layout.tokenOffset(layout.thumbnail(b)) + layout.tokens(layout.thumbnail(b)));
            int k = (int) Math.floor((1 - ratio) * (hi - lo) + 0.5);
            return IntStream.range(lo, hi).boxed().sorted(Comparator.<Integer>comparingDouble(i -> -scores[i])
                    .thenComparingInt(i -> i)).limit(k).mapToLong(Integer::longValue).sorted().toArray();
        }).flatMapToLong(Arrays::stream).toArray();
    }

    @Test
    void randomIsSeededAndKeepsTheImageBudget() {
        try (TileLayout layout = TileLayout.of(new int[] {3, 0, 12}, 16)) {
            PruneInputs in = PruneInputs.builder(layout).build();
            long[] a = new RandomPruner(0.6, 7).select(in).keptIndices();
            long[] again = new RandomPruner(0.6, 7).select(in).keptIndices();
            long[] other = new RandomPruner(0.6, 8).select(in).keptIndices();
            assertArrayEquals(a, again, "same seed, same tokens");
            assertFalse(Arrays.equals(a, other), "another seed, other tokens");
            Selection s = new RandomPruner(0.6, 7).select(in);
            assertArrayEquals(new long[] {26, 6, 83}, s.keptPerImage(), "floor(0.4 * N_b + 0.5) per image");
            for (int i = 1; i < a.length; i++) assertEquals(true, a[i - 1] < a[i], "ascending");
        }
    }

    @Test
    void spatialKeepsEvenlyStridedTokensPerTile() {
        try (TileLayout layout = TileLayout.of(new long[] {2}, new long[] {10, 4})) {
            Selection s = new SpatialPruner(0.5).select(PruneInputs.builder(layout).build());
            // tile 0: K = 5 of 10 -> 1, 3, 5, 7, 9; tile 1: K = 2 of 4 -> 11, 13
            assertArrayEquals(new long[] {1, 3, 5, 7, 9, 11, 13}, s.keptIndices());
            assertArrayEquals(new long[] {5, 2}, Tensors.toLongs(s.keptPerTile()));
        }
    }

    @Test
    void clsTopKRanksSaliencyOverWholeImages() {
        try (TileLayout layout = TileLayout.of(new int[] {4, 1}, 16)) {
            Tensor attn = Data.softmaxRows(301, "float32", 2.0, layout.numTiles(), 3, 64);
            double[] saliency = Oracle.clsSaliency(Tensors.toDoubles(attn), layout.numTiles(), 3, 64, 0, 8, 2, false);
            PruneInputs in = PruneInputs.builder(layout).vitAttention(attn, false).patchMerge(2).build();
            for (Backend backend : Backend.values()) {
                Selection s = new ClsTopKPruner(0.7, Reduce.MEAN, backend).select(in);
                assertArrayEquals(imageTopK(layout, saliency, 0.7), s.keptIndices(), backend.toString());
                assertEquals(s.numKept(), Arrays.stream(Tensors.toLongs(s.keptPerTile())).sum());
            }
        }
    }

    @Test
    void fastVKeepsTheTokensTheLastQueryAttendsMost() {
        // One image of 1 + 1 tiles x 9 tokens; sequence: 2 system, 18 visual, 3 instruction tokens.
        try (TileLayout layout = TileLayout.of(new int[] {1}, 9)) {
            long n = 18, keys = 2 + n + 3;
            long[] visual = new long[(int) n];
            for (int i = 0; i < n; i++) visual[i] = 2 + i;
            long[] queries = {keys - 3, keys - 2, keys - 1};
            Tensor q = Data.randn(311, "float32", 4, 3, 8), k = Data.randn(312, "float32", 2, keys, 8);
            double[] probs = Oracle.textAttentionFromQk(Tensors.toDoubles(q), Tensors.toDoubles(k), 4, 2, 3, (int) keys, 8,
                    queries, visual, 1 / Math.sqrt(8));
            double[] last = new double[(int) n];  // mean over heads of the last query's row
            for (int h = 0; h < 4; h++) for (int v = 0; v < n; v++) last[v] += probs[(h * 3 + 2) * (int) n + v] / 4;
            try (TextLayout text = TextLayout.single(keys, queries, visual)) {
                PruneInputs in = PruneInputs.builder(layout).lmQk(q, k, text, Double.NaN).build();
                for (Backend backend : Backend.values()) {
                    Selection s = new FastVPruner(0.5, 2, backend).select(in);
                    assertArrayEquals(imageTopK(layout, last, 0.5), s.keptIndices(), backend.toString());
                }
                assertThrows(IllegalArgumentException.class,
                        () -> new FastVPruner(0.5, 2, Backend.NATIVE).select(PruneInputs.builder(layout).build()));
            }
        }
    }

    @Test
    void prunersByName() {
        assertEquals("cls-topk", Pruners.byName("cls-topk", PyramidTokenPruner.Config.PAPER, 0).name());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Pruners.byName("best", PyramidTokenPruner.Config.PAPER, 0));
        assertEquals("unknown method 'best'; methods: ptp, cls-topk, random, spatial, fastv", e.getMessage());
    }
}
