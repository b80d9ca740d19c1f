package dev.vtprune.ops;

import dev.vtprune.internal.Tensors;
import static dev.vtprune.ops.RegionBudgetTest.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.testing.Approx;
import dev.vtprune.testing.Data;
import dev.vtprune.testing.Gpu;
import dev.vtprune.testing.Oracle;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SegmentedTopKTest {

    static Stream<RegionBudgetTest.Case> layouts() {
        return Stream.of(
                RegionBudgetTest.uniform("LLaVA-1.5: one tile of 576", new int[] {0}, 576),
                RegionBudgetTest.uniform("InternVL2-2B: 12 + thumbnail of 256", new int[] {12}, 256),
                new RegionBudgetTest.Case("ragged: sizes 1, primes, empty tiles",
                        new long[] {4, 1, 6}, new long[] {7, 0, 13, 1, 1, 3, 0, 11, 17, 2, 5}),
                RegionBudgetTest.uniform("mixed batch 0/3/12 of 31 tokens", new int[] {0, 3, 12}, 31));
    }

    /** Budgets per tile drawn from {0, 1, n/2, n - 1, n, n + 5}: k = 0, k = n and k > n all occur. */
    static long[] budgets(TileLayout layout, long seed) {
        Random r = new Random(seed);
        long[] k = new long[layout.numTiles()];
        for (int t = 0; t < k.length; t++) {
            long n = layout.tokens(t);
            long[] choices = {0, 1, n / 2, Math.max(0, n - 1), n, n + 5};
            k[t] = choices[r.nextInt(choices.length)];
        }
        return k;
    }

    static Stream<Arguments> cases() {
        return layouts().flatMap(c -> Stream.of(
                Arguments.of(c, 0.5, true, true, "float32", 31L),
                Arguments.of(c, 0.0, true, false, "float32", 32L),
                Arguments.of(c, 1.0, true, true, "float32", 33L),
                Arguments.of(c, 0.3, false, true, "float32", 34L),
                Arguments.of(c, 0.0, false, false, "float32", 35L),
                Arguments.of(c, 0.5, true, true, "float16", 36L),
                Arguments.of(c, 0.5, true, true, "bfloat16", 37L)));
    }

    @ParameterizedTest(name = "{0}, alpha={1}, normalize={2}, instruction={3}, {4}, seed {5}")
    @MethodSource("cases")
    void selectionIsTheTopKOfTheFloat64Oracle(RegionBudgetTest.Case c, double alpha, boolean normalize,
                                              boolean withInstruction, String dtype, long seed) {
        try (TileLayout layout = c.layout()) {
            Tensor b = Data.randn(seed, dtype, layout.numTokens());
            Tensor ins = withInstruction ? Data.rand(seed + 1000, dtype, layout.numTokens()) : null;
            long[] k = budgets(layout, seed);
            Oracle.TopK want = Oracle.fusedTopK(Tensors.toDoubles(b), ins == null ? null : Tensors.toDoubles(ins),
                    layout.tokenOffsets(), k, alpha, normalize);
            for (Backend backend : Backend.values()) {
                try (SegmentedTopK.Result got = SegmentedTopK.select(b, ins, layout, Tensor.create(k), alpha, normalize,
                        backend)) {
                    String what = backend + " " + c;
                    assertArrayEquals(want.keptPerTile(), Tensors.toLongs(got.keptPerTile()), what + " kept per tile");
                    Approx.assertClose(want.fused(), Tensors.toDoubles(got.fused()), 1e-6, 1e-6, what + " fused");
                    assertValidTopK(Tensors.toLongs(got.kept()), want, layout, 1e-6, what);
                }
            }
        }
    }

    /**
     * The kept indices are ascending, lie in their tiles, number min(K, n) per tile, and are a
     * top-k of the oracle's fused scores up to `tol` (float32 fusion may order two scores closer
     * than its rounding differently from float64, never two that differ by more).
     */
    static void assertValidTopK(long[] kept, Oracle.TopK want, TileLayout layout, double tol, String what) {
        assertEquals(want.kept().length, kept.length, what + ": number kept");
        int pos = 0;
        for (int t = 0; t < layout.numTiles(); t++) {
            long lo = layout.tokenOffset(t), hi = lo + layout.tokens(t);
            boolean[] in = new boolean[(int) layout.tokens(t)];
            double minKept = Double.POSITIVE_INFINITY, maxDropped = Double.NEGATIVE_INFINITY;
            for (long i = 0; i < want.keptPerTile()[t]; i++, pos++) {
                long idx = kept[pos];
                assertTrue(idx >= lo && idx < hi, what + ": index " + idx + " outside tile " + t);
                if (pos > 0) assertTrue(kept[pos - 1] < idx, what + ": not ascending at " + pos);
                in[(int) (idx - lo)] = true;
                minKept = Math.min(minKept, want.fused()[(int) idx]);
            }
            for (int i = 0; i < in.length; i++) {
                if (!in[i]) maxDropped = Math.max(maxDropped, want.fused()[(int) lo + i]);
            }
            assertTrue(minKept >= maxDropped - tol,
                    what + ": tile " + t + " dropped a score of " + maxDropped + " but kept one of " + minKept);
        }
    }

    @Test
    void distinctScoresGiveExactlyTheOracleSelection() {
        try (TileLayout layout = TileLayout.uniform(2, 12, 256)) {
            Tensor b = Data.distinct(41, (int) layout.numTokens());
            long[] k = budgets(layout, 41);
            Oracle.TopK want = Oracle.fusedTopK(Tensors.toDoubles(b), null, layout.tokenOffsets(), k, 0, false);
            for (Backend backend : Backend.values()) {
                try (SegmentedTopK.Result got = SegmentedTopK.select(b, null, layout, Tensor.create(k), 0, false, backend)) {
                    assertArrayEquals(want.kept(), Tensors.toLongs(got.kept()), backend.toString());
                }
            }
        }
    }

    @Test
    void tiesGoToTheLowerIndex() {
        // tile 0: values 1,3,3,2,3 keep 2 -> the 3s at 1 and 2; tile 1: all equal keep 3 -> 5,6,7;
        // tile 2: flat under normalisation -> fused 0 everywhere -> the first two.
        try (TileLayout layout = TileLayout.of(new long[] {3}, new long[] {5, 4, 3})) {
            Tensor b = Tensors.floats(new float[] {1, 3, 3, 2, 3, 7, 7, 7, 7, -2, -2, -2}, 12);
            for (Backend backend : Backend.values()) {
                for (boolean normalize : new boolean[] {false, true}) {
                    try (SegmentedTopK.Result r = SegmentedTopK.select(b, null, layout, Tensor.create(2L, 3L, 2L), 0,
                            normalize, backend)) {
                        assertArrayEquals(new long[] {1, 2, 5, 6, 7, 9, 10}, Tensors.toLongs(r.kept()),
                                backend + " normalize=" + normalize);
                    }
                }
            }
        }
    }

    @Test
    void negativeZeroTiesWithZero() {
        try (TileLayout layout = TileLayout.of(new long[] {1}, new long[] {3})) {
            Tensor b = Tensors.floats(new float[] {-0.0f, 0.0f, -1f}, 3);
            for (Backend backend : Backend.values()) {
                try (SegmentedTopK.Result r = SegmentedTopK.select(b, null, layout, Tensor.create(1L), 0, false, backend)) {
                    assertArrayEquals(new long[] {0}, Tensors.toLongs(r.kept()), backend.toString());
                }
            }
        }
    }

    @Test
    void nonFiniteScoresAndNegativeBudgetsAreErrors() {
        try (TileLayout layout = TileLayout.of(new long[] {2}, new long[] {4, 4})) {
            Tensor k = Tensor.create(2L, 2L);
            for (double bad : new double[] {Double.NaN, Double.POSITIVE_INFINITY}) {
                Tensor b = torch.randn(8);
                b.select(0, 6).fill_(new Scalar(bad));
                VtpruneException e = assertThrows(VtpruneException.class, () -> SegmentedTopK.select(b, layout, k));
                assertTrue(e.getMessage().contains("argument 'bottom_up' holds a non-finite value"), e.getMessage());
                assertTrue(e.getMessage().contains("index 6 (tile 1)"), e.getMessage());
                assertMessage(() -> SegmentedTopK.select(b, null, layout, k, 0, true, Backend.LIBTORCH),
                        "'bottomUp' must hold finite values only");
                Tensor c = torch.rand(8);
                c.select(0, 2).fill_(new Scalar(bad));
                VtpruneException ec = assertThrows(VtpruneException.class,
                        () -> SegmentedTopK.select(torch.randn(8), c, layout, k, 0.5));
                assertTrue(ec.getMessage().contains("argument 'instruction' holds a non-finite value"), ec.getMessage());
            }
            VtpruneException e = assertThrows(VtpruneException.class,
                    () -> SegmentedTopK.select(torch.randn(8), layout, Tensor.create(2L, -1L)));
            assertTrue(e.getMessage().contains("argument 'budgets' must be >= 0, got -1 for tile 1"), e.getMessage());
        }
    }

    @Test
    void badInputsGiveClearErrors() {
        try (TileLayout layout = TileLayout.of(new long[] {2}, new long[] {4, 4})) {
            Tensor k = Tensor.create(2L, 2L);
            assertMessage(() -> SegmentedTopK.select(torch.randn(2, 4), layout, k), "'bottomUp' must have rank 1");
            assertMessage(() -> SegmentedTopK.select(torch.randn(9), layout, k), "'bottomUp' must have size 8");
            assertMessage(() -> SegmentedTopK.select(torch.randn(8).to(ScalarType.Double), layout, k),
                    "'bottomUp' must be float32, float16 or bfloat16, got float64[8]");
            assertMessage(() -> SegmentedTopK.select(torch.randn(16).slice(0, new org.bytedeco.pytorch.LongOptional(0),
                    new org.bytedeco.pytorch.LongOptional(16), 2), layout, k), "'bottomUp' must be contiguous");
            assertMessage(() -> SegmentedTopK.select(torch.randn(8), layout, Tensor.create(2, 2)),
                    "'budgets' must be int64, got int32[2]");
            assertMessage(() -> SegmentedTopK.select(torch.randn(8), layout, Tensor.create(2L)),
                    "'budgets' must have size 2");
            assertMessage(() -> SegmentedTopK.select(torch.randn(8), null, layout, k, 0.5, true, Backend.NATIVE),
                    "'instruction' must be given when alpha != 0");
            assertMessage(() -> SegmentedTopK.select(torch.randn(8), torch.rand(8), layout, k, 1.5),
                    "'alpha' must be in [0.0, 1.0]");
            assertMessage(() -> SegmentedTopK.select(torch.randn(8), torch.rand(8).to(ScalarType.Half), layout, k, 0.5),
                    "'instruction' must have the dtype of 'bottomUp' (float32)");
            assertMessage(() -> SegmentedTopK.select(torch.randn(8), torch.rand(7), layout, k, 0.5),
                    "'instruction' must have size 8");
        }
    }

    @Test
    void cudaMatchesCpuExactly() {
        Device gpu = Gpu.require();
        try (TileLayout layout = TileLayout.of(new int[] {0, 12, 5}, 256)) {
            for (String dtype : new String[] {"float32", "float16", "bfloat16"}) {
                Tensor b = Data.randn(51, dtype, layout.numTokens()), c = Data.rand(52, dtype, layout.numTokens());
                Tensor k = Tensor.create(budgets(layout, 53));
                try (SegmentedTopK.Result cpu = SegmentedTopK.select(b, c, layout, k, 0.5);
                     SegmentedTopK.Result cuda = SegmentedTopK.select(b.to(gpu, Tensors.scalarType(b)),
                             c.to(gpu, Tensors.scalarType(c)), layout, k.to(gpu, ScalarType.Long), 0.5)) {
                    assertArrayEquals(Tensors.toLongs(cpu.kept()), Tensors.toLongs(cuda.kept()), dtype + " kept");
                    assertArrayEquals(Tensors.toFloats(cpu.fused()), Tensors.toFloats(cuda.fused()), dtype + " fused");
                }
            }
        }
    }
}
