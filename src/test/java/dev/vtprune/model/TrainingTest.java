package dev.vtprune.model;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

class TrainingTest {

    /** Forwards record no graph by default; under Training.enable() every module's weights get gradients. */
    @Test
    void forwardsBackpropagateOnlyInTrainingMode() {
        ModelConfig c = ModelConfig.preset("tiny");
        try (Lvlm m = RandomWeights.create(c, 3, ScalarType.Float); PointerScope scope = new PointerScope()) {
            for (Tensor w : m.weights().values()) w.requires_grad_(true);
            Tensor pixels = ModelTesting.randn(1, 2, 3, c.vision().imageSize(), c.vision().imageSize());
            Tensor plain = m.projector().forward(m.vision().forward(pixels).patches());
            assertFalse(plain.requires_grad(), "inference forward recorded a graph");
            assertFalse(Training.active());
            try (Training.Mode mode = Training.enable()) {
                assertTrue(Training.active());
                Tensor visual = m.projector().forward(m.vision().forward(pixels).patches());   // [2, t, d]
                Tensor embeds = visual.reshape(1, visual.size(0) * visual.size(1), visual.size(2));
                Prefill p = m.language().prefill(embeds, new long[] {embeds.size(1)});
                p.lastLogits().sum().backward();
            }
            assertFalse(Training.active());
            for (String name : new String[] {"vision.patch.weight", "vision.layers.0.attn.qkv.weight", "projector.fc1.weight",
                    "language.layers.0.attn.qkv.weight", "language.head.weight"}) {
                Tensor g = m.weights().get(name).grad();
                assertTrue(g.defined() && g.abs().sum().item_double() > 0, name + " got no gradient");
            }
        }
    }
}
