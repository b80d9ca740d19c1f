package dev.vtprune.ops;

import dev.vtprune.internal.Tensors;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.prune.PruneInputs;
import dev.vtprune.prune.Pruners;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.testing.Data;
import java.util.List;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Java API on empty tensors and on extreme finite values: a documented result or an
 * IllegalArgumentException naming the argument, the same on both backends; never a
 * NullPointerException, an internal error or a silently degenerate result.
 */
class ExtremeInputsTest {
    static final int HQ = 4, HKV = 2, D = 8;

    static TextLayout text(long[] queries) {
        long[] visual = new long[20];
        for (int i = 0; i < visual.length; i++) visual[i] = 1 + i;
        return TextLayout.single(24, queries, visual);
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void noInstructionQueriesGiveRelevanceZero(Backend backend) {
        Tensor attn = Data.rand(1, "float32", HQ, 0, 20);
        assertArrayEquals(new double[20], Tensors.toDoubles(TextRelevance.fromAttention(List.of(attn), Reduce.MEAN, Reduce.MAX,
                backend)));
        try (TextLayout t = text(new long[0])) {
            Tensor q = Data.randn(2, "float32", HQ, 0, D), k = Data.randn(3, "float32", HKV, 24, D);
            assertArrayEquals(new double[20], Tensors.toDoubles(TextRelevance.fromQk(q, k, t, Double.NaN, Reduce.MEAN, Reduce.MAX,
                    backend)));
        }
    }

    /** q.k * scale past float32: the same message from both backends, for huge q and for huge k. */
    @ParameterizedTest
    @ValueSource(strings = {"q", "k"})
    void overflowingLogitsAreBadInputOnBothBackends(String huge) {
        try (TextLayout t = text(new long[] {21, 22, 23})) {
            Tensor q = Data.randn(4, "float32", HQ, 3, D), k = Data.randn(5, "float32", HKV, 24, D);
            if (huge.equals("q")) q = q.sign().mul(new Scalar(3e38));
            else k = k.sign().mul(new Scalar(3e38));
            String[] messages = new String[2];
            for (Backend b : Backend.values()) {
                Tensor qq = q, kk = k;
                messages[b.ordinal()] = assertThrows(IllegalArgumentException.class,
                        () -> TextRelevance.fromQk(qq, kk, t, Double.NaN, Reduce.MEAN, Reduce.MAX, b), b.name()).getMessage();
            }
            assertEquals(messages[0], messages[1]);
            assertTrue(messages[0].contains("'q' and 'k'"), messages[0]);
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void overflowingVitLogitsAreBadInput(Backend backend) {
        Tensor q = Data.randn(6, "float32", 2, 3, D).sign().mul(new Scalar(3e38)), k = Data.randn(7, "float32", 2, 3, 17, D);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClsSaliency.fromQk(q, k, 1, Double.NaN, Reduce.MEAN, backend));
        assertTrue(e.getMessage().contains("'qCls' and 'k'"), e.getMessage());
    }

    /** K3's non-finite values: the CPU kernel's error, word for word, from every backend and both forms. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void nonFiniteRolloutValuesAreTheSameErrorEverywhere(Backend backend) {
        Tensor a = Data.softmaxRows(13, "float32", 2.0, 2, 2, 17, 17);
        Tensor q = Data.randn(14, "float32", 2, 2, 17, D), k = Data.randn(15, "float32", 2, 2, 17, D);
        Tensor values = Data.randn(16, "float32", 2, 17, 6);
        values.select(0, 1).select(0, 5).select(0, 2).fill_(new Scalar(Double.POSITIVE_INFINITY));
        String expected = "vt_rollout: argument 'values' holds a non-finite value (sequence 1, token 5)";
        VtpruneException e = assertThrows(VtpruneException.class,
                () -> Rollout.clsRow(List.of(a), Rollout.Mode.IVTP, values, backend));
        assertEquals(expected, e.getMessage());
        e = assertThrows(VtpruneException.class,
                () -> Rollout.clsRowFromQk(List.of(q), List.of(k), Double.NaN, Rollout.Mode.ABNAR, values, backend));
        assertEquals(expected, e.getMessage());
    }

    /** K3 from Q/K: the CPU kernel's VT_ERR_NONFINITE and the NaN cls_row of the other paths are one error. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void overflowingRolloutLogitsAreBadInput(Backend backend) {
        Tensor q = Data.randn(11, "float32", 2, 17, D).sign().mul(new Scalar(3e38)), k = Data.randn(12, "float32", 2, 17, D);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Rollout.clsRowFromQk(List.of(q), List.of(k), Double.NaN, Rollout.Mode.IVTP, null, backend));
        assertTrue(e.getMessage().contains("'q' and 'k'"), e.getMessage());
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void rolloutWithoutHeadsIsBadInput(Backend backend) {
        Tensor a = Data.softmaxRows(8, "float32", 2.0, 0, 17, 17);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Rollout.clsRow(List.of(a), Rollout.Mode.IVTP, null, backend));
        assertTrue(e.getMessage().contains("layers[0]"), e.getMessage());
    }

    /** Every method refuses a ratio that leaves an image no token, rather than selecting nothing. */
    @ParameterizedTest
    @ValueSource(strings = {"ptp", "cls-topk", "random", "spatial"})
    void aRatioLeavingNoTokenIsAnError(String method) {
        try (TileLayout layout = TileLayout.of(new int[] {4}, 16)) {
            PruneInputs in = PruneInputs.builder(layout).tileCls(Data.randn(9, "float32", 5, 12))
                    .vitAttention(Data.softmaxRows(10, "float32", 2.0, 5, 3, 64), false).patchMerge(2).build();
            PyramidTokenPruner.Config c = PyramidTokenPruner.Config.PAPER.withRatio(0.999).withAlpha(0);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Pruners.byName(method, c, 1).select(in));
            assertTrue(e.getMessage().startsWith("argument 'ratio' must leave image 0 at least one of its 80 visual tokens"),
                    e.getMessage());
            // Just inside the bound printed in the message, one token survives.
            double most = Double.parseDouble(e.getMessage().replaceAll(".*ratio <= ([0-9.Ee-]+)\\).*", "$1"));
            assertTrue(Pruners.byName(method, c.withRatio(most - 1e-9), 1).select(in).numKept() >= 1);
        }
    }
}
