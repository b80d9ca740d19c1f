package dev.vtprune.model;

import static dev.vtprune.model.ModelTesting.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.internal.Tensors;
import dev.vtprune.model.ModelConfig.Family;
import dev.vtprune.ops.Rollout;
import dev.vtprune.testing.Approx;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * IVTP's LM stage ({@link LmPruning}, {@link LanguageModel#prefillPruned}) against a float64
 * oracle written from the paper: the whole decoder run naively on the running token list, the
 * pseudo-CLS masked by an explicit visibility matrix, the group's rollout as full matrix
 * products (eq. 3), eq. 4, a sort with ties to the lower position, RoPE at the input
 * positions. A Qwen2-shaped LM (GQA 4 / 2, biases) of 5 layers, W = 4 in groups of 2: two
 * pruning points (layers 1 and 3) and a layer after them; two images of 8 visual tokens.
 */
class LmPruningTest {
    static final ModelConfig QWEN = new ModelConfig("gtp-lm", Family.INTERNVL_QWEN2,
            new ModelConfig.Vision(56, 14, 2, 32, 2, 64, 2, true, false, false), new ModelConfig.Projector(128, 48, 48, true),
            new ModelConfig.Language(5, 48, 4, 2, 96, 300, true, 10000, 1e-6, false, 2048), new ModelConfig.Tiling(1, 4, true));
    static final String LM = "language_model.model.";
    static final long[] START = {3, 11}, COUNT = {8, 8};
    static final int LENGTH = 24, PC_POS = 19;  // 3 text, 2 x 8 visual, 5 text; the pseudo-CLS goes at 19

    /** What the oracle decided and computed. */
    record Oracle(List<long[][]> present, List<double[][]> importance, List<long[][]> kept, double[] logits,
                  long[][] cached) {}

    @ParameterizedTest(name = "keep {0},{1} {2} values {3}")
    @CsvSource({"5, 3, IVTP, true", "6, 2, ABNAR, false", "8, 4, IVTP, false"})
    void keptSetsScoresLogitsAndCachesMatchTheFloat64Oracle(long k0, long k1, Rollout.Mode mode, boolean values) {
        TestCheckpoint ck = TestCheckpoint.of(QWEN, 51);
        int h = QWEN.language().hidden();
        Tensor embeds = ModelTesting.randn(52, 1, LENGTH, h);
        Tensor pc = ModelTesting.randn(53, h);
        LmPruning plan = new LmPruning(2, 4, new long[] {k0, k1}, values, mode);
        LmPruning.Spans spans = new LmPruning.Spans(START, COUNT);
        double[] x = Tensors.toDoubles(embeds), pcd = Tensors.toDoubles(pc);
        Oracle want = oracle(ck.hf, x, pcd, plan, null);
        try (Lvlm m = ModelTesting.load(ck, QWEN);
             LmPruning.Result got = m.language().prefillPruned(embeds, spans, pc, plan, null)) {
            assertEquals(2, got.steps().size());
            assertArrayEquals(new int[] {1, 3}, got.steps().stream().mapToInt(LmPruning.Step::layer).toArray());
            for (int p = 0; p < 2; p++) {
                LmPruning.Step s = got.steps().get(p);
                for (int b = 0; b < 2; b++) {
                    String what = "point " + p + " image " + b;
                    assertArrayEquals(want.present.get(p)[b], s.present()[b], what + " present");
                    Approx.assertClose(want.importance.get(p)[b], s.importance()[b], 1e-6, 1e-4, what + " importance");
                    assertArrayEquals(want.kept.get(p)[b], s.kept()[b], what + " kept");
                    assertEquals(Math.min(plan.keep()[p], s.present()[b].length), s.kept()[b].length, what + " count exact");
                }
            }
            Approx.assertClose(want.logits, Tensors.toDoubles(got.prefill().lastLogits()), 1e-4, 1e-4, "logits");
            // (d) cache per layer: layers 0-1 saw all 24 tokens, 2-3 the first point's survivors, 4 the last's;
            // the pseudo-CLS is in none of them.
            for (int l = 0; l < 5; l++) {
                assertArrayEquals(want.cached[l], got.positions()[l], "layer " + l + " cached positions");
                assertEquals(want.cached[l].length, got.prefill().cache().key(l).size(2), "layer " + l + " K length");
                assertEquals(want.cached[l].length, got.prefill().cache().value(l).size(2), "layer " + l + " V length");
                assertTrue(Arrays.stream(got.positions()[l]).allMatch(q -> q >= 0), "no pseudo-CLS in layer " + l);
            }
            long visual0 = Math.min(k0, 8) * 2, visual1 = Math.min(k1, 8) * 2;
            assertEquals(LENGTH, got.cacheLength(0));
            assertEquals(LENGTH, got.cacheLength(1));
            assertEquals(LENGTH - 16 + visual0, got.cacheLength(2));
            assertEquals(LENGTH - 16 + visual1, got.cacheLength(4));

            // (b) the pseudo-CLS never changes the output: the oracle without it, dropping the same tokens
            // at the same layers, gives the same logits (float64 vs float64), and so does the model.
            long[][][] given = {want.kept.get(0), want.kept.get(1)};
            Oracle plain = oracle(ck.hf, x, null, plan, given);
            Approx.assertClose(want.logits, plain.logits, 1e-10, 1e-10, "oracle logits with vs without the pseudo-CLS");
            try (LmPruning.Result replay = m.language().prefillPruned(embeds, spans, null, plan, given)) {
                Approx.assertClose(plain.logits, Tensors.toDoubles(replay.prefill().lastLogits()), 1e-4, 1e-4,
                        "model logits without the pseudo-CLS");
                Approx.assertClose(Tensors.toDoubles(got.prefill().lastLogits()),
                        Tensors.toDoubles(replay.prefill().lastLogits()), 1e-5, 1e-5, "model logits with vs without");
                for (int l = 0; l < 5; l++) {
                    Approx.assertClose(Tensors.toDoubles(got.prefill().cache().key(l)),
                            Tensors.toDoubles(replay.prefill().cache().key(l)), 1e-5, 1e-5, "layer " + l + " keys");
                }
            }
        }
    }

