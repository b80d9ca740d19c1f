package dev.vtprune.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.ops.Backend;
import dev.vtprune.ops.Reduce;
import dev.vtprune.ops.TextLayout;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import dev.vtprune.testing.Data;
import dev.vtprune.testing.Oracle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class PyramidTokenPrunerTest {

    /** A synthetic PTP input: per-image tiles of g x g patches merged by m, attention rows, LM probabilities. */
    record Batch(int[] localTiles, int grid, int merge, int vitHeads, int lmHeads, int queries, TileLayout layout,
                 Tensor cls, Tensor vitAttn, List<Tensor> lmAttn) {}

    static Batch batch(int[] localTiles, int grid, int merge, long seed) {
        int tokens = (grid / merge) * (grid / merge);
        TileLayout layout = TileLayout.of(localTiles, tokens);
        int vitHeads = 3, lmHeads = 4, queries = 5;
        Tensor cls = Data.randn(seed, "float32", layout.numTiles(), 24);
        Tensor vit = Data.softmaxRows(seed + 1, "float32", 2.0, layout.numTiles(), vitHeads, grid * grid);
        List<Tensor> lm = new ArrayList<>();
        for (int b = 0; b < localTiles.length; b++) {
            long n = (long) (localTiles[b] + 1) * tokens;
            lm.add(Data.rand(seed + 10 + b, "float32", lmHeads, queries, n).div(new Scalar(n)));
        }
        return new Batch(localTiles, grid, merge, vitHeads, lmHeads, queries, layout, cls, vit, lm);
    }

    /** PTP composed from the float64 oracles of K1, K5, K4 and K2. */
    static Oracle.TopK oracle(Batch in, PyramidTokenPruner.Config c) {
        TileLayout l = in.layout;
        Oracle.Budgets budgets = Oracle.regionBudget(Tensors.toDoubles(in.cls), (int) in.cls.size(1), l.tileOffsets(),
                l.tokenOffsets(), 1 - c.ratio(), c.regionTemperature(), c.minPerTile());
        double[] b = Oracle.clsSaliency(Tensors.toDoubles(in.vitAttn), l.numTiles(), in.vitHeads, in.grid * in.grid, 0,
                in.grid, in.merge, c.headReduce() == Reduce.MAX);
        double[] ins = new double[(int) l.numTokens()];
        int at = 0;
        for (Tensor attn : in.lmAttn) {
            double[] part = Oracle.textRelevance(Tensors.toDoubles(attn), in.lmHeads, in.queries, (int) attn.size(2),
                    c.headReduce() == Reduce.MAX, c.textReduce() == Reduce.MAX);
            System.arraycopy(part, 0, ins, at, part.length);
            at += part.length;
        }
        return Oracle.fusedTopK(b, ins, l.tokenOffsets(), budgets.budgets(), c.alpha(), true);
    }

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of(new int[] {0}, 0.5, 0.5, 0L, 201L),          // no partition
                Arguments.of(new int[] {1}, 0.5, 0.5, 0L, 202L),          // one local tile
                Arguments.of(new int[] {12}, 0.5, 0.5, 0L, 203L),         // InternVL2: 12 + thumbnail
                Arguments.of(new int[] {12}, 0.0, 0.5, 0L, 204L),         // ratio 0 keeps everything
                Arguments.of(new int[] {12}, 0.99, 0.5, 0L, 205L),        // ratio 0.99
                Arguments.of(new int[] {6}, 0.75, 0.0, 0L, 206L),         // bottom-up only
                Arguments.of(new int[] {6}, 0.75, 1.0, 0L, 207L),         // instruction only
                Arguments.of(new int[] {12}, 0.9, 0.5, 6L, 208L),         // min tokens per tile
                Arguments.of(new int[] {0, 3, 12, 1}, 0.5, 0.5, 0L, 209L)); // batch of mixed tile counts
    }

    @ParameterizedTest(name = "local tiles {0}, r={1}, alpha={2}, min={3}, seed {4}")
    @MethodSource("cases")
    void selectionMatchesTheFloat64Oracle(int[] localTiles, double ratio, double alpha, long minPerTile, long seed) {
        Batch in = batch(localTiles, 8, 2, seed);
        PyramidTokenPruner.Config c = new PyramidTokenPruner.Config(ratio, alpha, 11, 1, Reduce.MEAN, Reduce.MAX, 1.0,
                minPerTile, Backend.NATIVE);
        Oracle.TopK want = oracle(in, c);
        PruneInputs inputs = PruneInputs.builder(in.layout).tileCls(in.cls).vitAttention(in.vitAttn, false)
                .patchMerge(in.merge).lmAttention(in.lmAttn).build();
        for (Backend backend : Backend.values()) {
            try (Selection s = new PyramidTokenPruner(c.withBackend(backend)).select(inputs)) {
                assertArrayEquals(want.keptPerTile(), Tensors.toLongs(s.keptPerTile()), backend + " kept per tile");
                assertTopK(want, s.keptIndices(), in.layout, backend.toString());
                long[] budgets = Tensors.toLongs(s.budgets());
                for (int b = 0; b < in.layout.numImages(); b++) {
                    long local = 0, tokens = 0;
                    for (int t = in.layout.firstTile(b); t < in.layout.thumbnail(b); t++) {
                        local += budgets[t];
                        tokens += in.layout.tokens(t);
                    }
                    if (in.layout.localTiles(b) > 0) {
                        assertEquals((long) Math.floor((1 - ratio) * tokens + 0.5), local, "budgets of image " + b + " sum to K_L");
                    }
                }
            }
        }
    }

    /** Same checks as the K2 tests: counts, ascending, and a top-k of the oracle's fused scores. */
    static void assertTopK(Oracle.TopK want, long[] kept, TileLayout layout, String what) {
        assertEquals(want.kept().length, kept.length, what + " number kept");
        for (int i = 1; i < kept.length; i++) assertTrue(kept[i - 1] < kept[i], what + " ascending");
        int pos = 0;
        for (int t = 0; t < layout.numTiles(); t++) {
            long lo = layout.tokenOffset(t), hi = lo + layout.tokens(t);
            double minKept = Double.POSITIVE_INFINITY, maxDropped = Double.NEGATIVE_INFINITY;
            boolean[] in = new boolean[(int) layout.tokens(t)];
            for (long i = 0; i < want.keptPerTile()[t]; i++, pos++) {
                assertTrue(kept[pos] >= lo && kept[pos] < hi, what + " index in tile");
                in[(int) (kept[pos] - lo)] = true;
                minKept = Math.min(minKept, want.fused()[(int) kept[pos]]);
            }
            for (int i = 0; i < in.length; i++) if (!in[i]) maxDropped = Math.max(maxDropped, want.fused()[(int) lo + i]);
            assertTrue(minKept >= maxDropped - 1e-5, what + " tile " + t + ": dropped " + maxDropped + " > kept " + minKept);
        }
    }

    @Test
    void qkPathEqualsTheMaterialisedAttentionPath() {
        // Two images; the LM sequence of each: 3 system tokens, its visual tokens, 4 instruction
        // tokens; GQA with 4 query heads over 2 kv heads, causal.
        int[] local = {2, 0};
        Batch in = batch(local, 8, 2, 221);
        int hq = 4, hkv = 2, d = 8, queries = 4;
        TextLayout.Builder text = TextLayout.builder();
        List<Tensor> probs = new ArrayList<>();
        List<Tensor> qs = new ArrayList<>(), ks = new ArrayList<>();
        for (int b = 0; b < local.length; b++) {
            long n = (long) (local[b] + 1) * 16, keys = 3 + n + queries;
            long[] visual = new long[(int) n], qpos = new long[queries];
            for (int i = 0; i < n; i++) visual[i] = 3 + i;
            for (int i = 0; i < queries; i++) qpos[i] = 3 + n + i;
            text.add(keys, qpos, visual);
            Tensor q = Data.randn(230 + b, "float32", hq, queries, d), k = Data.randn(240 + b, "float32", hkv, keys, d);
            qs.add(q);
            ks.add(k);
            Tensor kx = k.repeat_interleave(hq / hkv, new org.bytedeco.pytorch.LongOptional(0), new org.bytedeco.pytorch.LongOptional());
            Tensor causal = torch.arange(new Scalar(keys)).unsqueeze(0).gt(Tensor.create(qpos).unsqueeze(1));
            probs.add(q.matmul(kx.transpose(1, 2)).div(new Scalar(Math.sqrt(d)))
                    .masked_fill(causal, new Scalar(Double.NEGATIVE_INFINITY)).softmax(2)
                    .index_select(2, Tensor.create(visual)).contiguous());
        }
        Tensor q = torch.cat(new org.bytedeco.pytorch.TensorVector(qs.get(0), qs.get(1)), 1);
        Tensor k = torch.cat(new org.bytedeco.pytorch.TensorVector(ks.get(0), ks.get(1)), 1);
        try (TextLayout positions = text.build()) {
            PyramidTokenPruner ptp = new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER);
            PruneInputs.Builder base = PruneInputs.builder(in.layout).tileCls(in.cls).vitAttention(in.vitAttn, false).patchMerge(2);
            try (Selection viaProbs = ptp.select(base.lmAttention(probs).build());
                 Selection viaQk = ptp.select(PruneInputs.builder(in.layout).tileCls(in.cls).vitAttention(in.vitAttn, false)
                         .patchMerge(2).lmQk(q, k, positions, Double.NaN).build())) {
                assertArrayEquals(viaProbs.keptIndices(), viaQk.keptIndices());
                dev.vtprune.testing.Approx.assertClose(Tensors.toDoubles(viaProbs.tokenScores()),
                        Tensors.toDoubles(viaQk.tokenScores()), 1e-6, 1e-4, "fused scores");
            }
        }
    }

    @Test
    void gatherKeepsTheSelectedRowsInOrder() {
        Batch in = batch(new int[] {3}, 8, 2, 251);
        Tensor visual = torch.arange(new Scalar(in.layout.numTokens() * 5)).reshape(in.layout.numTokens(), 5).to(
                org.bytedeco.pytorch.global.torch.ScalarType.Float);
        try (Selection s = new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER).select(PruneInputs.builder(in.layout)
                .tileCls(in.cls).vitAttention(in.vitAttn, false).patchMerge(2).lmAttention(in.lmAttn).build())) {
            Tensor g = s.gather(visual);
            assertArrayEquals(new long[] {s.numKept(), 5}, g.shape());
            float[] rows = Tensors.toFloats(g);
            long[] kept = s.keptIndices();
            for (int r = 0; r < kept.length; r++) assertEquals(kept[r] * 5.0f, rows[r * 5], "row " + r);
            assertEquals(s.numKept(), Arrays.stream(s.keptPerImage()).sum());
            assertThrows(IllegalArgumentException.class, () -> s.gather(torch.randn(3, 5)));
        }
    }

    @Test
    void missingInputsAndBadConfigGiveClearErrors() {
        Batch in = batch(new int[] {2}, 8, 2, 261);
        PyramidTokenPruner ptp = new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ptp.select(PruneInputs.builder(in.layout).tileCls(in.cls).vitAttention(in.vitAttn, false).patchMerge(2).build()));
        assertTrue(e.getMessage().contains("needs the instruction attention"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ptp.select(PruneInputs.builder(in.layout).vitAttention(in.vitAttn, false).lmAttention(in.lmAttn).build()));
        assertTrue(e.getMessage().contains("input 'tileCls' is required"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ptp.select(PruneInputs.builder(in.layout).tileCls(in.cls)
                .vitAttention(in.vitAttn, false).patchMerge(1).lmAttention(in.lmAttn).build()));
        assertTrue(e.getMessage().contains("check the patch-merge factor"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PyramidTokenPruner.Config.PAPER.withRatio(1.0));
        assertTrue(e.getMessage().contains("'ratio' must be in [0.0, 1.0)"), e.getMessage());
    }
}
