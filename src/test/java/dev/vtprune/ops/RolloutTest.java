package dev.vtprune.ops;

import dev.vtprune.internal.Tensors;
import static dev.vtprune.ops.RegionBudgetTest.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vtprune.testing.Approx;
import dev.vtprune.testing.Data;
import dev.vtprune.testing.Gpu;
import dev.vtprune.testing.Oracle;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class RolloutTest {
    // Accumulation is fp32 over at most a few hundred terms per entry; the oracle reads the same
    // rounded fp16 / bf16 inputs, so the tolerance does not depend on the input dtype.
    static final double ATOL = 1e-6, RTOL = 2e-4;

    static Stream<Arguments> cases() {
        return Stream.of(
                // seqs (0 = unbatched rank-3 input), heads, tokens, layers, mode, values, dtype, seed
                Arguments.of(0, 1, 2, 1, Rollout.Mode.IVTP, false, "float32", 61L),
                Arguments.of(0, 4, 17, 3, Rollout.Mode.IVTP, true, "float32", 62L),
                Arguments.of(3, 2, 50, 3, Rollout.Mode.IVTP, true, "float32", 63L),
                Arguments.of(3, 2, 50, 3, Rollout.Mode.ABNAR, false, "float32", 64L),
                Arguments.of(1, 3, 131, 2, Rollout.Mode.ABNAR, true, "float32", 65L),
                Arguments.of(2, 4, 37, 4, Rollout.Mode.IVTP, true, "float16", 66L),
                Arguments.of(2, 4, 37, 3, Rollout.Mode.IVTP, false, "bfloat16", 67L),
                Arguments.of(13, 2, 65, 3, Rollout.Mode.IVTP, true, "float32", 68L));
    }

    record Inputs(List<Tensor> layers, Tensor values, List<double[]> flat, double[] flatValues, int seqs) {}

    static Inputs inputs(int seqs, int heads, int m, int layers, boolean values, String dtype, long seed) {
        List<Tensor> ls = new ArrayList<>();
        List<double[]> flat = new ArrayList<>();
        int s = Math.max(seqs, 1);
        for (int l = 0; l < layers; l++) {
            Tensor a = Data.softmaxRows(seed + l, dtype, 3.0, s, heads, m, m);
            flat.add(Tensors.toDoubles(a));
            ls.add(seqs == 0 ? a.squeeze(0) : a);
        }
        Tensor v = null;
        double[] fv = null;
        if (values) {
            Tensor vv = Data.randn(seed + 100, dtype, s, m, 24);
            fv = Tensors.toDoubles(vv);
            v = seqs == 0 ? vv.squeeze(0) : vv;
        }
        return new Inputs(ls, v, flat, fv, s);
    }

    static double[][] oracle(Inputs in, int heads, int m, Rollout.Mode mode, boolean full) {
        double[] row = new double[in.seqs * m], imp = new double[in.seqs * (m - 1)], matrix = new double[in.seqs * m * m];
        for (int s = 0; s < in.seqs; s++) {
            double[][] r = Oracle.rolloutMatrix(Oracle.meanLayers(in.flat, s, heads, m), mode == Rollout.Mode.ABNAR);
            System.arraycopy(r[0], 0, row, s * m, m);
            for (int i = 0; i < m; i++) System.arraycopy(r[i], 0, matrix, (s * m + i) * m, m);
            double[] im = Oracle.importance(r[0], in.flatValues == null ? null : Oracle.rowNorms(in.flatValues, s, m, 24));
            System.arraycopy(im, 0, imp, s * (m - 1), m - 1);
        }
        return new double[][] {row, imp, matrix};
    }

    @ParameterizedTest(name = "seqs={0} heads={1} M={2} layers={3} {4} values={5} {6} seed {7}")
    @MethodSource("cases")
    void clsRowChainMatchesTheFullMatrixOracle(int seqs, int heads, int m, int layers, Rollout.Mode mode, boolean values,
                                               String dtype, long seed) {
        Inputs in = inputs(seqs, heads, m, layers, values, dtype, seed);
        double[][] want = oracle(in, heads, m, mode, false);
        for (Backend backend : Backend.values()) {
            try (Rollout.Result got = Rollout.clsRow(in.layers, mode, in.values, backend)) {
                long[] rowShape = seqs == 0 ? new long[] {m} : new long[] {seqs, m};
                assertEquals(java.util.Arrays.toString(rowShape), java.util.Arrays.toString(got.clsRow().shape()));
                Approx.assertClose(want[0], Tensors.toDoubles(got.clsRow()), ATOL, RTOL, backend + " cls row");
                Approx.assertClose(want[1], Tensors.toDoubles(got.importance()), ATOL, RTOL, backend + " importance");
            }
            Tensor matrix = Rollout.matrix(in.layers, mode, backend);
            Approx.assertClose(want[2], Tensors.toDoubles(matrix), ATOL, RTOL, backend + " matrix");
        }
    }

    static Stream<Arguments> qkCases() {
        return Stream.of(
                Arguments.of(0, 2, 17, 8, 2, Rollout.Mode.IVTP, true, false, "float32", 71L),
                Arguments.of(3, 4, 50, 16, 3, Rollout.Mode.IVTP, true, true, "float32", 72L),
                Arguments.of(2, 3, 29, 64, 3, Rollout.Mode.ABNAR, false, true, "float32", 73L),
                Arguments.of(2, 2, 33, 32, 3, Rollout.Mode.IVTP, true, false, "float16", 74L),
                Arguments.of(1, 2, 33, 32, 1, Rollout.Mode.IVTP, false, true, "bfloat16", 75L));
    }

    /**
     * @param strided q / k come as [S, M, H, d] tensors viewed as [S, H, M, d] (the layout of a
     *                projection output before any copy), so head and token strides are unusual
     */
    @ParameterizedTest(name = "seqs={0} heads={1} M={2} d={3} layers={4} {5} values={6} strided={7} {8} seed {9}")
    @MethodSource("qkCases")
    void qkFormMatchesRolloutOfTheMaterialisedAttention(int seqs, int heads, int m, int d, int layers, Rollout.Mode mode,
                                                        boolean values, boolean strided, String dtype, long seed) {
        int s = Math.max(seqs, 1);
        double scale = 1 / Math.sqrt(d);
        List<Tensor> q = new ArrayList<>(), k = new ArrayList<>();
        List<double[]> probs = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            Tensor ql = strided ? Data.randn(seed + 2 * l, dtype, s, m, heads, d).transpose(1, 2)
                    : Data.randn(seed + 2 * l, dtype, s, heads, m, d);
            Tensor kl = strided ? Data.randn(seed + 2 * l + 1, dtype, s, m, heads, d).transpose(1, 2)
                    : Data.randn(seed + 2 * l + 1, dtype, s, heads, m, d);
            probs.add(Oracle.attentionFromQk(Tensors.toDoubles(ql), Tensors.toDoubles(kl), s, heads, m, d, scale));
            q.add(seqs == 0 ? ql.squeeze(0) : ql);
            k.add(seqs == 0 ? kl.squeeze(0) : kl);
        }
        Tensor v = values ? Data.randn(seed + 50, dtype, s, m, 24) : null;
        Inputs in = new Inputs(null, v, probs, v == null ? null : Tensors.toDoubles(v), s);
        double[][] want = oracle(in, heads, m, mode, false);
        Tensor vArg = v == null ? null : seqs == 0 ? v.squeeze(0) : v;
        for (Backend backend : Backend.values()) {
            try (Rollout.Result got = Rollout.clsRowFromQk(q, k, Double.NaN, mode, vArg, backend)) {
                Approx.assertClose(want[0], Tensors.toDoubles(got.clsRow()), ATOL, RTOL, backend + " cls row");
                Approx.assertClose(want[1], Tensors.toDoubles(got.importance()), ATOL, RTOL, backend + " importance");
            }
        }
    }

    @Test
    void badInputsGiveClearErrors() {
        Tensor a = Data.softmaxRows(1, "float32", 1, 2, 5, 5);
        assertMessage(() -> Rollout.clsRow(List.of(), Rollout.Mode.IVTP, null), "'layers' must hold at least one layer");
        assertMessage(() -> Rollout.clsRow(List.of(torch.rand(5, 5)), Rollout.Mode.IVTP, null),
                "'layers[0]' must have rank 3 [heads, M, M] or 4");
        assertMessage(() -> Rollout.clsRow(List.of(torch.rand(2, 5, 4)), Rollout.Mode.IVTP, null),
                "'layers[0]' must be square");
        assertMessage(() -> Rollout.clsRow(List.of(a, torch.rand(2, 6, 6)), Rollout.Mode.IVTP, null),
                "'layers[1]' must have the shape of layers[0] [2, 5, 5]");
        assertMessage(() -> Rollout.clsRow(List.of(a, a.to(ScalarType.Half)), Rollout.Mode.IVTP, null),
                "'layers[1]' must have the dtype of 'layers[0]' (float32)");
        assertMessage(() -> Rollout.clsRow(List.of(a.transpose(1, 2)), Rollout.Mode.IVTP, null),
                "'layers[0]' must be contiguous");
        assertMessage(() -> Rollout.clsRow(List.of(a), Rollout.Mode.IVTP, torch.randn(4, 8)),
                "'values' must have size 5 (tokens) on axis 0");
        assertMessage(() -> Rollout.clsRow(List.of(torch.rand(2, 1, 1)), Rollout.Mode.IVTP, null),
                "'layers[0]' must hold at least 2 tokens");
        Tensor q = torch.randn(2, 5, 8);
        assertMessage(() -> Rollout.clsRowFromQk(List.of(q), List.of(q, q), Rollout.Mode.IVTP, null),
                "'k' must hold one tensor per layer of q (1)");
        assertMessage(() -> Rollout.clsRowFromQk(List.of(q), List.of(torch.randn(2, 5, 7)), Rollout.Mode.IVTP, null),
                "'k[0]' must have the shape of q[0] [2, 5, 8]");
        assertMessage(() -> Rollout.clsRowFromQk(List.of(torch.randn(2, 8, 5).transpose(1, 2)), List.of(q),
                Rollout.Mode.IVTP, null), "'q[0]' must have a contiguous last axis");
        assertMessage(() -> Rollout.clsRowFromQk(List.of(q), List.of(torch.randn(5, 2, 8).transpose(0, 1)),
                Rollout.Mode.IVTP, null), "'k[0]' must have the strides of q[0] [40, 8, 1]");
        assertMessage(() -> Rollout.clsRowFromQk(List.of(q), List.of(q), -1.0, Rollout.Mode.IVTP, null, Backend.NATIVE),
                "'scale' must be finite and > 0");
    }

    @Test
    void cudaMatchesCpu() {
        Device gpu = Gpu.require();
        for (String dtype : new String[] {"float32", "float16", "bfloat16"}) {
            Inputs in = inputs(13, 16, 257, 3, true, dtype, 81);
            List<Tensor> onGpu = new ArrayList<>();
            for (Tensor t : in.layers) onGpu.add(t.to(gpu, Tensors.scalarType(t)));
            Tensor v = in.values.to(gpu, Tensors.scalarType(in.values));
            try (Rollout.Result cpu = Rollout.clsRow(in.layers, Rollout.Mode.IVTP, in.values);
                 Rollout.Result cuda = Rollout.clsRow(onGpu, Rollout.Mode.IVTP, v)) {
                Approx.assertClose(Tensors.toDoubles(cpu.clsRow()), Tensors.toDoubles(cuda.clsRow()), ATOL, RTOL, dtype);
                Approx.assertClose(Tensors.toDoubles(cpu.importance()), Tensors.toDoubles(cuda.importance()), ATOL, RTOL,
                        dtype);
            }
            Approx.assertClose(Tensors.toDoubles(Rollout.matrix(in.layers, Rollout.Mode.IVTP, Backend.NATIVE)),
                    Tensors.toDoubles(Rollout.matrix(onGpu, Rollout.Mode.IVTP, Backend.NATIVE)), ATOL, RTOL, dtype);
            List<Tensor> q = new ArrayList<>(), k = new ArrayList<>(), qg = new ArrayList<>(), kg = new ArrayList<>();
            for (int l = 0; l < 3; l++) {
                q.add(Data.randn(90 + l, dtype, 13, 577, 16, 64).transpose(1, 2));
                k.add(Data.randn(95 + l, dtype, 13, 577, 16, 64).transpose(1, 2));
                qg.add(q.get(l).to(gpu, Tensors.scalarType(q.get(l))));
                kg.add(k.get(l).to(gpu, Tensors.scalarType(k.get(l))));
            }
            try (Rollout.Result cpu = Rollout.clsRowFromQk(q, k, Rollout.Mode.IVTP, null);
                 Rollout.Result cuda = Rollout.clsRowFromQk(qg, kg, Rollout.Mode.IVTP, null)) {
                Approx.assertClose(Tensors.toDoubles(cpu.clsRow()), Tensors.toDoubles(cuda.clsRow()), ATOL, RTOL, dtype);
            }
        }
    }
}
