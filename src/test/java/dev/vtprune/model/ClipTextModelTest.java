package dev.vtprune.model;

import static dev.vtprune.model.ModelTesting.assertMessage;
import static dev.vtprune.model.ModelTesting.assertShape;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vtprune.io.MapTensorSource;
import dev.vtprune.internal.Tensors;
import dev.vtprune.testing.Approx;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

class ClipTextModelTest {
    /** Awkward sizes: 3 heads of 5, an MLP of 23, a projection narrower than the width. */
    static final ClipTextModel.Config TINY = new ClipTextModel.Config(61, 15, 23, 2, 3, 9, 7, 1e-5);

    /**
     * A random checkpoint under the HF keys, written from the HF module names (not from the
     * model's specs); norms jittered so a swapped scale/shift or layer shows. Also holds an
     * unused vision key, as the real file does.
     */
    static Map<String, Tensor> hfCheckpoint(ClipTextModel.Config c, long seed) {
        Map<String, Tensor> ck = new LinkedHashMap<>();
        long[] s = {seed};
        java.util.function.BiFunction<Double, long[], Tensor> r = (std, shape) ->
                ModelTesting.randn(s[0]++, shape).mul(new Scalar(std));
        int h = c.hidden(), m = c.intermediate();
        ck.put("text_model.embeddings.token_embedding.weight", r.apply(0.5, new long[] {c.vocab(), h}));
        ck.put("text_model.embeddings.position_embedding.weight", r.apply(0.5, new long[] {c.maxPositions(), h}));
        for (int i = 0; i < c.layers(); i++) {
            String l = "text_model.encoder.layers." + i + ".";
            for (String p : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                ck.put(l + "self_attn." + p + ".weight", r.apply(1 / Math.sqrt(h), new long[] {h, h}));
                ck.put(l + "self_attn." + p + ".bias", r.apply(0.1, new long[] {h}));
            }
            for (String n : new String[] {"layer_norm1", "layer_norm2"}) {
                ck.put(l + n + ".weight", r.apply(0.2, new long[] {h}).add(new Scalar(1.0)));
                ck.put(l + n + ".bias", r.apply(0.1, new long[] {h}));
            }
            ck.put(l + "mlp.fc1.weight", r.apply(1 / Math.sqrt(h), new long[] {m, h}));
            ck.put(l + "mlp.fc1.bias", r.apply(0.1, new long[] {m}));
            ck.put(l + "mlp.fc2.weight", r.apply(1 / Math.sqrt(m), new long[] {h, m}));
            ck.put(l + "mlp.fc2.bias", r.apply(0.1, new long[] {h}));
        }
        ck.put("text_model.final_layer_norm.weight", r.apply(0.2, new long[] {h}).add(new Scalar(1.0)));
        ck.put("text_model.final_layer_norm.bias", r.apply(0.1, new long[] {h}));
        ck.put("text_projection.weight", r.apply(1 / Math.sqrt(h), new long[] {c.projection(), h}));
        ck.put("vision_model.post_layernorm.weight", r.apply(1.0, new long[] {4}));
        return ck;
    }

    /**
     * Loaded from HF keys, the float32 forward equals the float64 oracle for every token (hidden
     * states and projected features), at lengths 1, 5 and the full 9 positions. Tolerance: float32
     * through 2 layers of width 15, values O(1): 1e-5 absolute.
     */
    @Test
    void matchesTheFloat64OracleOnAnHfCheckpoint() {
        Map<String, Tensor> ck = hfCheckpoint(TINY, 100);
        try (ClipTextModel m = ClipTextModel.load(TINY, new MapTensorSource("tiny clip", ck), ScalarType.Float)) {
            for (long[] ids : new long[][] {{60}, {0, 17, 3, 3, 60}, {5, 59, 1, 2, 40, 33, 8, 12, 60}}) {
                double[][] want = ClipTextOracle.forward(ck, ids, TINY.heads(), TINY.eps());
                try (ClipTextModel.Output out = m.forward(ids)) {
                    assertShape(out.hidden(), ids.length, TINY.hidden());
                    assertShape(out.features(), ids.length, TINY.projection());
                    Approx.assertClose(want[0], Tensors.toDoubles(out.hidden()), 1e-5, 1e-5, "hidden, n=" + ids.length);
                    Approx.assertClose(want[1], Tensors.toDoubles(out.features()), 1e-5, 1e-5, "features, n=" + ids.length);
                }
            }
        }
    }

    /**
     * The batched, trainable path: each row of textEmbeds is the float64 oracle's projected
     * feature of that text's last (EOS) token, though the three texts of lengths 1, 5 and 9
     * share one right-padded batch; under Training.enable() it carries a graph to the weights.
     */
    @Test
    void textEmbedsPoolTheEosTokenOfEachPaddedText() {
        Map<String, Tensor> ck = hfCheckpoint(TINY, 100);
        long[][] ids = {{60}, {0, 17, 3, 3, 60}, {5, 59, 1, 2, 40, 33, 8, 12, 60}};
        try (ClipTextModel m = ClipTextModel.load(TINY, new MapTensorSource("tiny clip", ck), ScalarType.Float)) {
            Tensor e = m.textEmbeds(ids);
            assertShape(e, 3, TINY.projection());
            assertFalse(e.requires_grad(), "inference: no graph");
            for (int i = 0; i < ids.length; i++) {
                double[] f = ClipTextOracle.forward(ck, ids[i], TINY.heads(), TINY.eps())[1];
                double[] eos = java.util.Arrays.copyOfRange(f, (ids[i].length - 1) * TINY.projection(), f.length);
                Approx.assertClose(eos, Tensors.toDoubles(e.select(0, i)), 1e-5, 1e-5, "text " + i);
            }
            for (Tensor w : m.weights().values()) w.requires_grad_(true);
            try (Training.Mode mode = Training.enable()) {
                Tensor loss = m.textEmbeds(ids).sum();
                loss.backward();
            }
            Tensor g = m.weights().get("text_model.encoder.layers.0.self_attn.q_proj.weight").grad();
            org.junit.jupiter.api.Assertions.assertTrue(g.defined() && g.abs().sum().item_double() > 0, "q_proj gets a gradient");
        }
        assertMessage(() -> {
            try (ClipTextModel m = ClipTextModel.random(TINY, 3, ScalarType.Float)) {
                m.textEmbeds(new long[][] {{1, 2}, {}});
            }
        }, "ids[1].length");
    }

