package dev.vtprune.model;

import static dev.vtprune.model.ModelTesting.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.model.TestCheckpoint.Layout;
import dev.vtprune.internal.Tensors;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ModelLoaderTest {

    static Stream<Arguments> layouts() {
        return Stream.of(Arguments.of("tiny", Layout.INTERNVL), Arguments.of("tiny-qwen2", Layout.INTERNVL),
                Arguments.of("tiny-llava", Layout.LLAVA_LEGACY), Arguments.of("tiny-llava", Layout.LLAVA_MODERN));
    }

    /**
     * A checkpoint under the real key names of each family and layout loads into a model whose
     * every weight equals what the checkpoint says (packed where the model packs), with nothing
     * left over and the unused tensors (CLIP's last layer, post-layernorm) never read.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("layouts")
    void everyWeightRoundTrips(String preset, Layout layout) {
        ModelConfig c = ModelConfig.preset(preset);
        TestCheckpoint ck = TestCheckpoint.of(c, 81, layout);
        MapTensorSource source = new MapTensorSource(ck.hf, "test checkpoint");
        List<String> progress = new ArrayList<>();
        try (Lvlm m = ModelLoader.load(c, source, ScalarType.Float, progress::add)) {
            Map<String, Tensor> weights = m.weights();
            assertEquals(ck.canonical.keySet(), weights.keySet());
            for (Map.Entry<String, Tensor> e : ck.canonical.entrySet()) {
                Tensor got = weights.get(e.getKey());
                assertTrue(got.is_contiguous(), e.getKey() + " not contiguous");
                assertTrue(got.equal(e.getValue()), e.getKey() + " differs from the checkpoint: "
                        + Tensors.describe(got));
            }
            long elements = 0;
            for (Tensor t : ck.canonical.values()) elements += t.numel();
            assertEquals(elements, m.parameterCount());
            if (layout != Layout.INTERNVL) {
                String v = layout == Layout.LLAVA_LEGACY ? "vision_tower.vision_model."
                        : "model.vision_tower.vision_model.";
                assertFalse(source.loaded.contains(v + "post_layernorm.weight"));
                assertFalse(source.loaded.contains(v + "encoder.layers." + c.vision().layers() + ".mlp.fc1.weight"));
            }
        }
        String all = String.join(" | ", progress);
        assertTrue(all.contains("vision " + c.vision().layers() + "/" + c.vision().layers()), all);
        assertTrue(all.contains("language " + c.language().layers() + "/" + c.language().layers()), all);
        String named = layout == Layout.LLAVA_MODERN ? "transformers >= 4.52"
                : layout == Layout.LLAVA_LEGACY ? "legacy" : "InternVL2";
        assertTrue(all.contains(named), all);
    }

    /** bf16 and fp16 checkpoints are converted to the run dtype (and fp32 ones to a bf16 run). */
    @Test
    void storedDtypesAreConverted() {
        ModelConfig c = ModelConfig.preset("tiny");
        TestCheckpoint ck = TestCheckpoint.of(c, 82);
        Map<String, Tensor> bf16 = new LinkedHashMap<>();
        ck.hf.forEach((k, t) -> bf16.put(k, t.to(k.contains("vision") ? ScalarType.BFloat16 : ScalarType.Half)));
        try (Lvlm m = ModelLoader.load(c, new MapTensorSource(bf16, "half checkpoint"), ScalarType.Float, null)) {
            Tensor got = m.weights().get("vision.layers.0.attn.qkv.weight");
            assertEquals(ScalarType.Float.value, got.scalar_type().value);
            Tensor qkv = ck.canonical.get("vision.layers.0.attn.qkv.weight");
            assertTrue(got.equal(qkv.to(ScalarType.BFloat16).to(ScalarType.Float)));
            Tensor embed = ck.canonical.get("language.embed");
            assertTrue(m.weights().get("language.embed").equal(embed.to(ScalarType.Half).to(ScalarType.Float)));
        }
        try (Lvlm m = ModelLoader.load(c, new MapTensorSource(ck.hf, "fp32 checkpoint"), ScalarType.BFloat16, null)) {
            assertEquals(ScalarType.BFloat16.value, m.dtype().value);
            for (Tensor t : m.weights().values()) assertEquals(ScalarType.BFloat16.value, t.scalar_type().value);
            Tensor pixels = ModelTesting.randn(83, 1, 3, 56, 56);
            try (VisionOutput out = m.vision().forward(pixels, 0)) {
                assertEquals(ScalarType.BFloat16.value, out.patches().scalar_type().value);
                ModelTesting.assertFinite(m.projector().forward(out.patches()), "bf16 projector output");
            }
        }
    }

    /**
     * With tie_word_embeddings (as Qwen2-0.5B saves it, without an LM head) the head is the
     * embedding; without it, a missing head is a missing key.
     */
    @Test
    void aTiedHeadIsTheEmbeddingAndAnUntiedOneMustBeThere() {
        ModelConfig untied = ModelConfig.preset("tiny-qwen2");
        ModelConfig.Language l = untied.language();
        ModelConfig c = new ModelConfig(untied.name(), untied.family(), untied.vision(), untied.projector(),
                new ModelConfig.Language(l.layers(), l.hidden(), l.heads(), l.kvHeads(), l.intermediate(), l.vocab(),
                        l.qkvBias(), l.ropeTheta(), l.rmsEps(), true, l.maxPositions()), untied.tiling());
        TestCheckpoint ck = TestCheckpoint.of(c, 84);
        ck.hf.remove("language_model.lm_head.weight");
        List<String> progress = new ArrayList<>();
        try (Lvlm m = ModelTesting.load(ck, c, progress)) {
            assertSame(m.weights().get("language.embed"), m.weights().get("language.head.weight"));
            assertTrue(progress.stream().anyMatch(s -> s.contains("tied to the token embeddings")
                    && s.contains("language_model.lm_head.weight")), progress.toString());
        }
        assertMessage(() -> ModelTesting.load(ck, untied, new ArrayList<>()), "lacks 1 of the",
                "language_model.lm_head.weight");
    }

    @Test
    void missingKeysAreListedInOneMessage() {
        ModelConfig c = ModelConfig.preset("tiny");
        TestCheckpoint ck = TestCheckpoint.of(c, 85);
        List<String> removed = List.of("vision_model.embeddings.class_embedding", "vision_model.encoder.layers.0.ls1",
                "mlp1.0.bias", "language_model.model.layers.0.attention.wqkv.weight",
                "language_model.model.layers.1.feed_forward.w3.weight", "language_model.model.layers.2.ffn_norm.weight",
                "language_model.model.norm.weight");
        removed.forEach(ck.hf::remove);
        String msg = assertMessage(() -> ModelTesting.load(ck, c), "checkpoint test checkpoint (", "lacks 7 of the",
                "model 'tiny'", "INTERNVL_INTERNLM2", "vision_model.embeddings.class_embedding", "and 2 more");
        long named = removed.stream().filter(msg::contains).count();
        assertEquals(5, named, msg);
    }

    @Test
    void aMisspelledKeyIsReportedAsMissingWithTheUnusedOne() {
        ModelConfig c = ModelConfig.preset("tiny-llava");
        TestCheckpoint ck = TestCheckpoint.of(c, 86, Layout.LLAVA_MODERN);
        ck.hf.put("model.language_model.norm.weigth", ck.hf.remove("model.language_model.norm.weight"));
        assertMessage(() -> ModelTesting.load(ck, c), "lacks 1 of the", "model.language_model.norm.weight",
                "tensors the model does not use", "model.language_model.norm.weigth");
    }

    @Test
    void aWrongShapeNamesTheKeyAndBothShapes() {
        ModelConfig c = ModelConfig.preset("tiny-qwen2");
        TestCheckpoint ck = TestCheckpoint.of(c, 87);
        ck.hf.put("language_model.model.layers.1.self_attn.k_proj.weight", torch.zeros(48, 48));
        assertMessage(() -> ModelTesting.load(ck, c), "tensor 'language_model.model.layers.1.self_attn.k_proj.weight'",
                "has shape [48, 48]", "model 'tiny-qwen2' expects [24, 48]");
        TestCheckpoint ck2 = TestCheckpoint.of(c, 88);
        ck2.hf.put("vision_model.embeddings.position_embedding", torch.zeros(17, 32));
        assertMessage(() -> ModelTesting.load(ck2, c), "'vision_model.embeddings.position_embedding'",
                "has shape [17, 32]", "expects [1, 17, 32]");
    }

    @Test
    void checkpointsThatDoNotFitTheConfigAreRejected() {
        ModelConfig llava = ModelConfig.preset("tiny-llava");
        TestCheckpoint ck = TestCheckpoint.of(llava, 89);
        ck.hf.put("language_model.model.layers.0.self_attn.q_proj.bias", torch.zeros(48));
        assertMessage(() -> ModelTesting.load(ck, llava), "'language_model.model.layers.0.self_attn.q_proj.bias'",
                "no q/k/v biases (qkvBias = false)");

        Map<String, Tensor> foreign = Map.of("transformer.h.0.attn.weight", torch.zeros(2));
        assertMessage(() -> ModelLoader.load(llava, new MapTensorSource(foreign, "gpt2"), ScalarType.Float, null),
                "has no llava-hf keys", "transformer.h.0.attn.weight");

        TestCheckpoint ints = TestCheckpoint.of(ModelConfig.preset("tiny"), 90);
        ints.hf.put("mlp1.1.weight", torch.zeros(48, 128).to(ScalarType.Char));
        assertMessage(() -> ModelTesting.load(ints, ModelConfig.preset("tiny")), "'mlp1.1.weight'", "int8[48, 128]",
                "floating-point checkpoint");

        assertMessage(() -> ModelLoader.load(llava, new MapTensorSource(ck.hf, "x"), ScalarType.Double, null),
                "'dtype' must be");
    }
}
