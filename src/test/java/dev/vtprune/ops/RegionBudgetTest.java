package dev.vtprune.ops;

import dev.vtprune.internal.Tensors;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.testing.Approx;
import dev.vtprune.testing.Data;
import dev.vtprune.testing.Gpu;
import dev.vtprune.testing.Oracle;
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

class RegionBudgetTest {

    /** A named tile layout: tiles per image (thumbnail included) and tokens per tile. */
    record Case(String name, long[] tilesPerImage, long[] tokensPerTile) {
        TileLayout layout() {
            return TileLayout.of(tilesPerImage, tokensPerTile);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static Case uniform(String name, int[] local, long tokens) {
        TileLayout l = TileLayout.of(local, tokens);
        long[] tiles = new long[l.numImages()], per = new long[l.numTiles()];
        for (int b = 0; b < tiles.length; b++) tiles[b] = l.localTiles(b) + 1;
        for (int t = 0; t < per.length; t++) per[t] = l.tokens(t);
        return new Case(name, tiles, per);
    }

    static Stream<Case> layouts() {
        return Stream.of(
                uniform("no partition (1 tile of 576)", new int[] {0}, 576),
                uniform("1 local tile + thumbnail", new int[] {1}, 256),
                uniform("12 local tiles + thumbnail (InternVL2-2B)", new int[] {12}, 256),
                uniform("mixed batch 0/1/6/12/40 local tiles", new int[] {0, 1, 6, 12, 40}, 64),
                new Case("ragged tiles: primes, empty tiles, size 1",
                        new long[] {4, 1, 6}, new long[] {7, 0, 13, 1, 1, 3, 0, 11, 17, 2, 5}),
                new Case("all local tiles empty", new long[] {3}, new long[] {0, 0, 9}));
    }

    static Stream<Arguments> cases() {
        return layouts().flatMap(c -> Stream.of(
                Arguments.of(c, 0.5, 1.0, 0L, "float32", 11L),
                Arguments.of(c, 0.0, 1.0, 0L, "float32", 12L),
                Arguments.of(c, 0.99, 1.0, 0L, "float32", 13L),
                Arguments.of(c, 1.0, 1.0, 0L, "float32", 14L),
                Arguments.of(c, 0.75, 0.05, 0L, "float16", 15L),
                Arguments.of(c, 0.5, 1.0, 8L, "bfloat16", 16L),
                Arguments.of(c, 0.9, 0.1, 40L, "float32", 17L)));
    }

    @ParameterizedTest(name = "{0}, r={1}, T={2}, min={3}, {4}, seed {5}")
    @MethodSource("cases")
    void nativeAndLibTorchMatchTheFloat64Oracle(Case c, double ratio, double temperature, long minPerTile, String dtype,
                                                long seed) {
        try (TileLayout layout = c.layout()) {
            int dim = 37;
            Tensor cls = Data.randn(seed, dtype, layout.numTiles(), dim);
            Oracle.Budgets want = Oracle.regionBudget(Tensors.toDoubles(cls), dim, layout.tileOffsets(),
                    layout.tokenOffsets(), 1 - ratio, temperature, minPerTile);
            RegionBudget.Params params = new RegionBudget.Params(ratio, temperature, minPerTile);
            for (Backend backend : Backend.values()) {
                try (RegionBudget.Result got = RegionBudget.compute(cls, layout, params, backend)) {
                    String what = backend + " " + c;
                    Approx.assertClose(want.scores(), Tensors.toDoubles(got.scores()), 1e-6, 1e-6, what + " scores");
                    Approx.assertClose(want.weights(), Tensors.toDoubles(got.weights()), 1e-7, 1e-6, what + " weights");
                    assertArrayEquals(want.budgets(), Tensors.toLongs(got.budgets()), what + " budgets");
                }
            }
            checkBudgetInvariants(layout, want.budgets(), 1 - ratio, minPerTile);
        }
    }

    /** sum of local budgets == K_L exactly, 0 <= K_t <= n_t, reservation honoured. */
    static void checkBudgetInvariants(TileLayout layout, long[] budgets, double keep, long minPerTile) {
        for (int b = 0; b < layout.numImages(); b++) {
            long tokens = 0, sum = 0;
            int first = layout.firstTile(b), local = layout.localTiles(b);
            for (int t = first; t < first + local; t++) {
                tokens += layout.tokens(t);
                sum += budgets[t];
                assertTrue(budgets[t] >= 0 && budgets[t] <= layout.tokens(t), "budget within [0, n_t] for tile " + t);
            }
            long kLocal = (long) Math.floor(keep * tokens + 0.5);
            if (local > 0) {
                assertEquals(kLocal, sum, "local budgets of image " + b + " sum to K_L");
                long reserve = Math.min(minPerTile, kLocal / local);
                for (int t = first; t < first + local; t++) {
                    assertTrue(budgets[t] >= Math.min(reserve, layout.tokens(t)), "reservation of tile " + t);
                }
            }
            assertEquals((long) Math.floor(keep * layout.tokens(layout.thumbnail(b)) + 0.5), budgets[layout.thumbnail(b)]);
        }
    }

    @Test
    void cappedTilesPassTheirShareToTheOthers() {
        // Tile 0 is the thumbnail's twin (weight e^1 / (e^1 + 2 e^-1) ~ 0.79) but holds 10 tokens:
        // it is capped at 10 and the rest of K_L = 105 (95 tokens) is split 47.5 / 47.5 between
        // the others; the spare token of the two .5 fractions goes to the lower index.
        try (TileLayout layout = TileLayout.of(new long[] {4}, new long[] {10, 100, 100, 50})) {
            Tensor cls = Tensors.floats(new float[] {1, 0, -1, 0, -1, 0, 1, 0}, 4, 2);
            for (Backend backend : Backend.values()) {
                try (RegionBudget.Result r = RegionBudget.compute(cls, layout, RegionBudget.Params.ratio(0.5), backend)) {
                    assertArrayEquals(new long[] {10, 48, 47, 25}, Tensors.toLongs(r.budgets()), backend.toString());
                }
            }
        }
    }

    @Test
    void remainderGoesToLargestFractionsThenLowerIndex() {
        // Three identical tiles: x = 100/3 each; the one spare token goes to tile 0.
        try (TileLayout layout = TileLayout.of(new long[] {4}, new long[] {100, 100, 100, 9})) {
            Tensor cls = torch.ones(4, 8);
            for (Backend backend : Backend.values()) {
                try (RegionBudget.Result r = RegionBudget.compute(cls, layout, RegionBudget.Params.ratio(1 - 100.0 / 300),
                        backend)) {
                    assertArrayEquals(new long[] {34, 33, 33, 3}, Tensors.toLongs(r.budgets()), backend.toString());
                }
            }
        }
    }

    /**
     * Non-finite CLS rows: one exception, word for word, from the CPU kernel, the composition
     * and (through rejectNonFinite, which reads the CUDA kernel's NaN scores) the CUDA path.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(doubles = {Double.NaN, Double.POSITIVE_INFINITY})
    void nonFiniteClsIsTheSameErrorOnEveryPath(double bad) {
        // Two images: 2 local tiles + thumbnail, then 3 + thumbnail; tile 5 (image 1) is bad.
        try (TileLayout layout = TileLayout.of(new long[] {3, 4}, new long[] {4, 4, 2, 4, 4, 4, 2})) {
            Tensor cls = torch.randn(7, 8);
            cls.select(0, 5).select(0, 3).fill_(new Scalar(bad));
            String expected = "vt_region_budget: argument 'cls' holds NaN or infinite values (tile 5 or its thumbnail 6)";
            for (Backend backend : Backend.values()) {
                VtpruneException e = assertThrows(VtpruneException.class,
                        () -> RegionBudget.compute(cls, layout, RegionBudget.Params.PAPER, backend), backend.name());
                assertEquals(VtpruneException.Status.INVALID_ARGUMENT, e.status(), backend.name());
                assertEquals(expected, e.getMessage(), backend.name());
            }
            // What the CUDA kernel leaves (vtprune.h): a NaN score on the tile, -1 budgets on its image.
            RegionBudget.Result cuda = new RegionBudget.Result(
                    Tensors.floats(new float[] {0.5f, 0.2f, 1, 0.1f, 0.3f, Float.NaN, 1}, 7), torch.zeros(7),
                    Tensors.longs(new Device("cpu"), 1, 1, 1, -1, -1, -1, -1));
            VtpruneException e = assertThrows(VtpruneException.class, () -> RegionBudget.rejectNonFinite(cuda, layout));
            assertEquals(expected, e.getMessage());
            try (RegionBudget.Result fine = RegionBudget.compute(torch.randn(7, 8), layout, RegionBudget.Params.PAPER)) {
                RegionBudget.rejectNonFinite(fine, layout);  // finite scores pass
            }
        }
    }

    @Test
    void badInputsGiveClearErrors() {
        try (TileLayout layout = TileLayout.uniform(1, 2, 16)) {
            RegionBudget.Params p = RegionBudget.Params.PAPER;
            assertMessage(() -> RegionBudget.compute(torch.randn(3), layout, p), "'cls' must have rank 2");
            assertMessage(() -> RegionBudget.compute(torch.randn(4, 8), layout, p), "'cls' must have size 3");
            assertMessage(() -> RegionBudget.compute(torch.randn(3, 8).to(ScalarType.Long), layout, p),
                    "'cls' must be float32, float16 or bfloat16, got int64[3, 8]");
            assertMessage(() -> RegionBudget.compute(torch.randn(8, 3).t(), layout, p), "'cls' must be contiguous");
            assertMessage(() -> RegionBudget.compute(torch.randn(3, 0), layout, p), "'cls.size(1) (dim)' must be >= 1");
            assertMessage(() -> new RegionBudget.Params(1.5, 1, 0), "'pruneRatio' must be in [0.0, 1.0]");
            assertMessage(() -> new RegionBudget.Params(0.5, 0, 0), "'temperature' must be finite and > 0");
            assertMessage(() -> new RegionBudget.Params(0.5, 1, -1), "'minPerTile' must be >= 0");
            Tensor nan = torch.randn(3, 8);
            nan.select(0, 1).select(0, 3).fill_(new Scalar(Double.NaN));
            VtpruneException e = assertThrows(VtpruneException.class, () -> RegionBudget.compute(nan, layout, p));
            assertEquals(VtpruneException.Status.INVALID_ARGUMENT, e.status());
            assertTrue(e.getMessage().contains("vt_region_budget: argument 'cls' holds NaN or infinite values"), e.getMessage());
        }
        assertMessage(() -> TileLayout.of(new long[] {0}, new long[] {}), "'tilesPerImage[0]' must be in [1, 1025]");
        assertMessage(() -> TileLayout.of(new long[] {2}, new long[] {3}), "'tokensPerTile' must have one entry per tile (2)");
        assertMessage(() -> TileLayout.of(new long[] {1}, new long[] {-3}), "'tokensPerTile[0]' must be >= 0");
    }

    @Test
    void cudaMatchesCpu() {
        Device gpu = Gpu.require();
        try (TileLayout layout = TileLayout.of(new int[] {0, 3, 12, 6}, 256)) {
            for (String dtype : new String[] {"float32", "float16", "bfloat16"}) {
                Tensor cls = Data.randn(21, dtype, layout.numTiles(), 1024);
                try (RegionBudget.Result cpu = RegionBudget.compute(cls, layout, RegionBudget.Params.PAPER);
                     RegionBudget.Result gpuResult = RegionBudget.compute(cls.to(gpu, cls.scalar_type()), layout,
                             RegionBudget.Params.PAPER)) {
                    Approx.assertClose(Tensors.toDoubles(cpu.scores()), Tensors.toDoubles(gpuResult.scores()), 1e-6, 1e-6,
                            dtype + " scores");
                    assertArrayEquals(Tensors.toLongs(cpu.budgets()), Tensors.toLongs(gpuResult.budgets()), dtype);
                }
            }
        }
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable call, String fragment) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should contain '" + fragment + "'");
    }
}
