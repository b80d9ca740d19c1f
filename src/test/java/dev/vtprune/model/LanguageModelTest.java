package dev.vtprune.model;

import static dev.vtprune.model.ModelTesting.assertFinite;
import static dev.vtprune.model.ModelTesting.assertMessage;
import static dev.vtprune.model.ModelTesting.assertShape;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.ops.Backend;
import dev.vtprune.ops.Reduce;
import dev.vtprune.internal.Tensors;
import dev.vtprune.ops.TextLayout;
import dev.vtprune.ops.TextRelevance;
import dev.vtprune.testing.Approx;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LanguageModelTest {
    private static final Device CPU = new Device(torch.DeviceType.CPU);

    private static double[] d(Tensor t) {
        return Tensors.toDoubles(t);
    }

    /**
     * RoPE tables and rotation against the float64 formula. Angles are formed in float32 as in
     * HF, so at position p the angle carries an error of about p * 6e-8 rad: positions up to
     * 300 bound the difference by ~2e-5 (for |x| ~ 1), hence atol 5e-5.
     */
    @Test
    void ropeMatchesTheFloat64Formula() {
        int heads = 3, dim = 16, n = 6;
        long[] pos = {0, 1, 2, 17, 100, 300};
        double theta = 10000;
        Tensor x = ModelTesting.randn(41, 1, heads, n, dim);
        Tensor[] cs = Rope.tables(Tensors.longs(CPU, pos).unsqueeze(0), dim, theta, ScalarType.Float);
        assertShape(cs[0], 1, 1, n, dim);
        Tensor got = Rope.apply(x, cs[0], cs[1]).transpose(1, 2).contiguous();   // [1, n, heads, d]
        double[] want = Oracle64.rope(d(x.transpose(1, 2).contiguous()), n, heads, dim, pos, theta);
        Approx.assertClose(want, d(got), 5e-5, 0, "rope");
        // Position 0 is the identity, whatever the input.
        Approx.assertClose(d(x.narrow(2, 0, 1)), d(got.narrow(1, 0, 1).transpose(1, 2)), 0, 0, "rope at position 0");
    }

    /**
     * One decoder layer (GQA 4 query / 2 kv heads, q/k/v biases, RoPE, causal) against a naive
     * float64 layer on the HF-named Qwen2 weights; and the probe's q/k reproduce that layer's
     * attention probabilities, for layer 0 and for layer 1 (whose input is the probe's hidden
     * states of layer 0). Tolerances: float32 vs float64 through one layer of width 48.
     */
    @Test
    void decoderLayerAndProbeMatchTheFloat64Oracle() {
        ModelConfig c = ModelConfig.preset("tiny-qwen2");
        ModelConfig.Language lc = c.language();
        TestCheckpoint ck = TestCheckpoint.of(c, 42);
        int n = 7, h = lc.hidden();
        String layers = "language_model.model.layers.";
        Tensor embeds = ModelTesting.randn(43, 1, n, h);
        try (Lvlm m = ModelTesting.load(ck, c);
             Probe p0 = m.language().probe(embeds, new long[] {n}, 0);
             Probe p1 = m.language().probe(embeds, new long[] {n}, 1)) {
            Oracle64.LayerResult l0 = Oracle64.decoderLayer(c, ck.hf, layers + "0.", d(embeds), n);
            Approx.assertClose(l0.out(), d(p0.hidden()), 1e-4, 1e-4, "layer 0 output");
            Approx.assertClose(l0.probs(), probeProbs(p0, lc, n), 1e-5, 0, "layer 0 probabilities from the probe");
            Oracle64.LayerResult l1 = Oracle64.decoderLayer(c, ck.hf, layers + "1.", d(p0.hidden()), n);
            Approx.assertClose(l1.probs(), probeProbs(p1, lc, n), 1e-5, 0, "layer 1 probabilities from the probe");
            Approx.assertClose(l1.out(), d(p1.hidden()), 1e-4, 1e-4, "layer 1 output");

            // The probe plugs into PTP's relevance op: text queries 4..6 over visual tokens 1..3.
            long[] queries = {4, 5, 6}, visual = {1, 2, 3};
            try (TextLayout layout = TextLayout.single(n, queries, visual)) {
                Tensor q = p1.q().select(0, 0).narrow(1, 4, 3).contiguous();
                Tensor got = TextRelevance.fromQk(q, p1.k().select(0, 0), layout, Double.NaN, Reduce.MEAN, Reduce.MAX,
                        Backend.LIBTORCH);
                double[] want = new double[visual.length];
                for (int v = 0; v < visual.length; v++) {
                    for (long qi : queries) {
                        double mean = 0;
                        for (int hh = 0; hh < lc.heads(); hh++) {
                            mean += l1.probs()[(int) ((hh * n + qi) * n + visual[v])];
                        }
                        want[v] = Math.max(want[v], mean / lc.heads());
                    }
                }
                Approx.assertClose(want, d(got), 1e-6, 1e-5, "TextRelevance from the probe");
            }
        }
    }

    /** Causal softmax(q k^T / sqrt(d)) as [Hq, n, n] from a probe's q [1, Hq, n, d] and k [1, Hkv, n, d]. */
    private static double[] probeProbs(Probe p, ModelConfig.Language lc, int n) {
        int hq = lc.heads(), hkv = lc.kvHeads(), dim = lc.headDim();
        assertShape(p.q(), 1, hq, n, dim);
        assertShape(p.k(), 1, hkv, n, dim);
        // Oracle64.probs takes [n, heads * d] rows.
        double[] q = d(p.q().select(0, 0).transpose(0, 1).contiguous());
        double[] k = d(p.k().select(0, 0).transpose(0, 1).contiguous());
        return Oracle64.probs(q, k, n, hq, hkv, dim, true);
    }

    /**
     * Two right-padded sequences in one batch give the logits and caches of two separate runs,
     * even with NaN in the padding. Tolerance: the masked and the plain causal SDPA paths sum in
     * different orders (float32, 3 layers).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tiny", "tiny-llava", "tiny-qwen2"})
    void aPaddedBatchMatchesSeparateRuns(String preset) {
        ModelConfig c = ModelConfig.preset(preset);
        int h = c.language().hidden();
        long[] lengths = {9, 5};
        Tensor a = ModelTesting.randn(51, 1, 9, h), b = ModelTesting.randn(52, 1, 5, h);
        Tensor padding = torch.full(new long[] {1, 4, h}, new Scalar(Double.NaN));
        Tensor batch = torch.cat(new TensorVector(a, torch.cat(new TensorVector(b, padding), 1)), 0);
        try (Lvlm m = RandomWeights.create(c, 53, ScalarType.Float);
             Prefill both = m.language().prefill(batch, lengths);
             Prefill first = m.language().prefill(a, new long[] {9});
             Prefill second = m.language().prefill(b, new long[] {5})) {
            Tensor logits = both.lastLogits();
            assertShape(logits, 2, c.language().vocab());
            assertEquals(ScalarType.Float.value, logits.scalar_type().value);
            assertFinite(logits, "batched logits");
            Approx.assertClose(d(first.lastLogits()), d(logits.narrow(0, 0, 1)), 1e-5, 1e-5, preset + " sequence 0");
            Approx.assertClose(d(second.lastLogits()), d(logits.narrow(0, 1, 1)), 1e-5, 1e-5, preset + " sequence 1");
            KvCache cache = both.cache();
            assertEquals(c.language().layers(), cache.layers());
            assertEquals(9, cache.length());
            assertShape(cache.key(2), 2, c.language().kvHeads(), 9, c.language().headDim());
            Approx.assertClose(d(second.cache().value(2)), d(cache.value(2).narrow(0, 1, 1).narrow(2, 0, 5)), 1e-5,
                    1e-5, "cache of sequence 1");
            assertFinite(cache.key(2), "cache keys");
        }
    }

    /**
     * Reusing the probe's layers gives the prefill's result; a constant shift of all positions
     * leaves the logits unchanged (RoPE is relative); gathering a cache picks positions.
     */
    @Test
    void prefillFromContinuesAProbe() {
        ModelConfig c = ModelConfig.preset("tiny");
        int h = c.language().hidden();
        long[] lengths = {8, 6};
        Tensor embeds = ModelTesting.randn(61, 2, 8, h);
        try (Lvlm m = RandomWeights.create(c, 62, ScalarType.Float);
             Prefill full = m.language().prefill(embeds, lengths);
             Probe probe = m.language().probe(embeds, lengths, 1);
             Prefill resumed = m.language().prefillFrom(2, probe.hidden(), lengths, probe.cache())) {
            Approx.assertClose(d(full.lastLogits()), d(resumed.lastLogits()), 1e-6, 1e-6, "prefillFrom(probe)");
            for (int l = 0; l < c.language().layers(); l++) {
                for (int b = 0; b < 2; b++) {  // real positions only: padding rows are unspecified
                    Approx.assertClose(d(full.cache().key(l).select(0, b).narrow(1, 0, lengths[b])),
                            d(resumed.cache().key(l).select(0, b).narrow(1, 0, lengths[b])), 1e-6, 1e-6,
                            "keys of layer " + l + ", sequence " + b);
                }
            }
            Approx.assertClose(d(probe.cache().key(1)), d(probe.k()), 0, 0, "probe k is layer 1's keys");

            Tensor shifted = torch.arange(new Scalar(8)).unsqueeze(0).expand(2, 8).add(new Scalar(5)).contiguous();
            try (Prefill moved = m.language().prefillFrom(0, embeds, lengths, shifted, null)) {
                Approx.assertClose(d(full.lastLogits()), d(moved.lastLogits()), 1e-4, 1e-4, "positions shifted by 5");
            }

            Tensor index = Tensors.longs(CPU, 0, 2, 5, 1, 3, 3).view(2, 3);
            try (KvCache kept = probe.cache().gather(index, new long[] {3, 2})) {
                assertArrayEquals(new long[] {3, 2}, kept.lengths());
                Tensor want = probe.cache().value(0).select(0, 1).index_select(1, Tensors.longs(CPU, 1, 3, 3));
                Approx.assertClose(d(want), d(kept.value(0).select(0, 1)), 0, 0, "gathered values");
            }
            assertMessage(() -> m.language().prefillFrom(2, probe.hidden(), lengths, null),
                    "'prefix' must hold the cache of layers 0..1");
            assertMessage(() -> m.language().prefillFrom(1, probe.hidden(), lengths, probe.cache()),
                    "'prefix' must hold 1 layers");
        }
    }

    /**
     * InternLM2's packed wqkv, built from known q/k/v in HF's per-kv-head layout, loads into the
     * same model as a Llama-style checkpoint holding q/k/v (and gate/up) separately: identical
     * packed weights, identical logits.
     */
    @Test
    void internLm2WqkvUnpacksToTheSeparateProjections() {
        ModelConfig internLm2 = ModelConfig.preset("tiny");  // 4 query heads, 2 kv heads: groups of 2
        ModelConfig.Language lc = internLm2.language();
        ModelConfig separate = new ModelConfig("tiny-separate-qkv", ModelConfig.Family.INTERNVL_QWEN2,
                internLm2.vision(), internLm2.projector(), lc, internLm2.tiling());
        TestCheckpoint ck = TestCheckpoint.of(separate, 71);  // Qwen2 names, no biases (qkvBias false)
        Map<String, Tensor> packed = new LinkedHashMap<>();
        long group = lc.heads() / lc.kvHeads();
        for (Map.Entry<String, Tensor> e : ck.hf.entrySet()) {
            String k = e.getKey();
            if (k.endsWith("self_attn.q_proj.weight")) {
                String layer = k.substring(0, k.length() - "self_attn.q_proj.weight".length());
                Tensor wqkv = TestCheckpoint.packWqkv(e.getValue(), ck.hf.get(layer + "self_attn.k_proj.weight"),
                        ck.hf.get(layer + "self_attn.v_proj.weight"), lc.kvHeads(), group, lc.headDim(), lc.hidden());
                packed.put(layer + "attention.wqkv.weight", wqkv);
            } else if (!k.contains("self_attn.k_proj") && !k.contains("self_attn.v_proj")) {
                packed.put(internLm2Name(k), e.getValue());
            }
        }
        assertTrue(packed.containsKey("language_model.model.layers.0.attention.wqkv.weight"));
        assertTrue(packed.containsKey("language_model.output.weight"));
        Tensor ids = Tensors.longs(CPU, 5, 17, 3, 250, 9, 44).view(1, 6);
        try (Lvlm a = ModelLoader.load(internLm2, new MapTensorSource(packed, "packed"), ScalarType.Float, null);
             Lvlm b = ModelTesting.load(ck, separate)) {
            for (int l = 0; l < lc.layers(); l++) {
                String name = "language.layers." + l + ".attn.qkv.weight";
                assertTrue(a.weights().get(name).equal(b.weights().get(name)), name + " differs after unpacking wqkv");
            }
            try (Prefill pa = a.language().prefill(a.language().embed(ids), new long[] {6});
                 Prefill pb = b.language().prefill(b.language().embed(ids), new long[] {6})) {
                assertTrue(pa.lastLogits().equal(pb.lastLogits()), "logits differ between InternLM2 and Llama-style");
            }
        }
    }

    /** The InternLM2 name of a Qwen2-layout key (everything but q/k/v). */
    private static String internLm2Name(String key) {
        return key.replace("embed_tokens", "tok_embeddings").replace("self_attn.o_proj", "attention.wo")
                .replace("post_attention_layernorm", "ffn_norm").replace("input_layernorm", "attention_norm")
                .replace("mlp.gate_proj", "feed_forward.w1").replace("mlp.up_proj", "feed_forward.w3")
                .replace("mlp.down_proj", "feed_forward.w2").replace("language_model.lm_head", "language_model.output");
    }

    @Test
    void badInputsGiveClearErrors() {
        ModelConfig c = ModelConfig.preset("tiny");
        try (Lvlm m = RandomWeights.create(c, 1, ScalarType.Float)) {
            LanguageModel lm = m.language();
            Tensor embeds = ModelTesting.randn(1, 2, 5, 48);
            assertMessage(() -> lm.prefill(embeds, new long[] {5}), "'lengths' must hold one length per sequence (2)");
            assertMessage(() -> lm.prefill(embeds, new long[] {5, 0}), "'lengths[1]' must be in [1, 5]", "got 0");
            assertMessage(() -> lm.prefill(embeds, new long[] {5, 6}), "'lengths[1]' must be in [1, 5]");
            assertMessage(() -> lm.prefill(ModelTesting.randn(1, 2, 5, 47), new long[] {5, 5}),
                    "'embeds' must have shape [2, 5, 48]");
            assertMessage(() -> lm.probe(embeds, new long[] {5, 5}, 3), "'probeLayer' must be in [0, 2]");
            assertMessage(() -> lm.embed(Tensors.longs(CPU, 1, 300).view(1, 2)),
                    "'ids' must hold token ids in [0, 300)", "[1, 300]");
            assertMessage(() -> lm.embed(ModelTesting.randn(1, 1, 2)), "'ids' must be int64");
            assertShape(lm.embed(Tensors.longs(CPU, 1, 299).view(1, 2)), 1, 2, 48);
        }
    }
}
