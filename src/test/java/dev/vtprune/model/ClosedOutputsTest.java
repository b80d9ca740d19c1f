package dev.vtprune.model;

import static dev.vtprune.testing.Closed.assertGuarded;

import dev.vtprune.ops.Rollout;
import dev.vtprune.prune.PseudoCls;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * The model's outputs own their tensors: once closed (twice is harmless) every accessor throws
 * "NAME is closed" instead of handing out freed tensors.
 */
class ClosedOutputsTest {
    @Test
    void outputsUseAfterClose() {
        ModelConfig c = ModelConfig.preset("tiny");
        int h = c.language().hidden();
        try (Lvlm m = RandomWeights.create(c, 3, ScalarType.Float)) {
            Tensor pixels = torch.zeros(2, 3, c.vision().imageSize(), c.vision().imageSize());
            VisionOutput v = m.vision().forward(pixels, 1);
            assertGuarded(v, "VisionOutput", v::patches, v::cls, v::probeQCls, v::probeK, v::keptPatches, v::trace);

            Tensor embeds = ModelTesting.randn(4, 1, 12, h);
            Prefill p = m.language().prefill(embeds, new long[] {12});
            KvCache cache = p.cache();
            assertGuarded(p, "Prefill", p::lastLogits, p::cache);
            assertGuarded(cache, "KvCache", cache::layers);  // closed with its prefill

            Probe probe = m.language().probe(embeds, new long[] {12}, 1);
            assertGuarded(probe, "Probe", probe::layer, probe::q, probe::k, probe::hidden, probe::cache);

            LanguageModel.Outputs out = m.language().forwardAll(embeds, new int[] {0, 2});
            assertGuarded(out, "Outputs", out::logits, out::states);

            LmPruning plan = new LmPruning(2, 2, new long[] {5}, true, Rollout.Mode.IVTP);
            LmPruning.Result r = m.language().prefillPruned(embeds, new LmPruning.Spans(new long[] {2}, new long[] {8}),
                    ModelTesting.randn(5, h), plan, null);
            Prefill inner = r.prefill();
            assertGuarded(r, "LmPruning.Result", r::prefill, r::steps, r::positions, () -> r.cacheLength(0));
            assertGuarded(inner, "Prefill", inner::lastLogits);  // closed with its result
        }
    }

    @Test
    void pseudoClsResultUseAfterClose() {
        int e = 6, d = 4;
        PseudoCls.Result r = PseudoCls.compute(ModelTesting.randn(6, 2, e), ModelTesting.randn(7, e), new int[] {0, 2},
                new int[] {2, 4}, new int[] {0, 2}, new int[] {2, 4}, ModelTesting.randn(8, 2, d), ModelTesting.randn(9, d),
                PseudoCls.PAPER_TAU);
        assertGuarded(r, "PseudoCls.Result", r::embedding, r::relevance, r::clipRelevance, r::selected, r::fromVisualCls);
    }
}
