package dev.vtprune.model;

import static dev.vtprune.testing.Closed.assertGuarded;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * Closing a model frees its weights: every module then refuses to run (rather than run LibTorch
 * on freed tensors), and closing the model and its modules again does nothing.
 */
class ClosedModelTest {

    @Test
    void modulesUseAfterClose() {
        ModelConfig c = ModelConfig.preset("tiny");
        Lvlm m = RandomWeights.create(c, 3, ScalarType.Float);
        VisionEncoder vision = m.vision();
        Projector projector = m.projector();
        LanguageModel language = m.language();
        Tensor embeds = ModelTesting.randn(4, 1, 5, c.language().hidden());
        KvCache cache;
        try (Prefill p = language.prefill(embeds, new long[] {5})) {
            cache = p.cache().gather(torch.arange(new org.bytedeco.pytorch.Scalar(5)).unsqueeze(0), new long[] {5});
        }
        assertGuarded(cache, "KvCache", cache::layers, () -> cache.key(0), cache::lengths,
                () -> cache.gather(torch.arange(new org.bytedeco.pytorch.Scalar(5)).unsqueeze(0), new long[] {5}));
        Tensor pixels = torch.zeros(1, 3, c.vision().imageSize(), c.vision().imageSize());
        assertGuarded(m, "Lvlm", m::weights, m::parameterCount, m::vision, () -> m.to(dev.vtprune.internal.Tensors.cpu()));
        // the model closed its modules; closing them again is harmless and using them throws
        assertGuarded(vision, "VisionEncoder", () -> vision.forward(pixels), vision::weights);
        assertGuarded(projector, "Projector", projector::weights, () -> projector.forward(torch.zeros(1, 4, c.vision().hidden())));
        assertGuarded(language, "LanguageModel", () -> language.prefill(embeds, new long[] {5}),
                () -> language.embed(Tensor.create(1L)), language::weights);
    }

    @Test
    void clipTextUseAfterClose() {
        ClipTextModel clip = ClipTextModel.random(ClipTextModelTest.TINY, 3, ScalarType.Float);
        assertGuarded(clip, "ClipTextModel", () -> clip.forward(new long[] {1, 2}), clip::weights);
    }
}
