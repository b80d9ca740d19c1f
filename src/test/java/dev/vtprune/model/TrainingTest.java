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

    /**
     * Questions sharing an image's prefix: the shared-prefix forward gives prefill's logits on
     * the concatenated, right-padded sequences (3 questions on 2 prefixes, suffix lengths 2-4),
     * and the same gradient on the prefix it shares.
     */
    @Test
    void sharedPrefixLogitsEqualPrefillOnConcatenation() {
        ModelConfig c = ModelConfig.preset("tiny");
        try (Lvlm m = RandomWeights.create(c, 5, ScalarType.Float); PointerScope scope = new PointerScope()) {
            LanguageModel lm = m.language();
            long d = c.language().hidden(), p = 6, sMax = 4;
            long[] imageOf = {1, 0, 1}, lengths = {4, 2, 3};
            Tensor prefix = ModelTesting.randn(7, 2, p, d);
            Tensor suffix = ModelTesting.randn(8, 3, sMax, d);
            Tensor full = org.bytedeco.pytorch.global.torch.cat(new org.bytedeco.pytorch.TensorVector(
                    prefix.index_select(0, Tensor.create(imageOf)), suffix), 1);
            long[] fullLengths = new long[3];
            for (int q = 0; q < 3; q++) fullLengths[q] = p + lengths[q];
            Tensor want = lm.prefill(full, fullLengths).lastLogits();
            Tensor got = lm.sharedPrefixLogits(prefix, suffix, imageOf, lengths);
            double diff = got.sub(want).abs().max().item_double();
            assertTrue(diff < 2e-5, "max |shared - prefill| = " + diff);

            Tensor leaf = prefix.clone().requires_grad_(true), leafFull = prefix.clone().requires_grad_(true);
            try (Training.Mode mode = Training.enable()) {
                lm.sharedPrefixLogits(leaf, suffix, imageOf, lengths).sum().backward();
                Tensor f = org.bytedeco.pytorch.global.torch.cat(new org.bytedeco.pytorch.TensorVector(
                        leafFull.index_select(0, Tensor.create(imageOf)), suffix), 1);
                lm.prefill(f, fullLengths).lastLogits().sum().backward();
            }
            double g = leaf.grad().sub(leafFull.grad()).abs().max().item_double(), size = leafFull.grad().abs().max().item_double();
            assertTrue(size > 0 && g < 1e-4 * Math.max(1, size), "gradient differs by " + g + " (largest " + size + ")");
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> lm.sharedPrefixLogits(prefix, suffix, new long[] {0, 2, 1}, lengths));
            assertTrue(e.getMessage().contains("'imageOf'"), e.getMessage());
        }
    }
}
