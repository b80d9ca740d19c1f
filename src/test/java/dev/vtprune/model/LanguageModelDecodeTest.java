package dev.vtprune.model;

import static dev.vtprune.model.ModelTesting.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.internal.Tensors;
import dev.vtprune.ops.Rollout;
import dev.vtprune.testing.Approx;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * Greedy decoding over the KV cache against a full re-forward of the growing sequence without
 * a cache, token by token: unpruned; pruned with the kept tokens re-numbered 0..L'-1 (PTP's
 * paper form and the baselines prefill the shorter sequence); pruned with the kept tokens at
 * their original positions (FastV, PTP's reused probe), where the first decoded token must take
 * the unpruned length as its position; and a right-padded batch of two against each alone.
 * Random weights of the tiny preset (3 layers, GQA 4:2), float32.
 */
class LanguageModelDecodeTest {
    private static final int STEPS = 5;
    /** float32 through 3 layers of width 48, cached vs recomputed keys: differences ~1e-6. */
    private static final double ATOL = 2e-5;

    private static Lvlm model() {
        return RandomWeights.create(ModelConfig.preset("tiny"), 21, ScalarType.Float);
    }

    /** The last-row logits of a cache-free forward of `embeds` [1, n, h] at `positions` (null: 0..n-1). */
    private static float[] reference(LanguageModel lm, Tensor embeds, long[] positions) {
        try (Prefill p = lm.prefillFrom(0, embeds, new long[] {embeds.size(1)},
                positions == null ? null : Tensor.create(positions, 1, positions.length), null)) {
            return Tensors.toFloats(p.lastLogits().select(0, 0).contiguous());
        }
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    private static Tensor append(LanguageModel lm, Tensor embeds, long token) {
        Tensor e = lm.embed(Tensor.create(new long[] {token}, 1, 1));
        return torch.cat(new TensorVector(embeds, e), 1);
    }

    /**
     * Greedy from `prefill`, each step checked against the reference forward of the prefilled
     * embeddings plus the tokens so far at `positions` extended by firstPosition, +1, ...
     */
    private static long[] decodeAndCheck(LanguageModel lm, Prefill prefill, Tensor embeds, long[] positions,
                                         long firstPosition, String what) {
        assertEquals(firstPosition, prefill.cache().nextPositions()[0], what + ": next position");
        float[] logits = Tensors.toFloats(prefill.lastLogits().select(0, 0).contiguous());
        Approx.assertClose(toD(reference(lm, embeds, positions)), toD(logits), ATOL, 0, what + ": prefill logits");
        long[] tokens = new long[STEPS + 1];
        tokens[0] = argmax(logits);
        Tensor grown = embeds;
        List<Long> pos = new ArrayList<>();
        if (positions != null) for (long p : positions) pos.add(p);
        try (LanguageModel.Decoder d = lm.decoder(prefill.cache(), STEPS)) {
            for (int s = 0; s < STEPS; s++) {
                assertEquals(firstPosition + s, d.nextPositions()[0], what + ": position of step " + s);
                float[] got = d.step(tokens[s])[0];
                grown = append(lm, grown, tokens[s]);
                pos.add(firstPosition + s);
                long[] p = positions == null ? null : pos.stream().mapToLong(Long::longValue).toArray();
                float[] want = reference(lm, grown, p);
                Approx.assertClose(toD(want), toD(got), ATOL, 0, what + ": logits of step " + s);
                tokens[s + 1] = argmax(got);
                // The cached argmax is the reference's argmax up to float ties.
                assertTrue(want[(int) tokens[s + 1]] >= want[argmax(want)] - 2 * ATOL, what + ": argmax of step " + s);
            }
            assertEquals(STEPS, d.steps());
            assertThrows(IllegalStateException.class, () -> d.step(0), "a full decoder refuses another token");
        }
        return tokens;
    }

    private static double[] toD(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    @Test
    void unprunedGreedyEqualsFullReforward() {
        try (PointerScope scope = new PointerScope(); Lvlm m = model()) {
            LanguageModel lm = m.language();
            Tensor embeds = ModelTesting.randn(5, 1, 11, lm.config().hidden());
            try (Prefill p = lm.prefill(embeds, new long[] {11})) {
                long[] tokens = decodeAndCheck(lm, p, embeds, null, 11, "unpruned");
                assertTrue(Arrays.stream(tokens).distinct().count() > 1, "greedy tokens should vary: " + Arrays.toString(tokens));
            }
        }
    }

    /**
     * Tokens 2, 3, 5, 6, 8 of 12 dropped (as visual tokens are); the rest prefilled as the
     * shorter sequence, once re-numbered from 0 (PTP's paper form, the baselines: decoding
     * continues at 7) and once at their original positions (decoding continues at 12, the
     * unpruned length). The positions matter: the two give other logits.
     */
    @Test
    void prunedDecodeEqualsFullReforwardOfTheKeptSequenceAtItsPositions() {
        long[] kept = {0, 1, 4, 7, 9, 10, 11};
        try (PointerScope scope = new PointerScope(); Lvlm m = model()) {
            LanguageModel lm = m.language();
            Tensor shorter = ModelTesting.randn(6, 1, 12, lm.config().hidden()).index_select(1, Tensors.longs(Tensors.cpu(), kept));
            try (Prefill compacted = lm.prefill(shorter, new long[] {kept.length});
                 Prefill original = lm.prefillFrom(0, shorter, new long[] {kept.length}, Tensor.create(kept, 1, kept.length), null)) {
                decodeAndCheck(lm, compacted, shorter, null, kept.length, "pruned, compacted");
                decodeAndCheck(lm, original, shorter, kept, 12, "pruned, original positions");
                assertTrue(!Arrays.equals(Tensors.toFloats(compacted.lastLogits()), Tensors.toFloats(original.lastLogits())),
                        "original and compacted positions should give other logits");
            }
        }
    }

    /**
     * FastV's and the reused probe's form: a cache gathered to the kept positions keeps the
     * source's next position (the unpruned length), and a prefill continued from it at those
     * positions reports it too.
     */
    @Test
    void gatheredCacheKeepsTheNextPosition() {
        long[] kept = {0, 2, 3, 5, 8, 9};
        try (PointerScope scope = new PointerScope(); Lvlm m = model()) {
            LanguageModel lm = m.language();
            Tensor all = ModelTesting.randn(7, 1, 10, lm.config().hidden());
            try (Probe probe = lm.probe(all, new long[] {10}, 0)) {
                Tensor index = Tensor.create(kept, 1, kept.length);
                KvCache gathered = probe.cache().gather(index, new long[] {kept.length});
                assertArrayEquals(new long[] {10}, gathered.nextPositions());
                Tensor hidden = probe.hidden().index_select(1, Tensors.longs(Tensors.cpu(), kept));
                try (Prefill p = lm.prefillFrom(1, hidden, new long[] {kept.length}, index, gathered)) {
                    assertArrayEquals(new long[] {10}, p.cache().nextPositions());
                    try (LanguageModel.Decoder d = lm.decoder(p.cache(), 2)) {
                        assertArrayEquals(new long[] {10}, d.nextPositions());
                        assertFinite(d.step(3)[0], "a decode step after the reused probe");
                    }
                }
                gathered.close();
            }
        }
    }

    /** Two sequences of lengths 9 and 6, right-padded to 9: each decodes as it does alone. */
    @Test
    void paddedBatchDecodesLikeEachSequenceAlone() {
        try (PointerScope scope = new PointerScope(); Lvlm m = model()) {
            LanguageModel lm = m.language();
            int h = lm.config().hidden();
            Tensor a = ModelTesting.randn(8, 1, 9, h), b = ModelTesting.randn(9, 1, 6, h);
            Tensor bPadded = torch.cat(new TensorVector(b, torch.zeros(new long[] {1, 3, h})), 1);
            float[][][] aloneLogits = new float[2][STEPS][];
            Tensor[] single = {a, b};
            long[] tokens = {17, 250};
            for (int s = 0; s < 2; s++) {
                try (Prefill p = lm.prefill(single[s], new long[] {single[s].size(1)});
                     LanguageModel.Decoder d = lm.decoder(p.cache(), STEPS)) {
                    for (int k = 0; k < STEPS; k++) aloneLogits[s][k] = d.step(tokens[s] + k)[0];
                }
            }
            try (Prefill p = lm.prefill(torch.cat(new TensorVector(a, bPadded), 0), new long[] {9, 6});
                 LanguageModel.Decoder d = lm.decoder(p.cache(), STEPS)) {
                assertArrayEquals(new long[] {9, 6}, d.nextPositions());
                for (int k = 0; k < STEPS; k++) {
                    float[][] got = d.step(tokens[0] + k, tokens[1] + k);
                    for (int s = 0; s < 2; s++) {
                        Approx.assertClose(toD(aloneLogits[s][k]), toD(got[s]), ATOL, 0, "sequence " + s + " step " + k);
                    }
                }
            }
        }
    }

    /**
     * IVTP's LM stage (here its plain form with given kept sets, W = 1): layer 0 caches all 12
     * tokens, layers 1 and 2 the 8 kept ones at their original positions; the decoder attends to
     * each layer's own entries from position 12 on. The reference without a decode cache is the
     * same computation spelled another way: layer 0 over the whole sequence plus the fed tokens
     * (a probe), then layers 1..2 over the kept rows and the fed ones, at their positions.
     */
    @Test
    void ivtpLmStageCacheDecodesWithPerLayerLengths() {
        long[] kept = {0, 1, 3, 6, 8, 9, 10, 11};
        try (PointerScope scope = new PointerScope(); Lvlm m = model()) {
            LanguageModel lm = m.language();
            Tensor embeds = ModelTesting.randn(10, 1, 12, lm.config().hidden());
            LmPruning plan = new LmPruning(1, 1, new long[] {2}, false, Rollout.Mode.IVTP);
            LmPruning.Spans spans = new LmPruning.Spans(new long[] {2}, new long[] {6});
            long[][][] given = {{{3, 6}}};
            try (LmPruning.Result r = lm.prefillPruned(embeds, spans, null, plan, given);
                 LanguageModel.Decoder d = lm.decoder(r.prefill().cache(), 2)) {
                KvCache c = r.prefill().cache();
                assertEquals(12, c.layerLengths(0)[0], "layer 0 (the pruning point) caches every token");
                assertEquals(8, c.layerLengths(1)[0], "layer 1 caches the kept ones");
                assertArrayEquals(new long[] {12}, d.nextPositions());
                Tensor grown = embeds;
                long[] tokens = {5, 77};
                for (int s = 0; s < tokens.length; s++) {
                    float[] got = d.step(tokens[s])[0];
                    grown = append(lm, grown, tokens[s]);
                    long[] rows = Arrays.copyOf(kept, kept.length + s + 1);
                    for (int j = 0; j <= s; j++) rows[kept.length + j] = 12 + j;
                    float[] want;
                    try (Probe probe = lm.probe(grown, new long[] {grown.size(1)}, 0)) {
                        Tensor index = Tensor.create(rows, 1, rows.length);
                        Tensor hidden = probe.hidden().index_select(1, Tensors.longs(Tensors.cpu(), rows));
                        try (KvCache prefix = probe.cache().gather(index, new long[] {rows.length});
                             Prefill ref = lm.prefillFrom(1, hidden, new long[] {rows.length}, index, prefix)) {
                            want = Tensors.toFloats(ref.lastLogits().select(0, 0).contiguous());
                        }
                    }
                    Approx.assertClose(toD(want), toD(got), ATOL, 0, "IVTP cache, step " + s);
                }
            }
        }
    }

    private static void assertFinite(float[] v, String what) {
        for (float x : v) assertTrue(Float.isFinite(x), what + " gave a non-finite logit");
    }

    @Test
    void badArgumentsAreNamed() {
        try (PointerScope scope = new PointerScope(); Lvlm m = model()) {
            LanguageModel lm = m.language();
            Tensor embeds = ModelTesting.randn(11, 1, 4, lm.config().hidden());
            try (Prefill p = lm.prefill(embeds, new long[] {4})) {
                assertMessage(() -> lm.decoder(p.cache(), 0), "argument 'capacity' must be >= 1, got 0");
                assertMessage(() -> lm.decoder(p.cache(), 2045), "argument 'capacity' must be <= 2044", "got 2045");
                try (LanguageModel.Decoder d = lm.decoder(p.cache(), 2)) {
                    assertMessage(() -> d.step(300), "argument 'tokens' must hold token ids in [0, 300), got 300");
                    assertMessage(() -> d.step(1, 2), "argument 'tokens' must hold one token per sequence (1), got 2");
                }
            }
        }
    }
}