    /** Masking verified by perturbing: another pseudo-CLS with the kept sets forced leaves the logits as they are. */
    @Test
    void perturbingThePseudoClsChangesScoresButNotTheTextStates() {
        TestCheckpoint ck = TestCheckpoint.of(QWEN, 61);
        int h = QWEN.language().hidden();
        Tensor embeds = ModelTesting.randn(62, 1, LENGTH, h);
        LmPruning plan = new LmPruning(2, 4, new long[] {5, 3}, true, Rollout.Mode.IVTP);
        LmPruning.Spans spans = new LmPruning.Spans(START, COUNT);
        try (Lvlm m = ModelTesting.load(ck, QWEN);
             LmPruning.Result a = m.language().prefillPruned(embeds, spans, ModelTesting.randn(63, h), plan, null);
             LmPruning.Result b = m.language().prefillPruned(embeds, spans, ModelTesting.randn(64, h).mul(
                     new org.bytedeco.pytorch.Scalar(5.0)), plan, null)) {
            double[] ia = a.steps().get(0).importance()[0], ib = b.steps().get(0).importance()[0];
            assertTrue(!Arrays.equals(ia, ib), "the pseudo-CLS drives the scores");
            long[][][] given = {a.steps().get(0).kept(), a.steps().get(1).kept()};
            try (LmPruning.Result plain = m.language().prefillPruned(embeds, spans, null, plan, given)) {
                Approx.assertClose(Tensors.toDoubles(plain.prefill().lastLogits()),
                        Tensors.toDoubles(a.prefill().lastLogits()), 1e-5, 1e-5, "logits for a's kept sets");
            }
        }
    }

