package dev.vtprune.model;

import static dev.vtprune.model.ModelTesting.assertFinite;
import static dev.vtprune.model.ModelTesting.assertShape;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.internal.Tensors;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

class RandomWeightsTest {

    @Test
    void theSeedDecidesTheWeights() {
        ModelConfig c = ModelConfig.preset("tiny");
        try (Lvlm a = RandomWeights.create(c, 5, ScalarType.Float);
             Lvlm b = RandomWeights.create(c, 5, ScalarType.Float);
             Lvlm other = RandomWeights.create(c, 6, ScalarType.Float);
             Lvlm half = RandomWeights.create(c, 5, ScalarType.BFloat16)) {
            for (Map.Entry<String, Tensor> e : a.weights().entrySet()) {
                assertTrue(e.getValue().equal(b.weights().get(e.getKey())), e.getKey());
                assertTrue(e.getValue().to(ScalarType.BFloat16).equal(half.weights().get(e.getKey())),
                        e.getKey() + " in bf16");
            }
            assertFalse(a.weights().get("language.embed").equal(other.weights().get("language.embed")));
            assertTrue(a.weights().get("vision.layers.0.ls1").equal(torch.full(new long[] {32}, new Scalar(0.1))));
        }
    }

    /**
     * Weights outlive the PointerScope they were made in; forward results join the caller's
     * scope (and die with it); close() frees every weight and may be called twice.
     */
    @Test
    void weightsOutliveScopesAndResultsJoinTheCallers() {
        ModelConfig c = ModelConfig.preset("tiny");
        Lvlm m;
        try (PointerScope making = new PointerScope()) {
            m = RandomWeights.create(c, 9, ScalarType.Float);
        }
        Tensor pixels = ModelTesting.randn(10, 1, 3, 56, 56);
        VisionOutput kept;
        try (PointerScope call = new PointerScope()) {
            VisionOutput out = m.vision().forward(pixels, 0);
            assertFalse(out.patches().isNull());
            kept = out;
        }
        assertTrue(kept.patches().isNull() && kept.probeK().isNull(), "results should be freed with the caller's scope");
        try (VisionOutput again = m.vision().forward(pixels)) {
            assertShape(m.projector().forward(again.patches()), 1, 4, 48);
        }
        Tensor embed = m.weights().get("language.embed");
        m.close();
        assertTrue(embed.isNull(), "close() should free the weights");
        m.close();
    }

    /**
     * The demo preset end to end on one image of 4 tiles + thumbnail and 60 text tokens: finite,
     * and not degenerate after 24 LM layers (logits spread, ViT CLS attention not uniform).
     * Prints the time of each stage. Runs on one intra-op thread: on the shared 2-core test
     * machine, two OpenMP threads wait for a scheduler time slice at every parallel region
     * whenever the other core is busy, which made this forward up to 30x slower.
     */
    @Test
    void demoPresetForwardStaysFiniteAndInformative() {
        int threads = torch.get_num_threads();
        torch.set_num_threads(1);
        try {
            demoForward();
        } finally {
            torch.set_num_threads(threads);
        }
    }

    private static void demoForward() {
        ModelConfig c = ModelConfig.preset("demo");
        ModelConfig.Vision v = c.vision();
        long t0 = System.nanoTime();
        try (Lvlm m = RandomWeights.create(c, 2024, ScalarType.Float)) {
            long t1 = System.nanoTime();
            Tensor pixels = ModelTesting.randn(7, 5, 3, v.imageSize(), v.imageSize());
            try (VisionOutput out = m.vision().forward(pixels, 3)) {
                long t2 = System.nanoTime();
                Tensor visual = m.projector().forward(out.patches());                   // [5, 64, 256]
                long t3 = System.nanoTime();
                assertShape(visual, 5, v.tokensPerTile(), c.language().hidden());
                long nVisual = 5L * v.tokensPerTile();
                torch.manual_seed(8);
                Tensor ids = torch.randint(c.language().vocab(), new long[] {1, 60});
                Tensor text = m.language().embed(ids);
                Tensor image = visual.reshape(1, nVisual, c.language().hidden());
                Tensor embeds = torch.cat(new TensorVector(text.narrow(1, 0, 12), image, text.narrow(1, 12, 48)), 1);
                long t4 = System.nanoTime();
                try (Prefill p = m.language().prefill(embeds, new long[] {embeds.size(1)})) {
                    long t5 = System.nanoTime();
                    assertShape(p.lastLogits(), 1, c.language().vocab());
                    assertFinite(out.patches(), "ViT output");
                    assertFinite(visual, "projector output");
                    assertFinite(p.lastLogits(), "logits");
                    double spread = p.lastLogits().std().item_double();
                    assertTrue(spread > 0.1 && spread < 100, "logit std " + spread);
                    double[] rows = ModelTesting.clsRows(Tensors.toDoubles(out.probeQCls().select(0, 0)),
                            Tensors.toDoubles(out.probeK().select(0, 0)), v.heads(), 1 + v.patches(), v.headDim());
                    double max = 0;
                    for (double r : rows) max = Math.max(max, r);
                    assertTrue(max > 3.0 / (1 + v.patches()), "CLS attention is uniform: max " + max);
                    System.out.printf("demo preset, %d visual + 60 text tokens: weights %.0f ms, vision (5 tiles) "
                                    + "%.0f ms, projector %.0f ms, LM prefill (%d tokens, 24 layers) %.0f ms; "
                                    + "forward total %.0f ms%n",
                            nVisual, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, embeds.size(1), (t5 - t4) / 1e6,
                            (t5 - t1 - (t4 - t3)) / 1e6);
                }
            }
        }
    }
}
