package dev.vtprune.ops;

import dev.vtprune.internal.Tensors;
import static dev.vtprune.ops.RegionBudgetTest.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.vtprune.testing.Approx;
import dev.vtprune.testing.Data;
import dev.vtprune.testing.Gpu;
import dev.vtprune.testing.Oracle;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ClsSaliencyTest {
    static final double ATOL = 1e-7, RTOL = 1e-4;

    static Stream<Arguments> cases() {
        return Stream.of(
                // tiles, heads, grid, merge, rows include CLS, dtype, seed
                Arguments.of(1, 1, 1, 1, false, "float32", 141L),
                Arguments.of(1, 16, 24, 1, true, "float32", 142L),   // LLaVA-1.5: 577 keys, no merge
                Arguments.of(13, 16, 32, 2, false, "float32", 143L), // InternVL2: 1024 patches -> 256 tokens
                Arguments.of(3, 5, 21, 3, true, "float32", 144L),
                Arguments.of(2, 4, 14, 2, false, "float16", 145L),
                Arguments.of(2, 4, 14, 7, true, "bfloat16", 146L));
    }

    @ParameterizedTest(name = "tiles={0} heads={1} grid={2} merge={3} cls={4} {5} seed {6}")
    @MethodSource("cases")
    void fromAttentionMatchesTheOracle(int tiles, int heads, int grid, int merge, boolean withCls, String dtype, long seed) {
        int first = withCls ? 1 : 0, rowLen = first + grid * grid;
        Tensor attn = Data.softmaxRows(seed, dtype, 2.0, tiles, heads, rowLen);
        double[] flat = Tensors.toDoubles(attn);
        for (Reduce head : Reduce.values()) {
            double[] want = Oracle.clsSaliency(flat, tiles, heads, rowLen, first, grid, merge, head == Reduce.MAX);
            for (Backend backend : Backend.values()) {
                Tensor got = ClsSaliency.fromAttention(attn, withCls, merge, head, backend);
                assertArrayEquals(new long[] {tiles, (long) (grid / merge) * (grid / merge)}, got.shape());
                Approx.assertClose(want, Tensors.toDoubles(got), ATOL, RTOL, backend + " " + head);
            }
        }
    }

    @ParameterizedTest(name = "tiles={0} heads={1} grid={2} merge={3} strided={4} {5} seed {6}")
    @MethodSource("cases")
    void fromQkMatchesTheMaterialisedOracle(int tiles, int heads, int grid, int merge, boolean strided, String dtype,
                                            long seed) {
        int keys = 1 + grid * grid, d = 16;
        Tensor q = Data.randn(seed, dtype, tiles, heads, d);
        // strided: K as [tiles, keys, heads, d] viewed as [tiles, heads, keys, d]
        Tensor k = strided ? Data.randn(seed + 1, dtype, tiles, keys, heads, d).transpose(1, 2)
                : Data.randn(seed + 1, dtype, tiles, heads, keys, d);
        double[] rows = Oracle.clsRowsFromQk(Tensors.toDoubles(q), Tensors.toDoubles(k), tiles, heads, keys, d, 0.25);
        for (Reduce head : Reduce.values()) {
            double[] want = Oracle.clsSaliency(rows, tiles, heads, keys, 1, grid, merge, head == Reduce.MAX);
            for (Backend backend : Backend.values()) {
                Approx.assertClose(want, Tensors.toDoubles(ClsSaliency.fromQk(q, k, merge, Double.NaN, head, backend)), ATOL,
                        RTOL, backend + " " + head);
            }
        }
    }

    @Test
    void badInputsGiveClearErrors() {
        assertMessage(() -> ClsSaliency.fromAttention(torch.rand(2, 16), 1), "'attn' must have rank 3");
        assertMessage(() -> ClsSaliency.fromAttention(torch.rand(2, 4, 15), 1), "'attn' must hold g*g entries");
        assertMessage(() -> ClsSaliency.fromAttention(torch.rand(2, 4, 16), 3), "'merge' must divide the patch grid side 4");
        assertMessage(() -> ClsSaliency.fromAttention(torch.rand(2, 4, 16), 0), "'merge' must be >= 1");
        assertMessage(() -> ClsSaliency.fromQk(torch.randn(2, 4, 8), torch.randn(2, 4, 16, 8), 1),
                "'k' must hold 1 + g*g keys (CLS first) on axis 2");
        assertMessage(() -> ClsSaliency.fromQk(torch.randn(2, 4, 8), torch.randn(2, 3, 17, 8), 1),
                "'k' must have size 4 (heads of qCls) on axis 1");
        assertMessage(() -> ClsSaliency.fromQk(torch.randn(2, 4, 8), torch.randn(2, 4, 17, 8).to(
                org.bytedeco.pytorch.global.torch.ScalarType.BFloat16), 1), "'k' must have the dtype of 'qCls' (float32)");
    }

    @Test
    void cudaMatchesCpu() {
        Device gpu = Gpu.require();
        for (String dtype : new String[] {"float32", "float16", "bfloat16"}) {
            Tensor attn = Data.softmaxRows(151, dtype, 2.0, 13, 16, 1024);
            Approx.assertClose(Tensors.toDoubles(ClsSaliency.fromAttention(attn, 2)),
                    Tensors.toDoubles(ClsSaliency.fromAttention(attn.to(gpu, Tensors.scalarType(attn)), 2)), ATOL, RTOL, dtype);
            Tensor q = Data.randn(152, dtype, 13, 16, 64), k = Data.randn(153, dtype, 13, 1025, 16, 64).transpose(1, 2);
            Approx.assertClose(Tensors.toDoubles(ClsSaliency.fromQk(q, k, 2)),
                    Tensors.toDoubles(ClsSaliency.fromQk(q.to(gpu, Tensors.scalarType(q)), k.to(gpu, Tensors.scalarType(k)), 2)),
                    ATOL, RTOL, dtype + " Q/K");
        }
    }
}