    /** (c) RoPE positions: kept tokens keep their input positions, not 0..n-1 (the oracle with renumbered positions differs). */
    @Test
    void keptTokensKeepTheirOriginalPositions() {
        TestCheckpoint ck = TestCheckpoint.of(QWEN, 71);
        int h = QWEN.language().hidden();
        Tensor embeds = ModelTesting.randn(72, 1, LENGTH, h);
        LmPruning plan = new LmPruning(2, 4, new long[] {4, 2}, true, Rollout.Mode.IVTP);
        double[] x = Tensors.toDoubles(embeds);
        long[][][] given = {{{3, 5, 8, 10}, {11, 12, 17, 18}}, {{5, 10}, {11, 18}}};
        Oracle original = oracle(ck.hf, x, null, plan, given);
        Oracle renumbered = oracleRenumbered(ck.hf, x, plan, given);
        try (Lvlm m = ModelTesting.load(ck, QWEN);
             LmPruning.Result got = m.language().prefillPruned(embeds, new LmPruning.Spans(START, COUNT), null, plan,
                     given)) {
            double[] logits = Tensors.toDoubles(got.prefill().lastLogits());
            Approx.assertClose(original.logits, logits, 1e-4, 1e-4, "logits at the original positions");
            double diff = 0;
            for (int i = 0; i < logits.length; i++) diff = Math.max(diff, Math.abs(renumbered.logits[i] - logits[i]));
            assertTrue(diff > 1e-2, "renumbered positions would change the logits (max diff " + diff + ")");
            assertArrayEquals(new long[] {0, 1, 2, 5, 10, 11, 18, 19, 20, 21, 22, 23}, got.positions()[4]);
        }
    }

    /**
     * Given RoPE positions with gaps (the ViT stage's survivors at their unpruned positions): the
     * scores, kept sets and logits are the oracle's at those positions, not at 0..L-1, and the
     * cache continues after the last one.
     */
    @Test
    void givenPositionsSetRopeAndTheNextPosition() {
        TestCheckpoint ck = TestCheckpoint.of(QWEN, 91);
        int h = QWEN.language().hidden();
        Tensor embeds = ModelTesting.randn(92, 1, LENGTH, h);
        Tensor pc = ModelTesting.randn(93, h);
        LmPruning plan = new LmPruning(2, 4, new long[] {5, 3}, true, Rollout.Mode.IVTP);
        long[] ropeOf = new long[LENGTH];
        for (int i = 0; i < LENGTH; i++) ropeOf[i] = i + 7 * Math.min(i, 12) / 3 + (i >= PC_POS ? 40 : 0);  // uneven gaps
        double[] x = Tensors.toDoubles(embeds), pcd = Tensors.toDoubles(pc);
        Oracle want = run(ck.hf, x, pcd, plan, null, false, ropeOf);
        Oracle plain = oracle(ck.hf, x, pcd, plan, null);
        try (Lvlm m = ModelTesting.load(ck, QWEN);
             LmPruning.Result got = m.language().prefillPruned(embeds, new LmPruning.Spans(START, COUNT), pc, plan, null, ropeOf)) {
            for (int p = 0; p < 2; p++) {
                for (int b = 0; b < 2; b++) {
                    Approx.assertClose(want.importance.get(p)[b], got.steps().get(p).importance()[b], 1e-6, 1e-4, "importance " + p + "," + b);
                    assertArrayEquals(want.kept.get(p)[b], got.steps().get(p).kept()[b], "kept " + p + "," + b);
                }
            }
            double[] logits = Tensors.toDoubles(got.prefill().lastLogits());
            Approx.assertClose(want.logits, logits, 1e-4, 1e-4, "logits at the given positions");
            double diff = 0;
            for (int i = 0; i < logits.length; i++) diff = Math.max(diff, Math.abs(plain.logits[i] - logits[i]));
            assertTrue(diff > 1e-2, "positions 0..L-1 would give other logits (max diff " + diff + ")");
            assertArrayEquals(new long[] {ropeOf[LENGTH - 1] + 1}, got.prefill().cache().nextPositions());
            assertMessage(() -> m.language().prefillPruned(embeds, new LmPruning.Spans(START, COUNT), pc, plan, null,
                    new long[] {1, 2}), "positions", "(" + LENGTH + ")", "2");
            long[] backwards = ropeOf.clone();
            backwards[5] = backwards[4];
            assertMessage(() -> m.language().prefillPruned(embeds, new LmPruning.Spans(START, COUNT), pc, plan, null,
                    backwards), "positions", "strictly increasing", "positions[5]");
        }
    }