    /** Causal: a token's features do not depend on the tokens after it. */
    @Test
    void aPrefixHasThePrefixOfTheFeatures() {
        try (ClipTextModel m = ClipTextModel.random(TINY, 3, ScalarType.Float);
             ClipTextModel.Output full = m.forward(new long[] {1, 2, 3, 4, 5, 6});
             ClipTextModel.Output head = m.forward(new long[] {1, 2, 3})) {
            double[] f = Tensors.toDoubles(full.features()), p = Tensors.toDoubles(head.features());
            Approx.assertClose(p, java.util.Arrays.copyOf(f, p.length), 1e-6, 1e-6, "prefix features");
            double[] other;
            try (ClipTextModel.Output o = m.forward(new long[] {1, 2, 9, 4, 5, 6})) {
                other = Tensors.toDoubles(o.features());
            }
            assertFalse(Math.abs(other[2 * TINY.projection()] - f[2 * TINY.projection()]) < 1e-6,
                    "a changed token changes its own features");
        }
    }

    /** The random tower is seeded and declares exactly the HF keys the loader reads. */
    @Test
    void randomWeightsAreSeededUnderTheHfKeys() {
        try (ClipTextModel a = ClipTextModel.random(TINY, 7, ScalarType.Float);
             ClipTextModel b = ClipTextModel.random(TINY, 7, ScalarType.Float);
             ClipTextModel c = ClipTextModel.random(TINY, 8, ScalarType.Float)) {
            Map<String, Tensor> ck = hfCheckpoint(TINY, 1);
            ck.remove("vision_model.post_layernorm.weight");
            assertEquals(ck.keySet(), a.weights().keySet());
            long[] ids = {4, 0, 60};
            try (ClipTextModel.Output x = a.forward(ids); ClipTextModel.Output y = b.forward(ids);
                 ClipTextModel.Output z = c.forward(ids)) {
                assertArrayEquals(Tensors.toDoubles(x.features()), Tensors.toDoubles(y.features()));
                assertFalse(java.util.Arrays.equals(Tensors.toDoubles(x.features()), Tensors.toDoubles(z.features())));
            }
        }
    }

    @Test
    void badIdsAndCheckpointsAreRejected() {
        try (ClipTextModel m = ClipTextModel.random(TINY, 3, ScalarType.Float)) {
            assertMessage(() -> m.forward(new long[10]), "ids.length", "[1, 9]", "10");
            assertMessage(() -> m.forward(new long[0]), "ids.length");
            assertMessage(() -> m.forward(new long[] {1, 61}), "ids[1]", "[0, 61)");
        }
        Map<String, Tensor> ck = hfCheckpoint(TINY, 5);
        ck.remove("text_projection.weight");
        assertMessage(() -> ClipTextModel.load(TINY, new MapTensorSource("tiny clip", ck), ScalarType.Float),
                "lacks 1 of the", "text_projection.weight", "tiny clip");
        Map<String, Tensor> wrong = hfCheckpoint(TINY, 5);
        wrong.put("text_model.encoder.layers.1.mlp.fc1.bias", ModelTesting.randn(1, 24));
        assertMessage(() -> ClipTextModel.load(TINY, new MapTensorSource("tiny clip", wrong), ScalarType.Float),
                "text_model.encoder.layers.1.mlp.fc1.bias", "[24]", "[23]");
        assertThrows(IllegalArgumentException.class, () -> new ClipTextModel.Config(61, 16, 23, 2, 3, 9, 7, 1e-5));
    }

    /** openai/clip-vit-large-patch14-336's text fields; absent fields take CLIPTextConfig's defaults. */
    @Test
    void configFromHfJson() {
        String vitL = "{\"projection_dim\": 768, \"text_config\": {\"hidden_size\": 768, \"intermediate_size\": 3072,"
                + " \"num_attention_heads\": 12, \"num_hidden_layers\": 12, \"max_position_embeddings\": 77,"
                + " \"vocab_size\": 49408, \"hidden_act\": \"quick_gelu\", \"layer_norm_eps\": 1e-05}}";
        assertEquals(ClipTextModel.Config.vitL14(), ClipTextModel.Config.parse(vitL, "config.json"));
        assertEquals(new ClipTextModel.Config(49408, 512, 2048, 12, 8, 77, 512, 1e-5),
                ClipTextModel.Config.parse("{\"text_config\": {}}", "c.json"));
        assertMessage(() -> ClipTextModel.Config.parse("{\"projection_dim\": 8}", "c.json"), "c.json", "text_config");
        assertMessage(() -> ClipTextModel.Config.parse("{\"text_config\": {\"hidden_act\": \"gelu\"}}", "c.json"),
                "hidden_act", "quick_gelu", "gelu");
        assertMessage(() -> ClipTextModel.Config.parse("{\"text_config\": {\"hidden_size\": 7.5}}", "c.json"),
                "hidden_size", "integer");
    }
}
