package dev.vtprune.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.internal.Tensors;
import dev.vtprune.testing.Data;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Eq. 6-8 on hand-made spans and features whose cosines are known exactly. */
class PseudoClsTest {
    // The prompt "red ball!": CLIP tokens [SOT] "red" "ball" "!" [EOT]; the LM splits it as
    // [BOS] "red" " " "ba" "ll!" — one LM token inside a CLIP token, one across two, one blank.
    static final int[] CLIP_S = {0, 0, 4, 8, 9}, CLIP_E = {0, 3, 8, 9, 9};
    static final int[] LM_S = {0, 0, 3, 4, 6}, LM_E = {0, 3, 4, 6, 9};
    // visual CLS = e0; CLIP features with cosines 0 (SOT), 0.6, 0.8, -0.5, 1 (EOT) to it
    static final Tensor CLIP = Tensors.doubles(new double[] {0, 2, 0.6, 0.8, 0.8, 0.6, -1, Math.sqrt(3), 3, 0}, 5, 2)
            .to(ScalarType.Float);
    static final Tensor CLS = Tensors.doubles(new double[] {2, 0}, 2).to(ScalarType.Float);
    static final Tensor LM = Data.randn(5, "float32", 5, 6), LM_CLS = Data.randn(6, "float32", 6);

    private static PseudoCls.Result run(double tau) {
        return PseudoCls.compute(CLIP, CLS, CLIP_S, CLIP_E, LM_S, LM_E, LM, LM_CLS, tau);
    }

    /**
     * BOS and the blank " " are covered by no CLIP token: NaN, never selected; "red" and "ba"
     * inside one CLIP token get its value directly; "ll!" spans "ball" and "!": their mean 0.15.
     */
    @Test
    void relevanceFollowsTheCoveringClipTokens() {
        try (PseudoCls.Result r = run(0.2)) {
            assertArrayEquals(new double[] {0, 0.6, 0.8, -0.5, 1}, r.clipRelevance(), 1e-6);
            assertArrayEquals(new double[] {Double.NaN, 0.6, Double.NaN, 0.8, 0.15}, r.relevance(), 1e-6);
            assertArrayEquals(new int[] {1, 3}, r.selected());
            assertFalse(r.fromVisualCls());
            double[] lm = Tensors.toDoubles(LM), want = new double[6];
            for (int j = 0; j < 6; j++) want[j] = (lm[6 + j] + lm[18 + j]) / 2;  // eq. 8: mean of "red", "ba"
            assertArrayEquals(want, Tensors.toDoubles(r.embedding()), 1e-6);
        }
        try (PseudoCls.Result r = run(0.1)) {
            assertArrayEquals(new int[] {1, 3, 4}, r.selected(), "0.15 >= 0.1");
        }
        try (PseudoCls.Result r = run(-1)) {
            assertArrayEquals(new int[] {1, 3, 4}, r.selected(), "uncovered tokens stay out at any tau");
        }
    }

    /** No token reaches tau: eq. 8's fallback, the projected visual CLS, in the LM's dtype. */
    @Test
    void noTokenAtTauFallsBackToTheVisualCls() {
        try (PseudoCls.Result r = run(0.81)) {
            assertEquals(0, r.selected().length);
            assertTrue(r.fromVisualCls());
            assertArrayEquals(Tensors.toDoubles(LM_CLS), Tensors.toDoubles(r.embedding()), 0);
        }
        Tensor bf = LM.to(ScalarType.BFloat16);
        try (PseudoCls.Result r = PseudoCls.compute(CLIP, CLS, CLIP_S, CLIP_E, LM_S, LM_E, bf, LM_CLS, 0.81)) {
            assertEquals(ScalarType.BFloat16.value, Tensors.scalarType(r.embedding()).value);
        }
    }

    @Test
    void badInputsNameTheArgument() {
        message(() -> run(Double.NaN), "tau", "NaN");
        message(() -> PseudoCls.compute(CLIP, CLS, CLIP_S, CLIP_E, LM_S, new int[4], LM, LM_CLS, 0.2), "lmStart/lmEnd",
                "(5)", "5/4");
        message(() -> PseudoCls.compute(CLIP, CLS, new int[] {0, 0, 4, 8}, CLIP_E, LM_S, LM_E, LM, LM_CLS, 0.2),
                "clipStart/clipEnd");
        message(() -> PseudoCls.compute(CLIP, CLS, CLIP_S, CLIP_E, new int[0], new int[0], Tensors.zeros(ScalarType.Float,
                Tensors.cpu(), 0, 6), LM_CLS, 0.2), "lmEmbeddings", "empty");
        message(() -> PseudoCls.compute(CLIP, Data.randn(1, "float32", 3), CLIP_S, CLIP_E, LM_S, LM_E, LM, LM_CLS, 0.2),
                "visualCls");
        message(() -> PseudoCls.compute(CLIP, CLS, CLIP_S, CLIP_E, LM_S, LM_E, LM, Data.randn(1, "float32", 5), 0.2),
                "visualClsLm");
        message(() -> PseudoCls.compute(CLIP, CLS, CLIP_S, CLIP_E, new int[] {0, 0, 3, 7, 6}, LM_E, LM, LM_CLS, 0.2),
                "lm span 3", "7..6");
    }

    private static void message(Executable call, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String p : parts) assertTrue(e.getMessage().contains(p), "'" + p + "' not in: " + e.getMessage());
    }
}