    @Test
    void badPlansAreRefusedClearly() {
        assertMessage(() -> new LmPruning(0, 4, new long[] {1}, true, Rollout.Mode.IVTP), "groupSize");
        assertMessage(() -> new LmPruning(2, 4, new long[] {5}, true, Rollout.Mode.IVTP), "'keep'", "(2 for W = 4");
        assertMessage(() -> new LmPruning(2, 4, new long[] {3, 5}, true, Rollout.Mode.IVTP), "keep[1]");
        assertMessage(() -> new LmPruning.Spans(new long[] {4, 2}, new long[] {3, 3}), "start[1]");
        TestCheckpoint ck = TestCheckpoint.of(QWEN, 81);
        try (Lvlm m = ModelTesting.load(ck, QWEN)) {
            Tensor embeds = ModelTesting.randn(82, 1, LENGTH, 48);
            LmPruning.Spans spans = new LmPruning.Spans(START, COUNT);
            assertMessage(() -> m.language().prefillPruned(embeds, spans, ModelTesting.randn(1, 48),
                    new LmPruning(2, 6, new long[] {4, 3, 2}, true, Rollout.Mode.IVTP), null), "plan.layers (W)", "5");
            assertMessage(() -> m.language().prefillPruned(embeds, spans, null,
                    new LmPruning(2, 4, new long[] {4, 2}, true, Rollout.Mode.IVTP), null), "pseudoCls");
            assertMessage(() -> m.language().prefillPruned(embeds, spans, null,
                    new LmPruning(2, 4, new long[] {4, 2}, true, Rollout.Mode.IVTP),
                    new long[][][] {{{3, 99}, {11}}, {{3}, {11}}}), "given[0][0]");
        }
    }

    // ------------------------------------------------------------------ the float64 oracle

    static Oracle oracle(Map<String, Tensor> ck, double[] embeds, double[] pc, LmPruning plan, long[][][] given) {
        return run(ck, embeds, pc, plan, given, false, null);
    }

    /** The forward with the same drops but positions renumbered 0..n-1 after each drop (what IVTP does not do). */
    static Oracle oracleRenumbered(Map<String, Tensor> ck, double[] embeds, LmPruning plan, long[][][] given) {
        return run(ck, embeds, null, plan, given, true, null);
    }

    /**
     * @param ropeOf null: input token i at RoPE position i; else at ropeOf[i] (the pseudo-CLS at
     *               ropeOf[PC_POS])
     */
    private static Oracle run(Map<String, Tensor> ck, double[] embeds, double[] pc, LmPruning plan, long[][][] given,
                              boolean renumber, long[] ropeOf) {
        ModelConfig.Language lc = QWEN.language();
        int h = lc.hidden(), hkv = lc.kvHeads(), d = lc.headDim();
        List<Long> rows = new ArrayList<>();
        List<double[]> x = new ArrayList<>();
        for (int i = 0; i < LENGTH; i++) {
            if (pc != null && i == PC_POS) {
                rows.add(-1L);
                x.add(pc.clone());
            }
            rows.add((long) i);
            x.add(Arrays.copyOfRange(embeds, i * h, (i + 1) * h));
        }
        List<long[][]> present = new ArrayList<>(), kept = new ArrayList<>();
        List<double[][]> importance = new ArrayList<>();
        long[][] cached = new long[lc.layers()][];
        List<double[]> group = new ArrayList<>();  // head-mean attention [n, n] of the group's layers
        int point = 0;
        for (int l = 0; l < lc.layers(); l++) {
            int n = rows.size();
            long[] pos = new long[n];
            boolean[] visible = new boolean[n * n];
            for (int i = 0; i < n; i++) {
                long input = rows.get(i) < 0 ? PC_POS : rows.get(i);
                pos[i] = renumber ? i : ropeOf == null ? input : ropeOf[(int) input];
                for (int j = 0; j <= i; j++) visible[i * n + j] = !(rows.get(j) < 0 && i > j);
            }
            Oracle64.LayerResult y = Oracle64.decoderLayer(QWEN, ck, LM + "layers." + l + ".", flat(x), n, pos, visible);
            x = ModelTesting.rows(y.out(), n, h).stream().map(double[]::clone).collect(java.util.stream.Collectors.toList());
            cached[l] = rows.stream().mapToLong(Long::longValue).filter(p -> p >= 0).toArray();
            if (l >= plan.layers()) continue;
            double[] mean = new double[n * n];
            for (int hh = 0; hh < lc.heads(); hh++) for (int e = 0; e < n * n; e++) mean[e] += y.probs()[hh * n * n + e] / lc.heads();
            group.add(mean);
            if (!plan.isTop(l)) continue;
            long[][] here = new long[2][], keep = new long[2][];
            double[][] scores = new double[2][];
            for (int b = 0; b < 2; b++) {
                final int bb = b;
                here[b] = rows.stream().mapToLong(Long::longValue)
                        .filter(p -> p >= START[bb] && p < START[bb] + COUNT[bb]).toArray();
            }
            if (given == null) {
                int pcRow = rows.indexOf(-1L);
                double[] r = rolloutRow(group, n, pcRow, plan.mode());
                for (int b = 0; b < 2; b++) {
                    double[] s = new double[here[b].length];
                    double sum = 0;
                    for (int j = 0; j < s.length; j++) {
                        int row = rows.indexOf(here[b][j]);
                        double norm = 0;
                        for (int e = 0; e < hkv * d; e++) norm += y.v()[row * hkv * d + e] * y.v()[row * hkv * d + e];
                        sum += s[j] = r[row] * (plan.valueWeighting() ? Math.sqrt(norm) : 1);
                    }
                    for (int j = 0; j < s.length; j++) s[j] /= sum;
                    scores[b] = s;
                    keep[b] = top(here[b], s, (int) Math.min(plan.keep()[point], s.length));
                }
            } else {
                keep = given[point];
                scores = null;
            }
            present.add(here);
            importance.add(scores);
            kept.add(keep);
            java.util.Set<Long> stay = new java.util.HashSet<>();
            for (long[] k : keep) for (long p : k) stay.add(p);
            boolean last = point == plan.points() - 1;
            List<Long> nextRows = new ArrayList<>();
            List<double[]> nextX = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                long p = rows.get(i);
                boolean visual = p >= START[0] && p < START[0] + COUNT[0] || p >= START[1] && p < START[1] + COUNT[1];
                if (p < 0 ? !last : !visual || stay.contains(p)) {
                    nextRows.add(p);
                    nextX.add(x.get(i));
                }
            }
            rows = nextRows;
            x = nextX;
            group.clear();
            point++;
        }
        double[] last = Oracle64.rmsNorm(x.get(x.size() - 1), 1, h, Oracle64.d(ck.get(LM + "norm.weight")), lc.rmsEps());
        double[] logits = Oracle64.linear(last, 1, h, Oracle64.d(ck.get("language_model.lm_head.weight")), null,
                lc.vocab());
        return new Oracle(present, importance, kept, logits, cached);
    }

    private static double[] flat(List<double[]> rows) {
        int w = rows.get(0).length;
        double[] out = new double[rows.size() * w];
        for (int i = 0; i < rows.size(); i++) System.arraycopy(rows.get(i), 0, out, i * w, w);
        return out;
    }

    /** Row `row` of R = B_L ... B_2 A_1 (IVTP; ABNAR: ... B_1), as full n x n products. */
    private static double[] rolloutRow(List<double[]> layers, int n, int row, Rollout.Mode mode) {
        double[] r = mode == Rollout.Mode.ABNAR ? residual(layers.get(0), n) : layers.get(0).clone();
        for (int l = 1; l < layers.size(); l++) r = matmul(residual(layers.get(l), n), r, n);
        return Arrays.copyOfRange(r, row * n, (row + 1) * n);
    }

    private static double[] residual(double[] a, int n) {
        double[] b = a.clone();
        for (int i = 0; i < n; i++) {
            b[i * n + i] += 1;
            double s = 0;
            for (int j = 0; j < n; j++) s += b[i * n + j];
            for (int j = 0; j < n; j++) b[i * n + j] /= s;
        }
        return b;
    }

    private static double[] matmul(double[] a, double[] b, int n) {
        double[] c = new double[n * n];
        for (int i = 0; i < n; i++) for (int k = 0; k < n; k++) for (int j = 0; j < n; j++) c[i * n + j] += a[i * n + k] * b[k * n + j];
        return c;
    }

    /** The k highest scores (ties to the lower position), ascending; asserts a decision margin far above float32 error. */
    private static long[] top(long[] ids, double[] s, int k) {
        Integer[] order = new Integer[ids.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -s[i]).thenComparingLong(i -> ids[i]));
        if (k < ids.length) {
            double gap = s[order[k - 1]] - s[order[k]];
            assertTrue(gap > 1e-5, "the seed leaves no decision margin (" + gap + "): pick another");
        }
        long[] out = new long[k];
        for (int i = 0; i < k; i++) out[i] = ids[order[i]];
        Arrays.sort(out);
        return out;
    }
}
