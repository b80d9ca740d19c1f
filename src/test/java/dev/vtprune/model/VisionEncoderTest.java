package dev.vtprune.model;

import static dev.vtprune.model.ModelTesting.assertFinite;
import static dev.vtprune.model.ModelTesting.assertMessage;
import static dev.vtprune.model.ModelTesting.assertShape;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.vtprune.model.ModelConfig.Family;
import dev.vtprune.ops.Backend;
import dev.vtprune.ops.ClsSaliency;
import dev.vtprune.ops.Reduce;
import dev.vtprune.internal.Tensors;
import dev.vtprune.testing.Approx;
import java.util.Arrays;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class VisionEncoderTest {

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tiny", "tiny-llava", "tiny-qwen2"})
    void everyStageHasTheDocumentedShape(String preset) {
        ModelConfig c = ModelConfig.preset(preset);
        ModelConfig.Vision v = c.vision();
        try (Lvlm m = RandomWeights.create(c, 11, ScalarType.Float)) {
            Tensor pixels = ModelTesting.randn(12, 3, 3, v.imageSize(), v.imageSize());
            try (VisionOutput out = m.vision().forward(pixels, 1)) {
                assertShape(out.patches(), 3, v.patches(), v.hidden());
                assertShape(out.cls(), 3, v.hidden());
                assertShape(out.probeQCls(), 3, v.heads(), v.headDim());
                assertShape(out.probeK(), 3, v.heads(), 1 + v.patches(), v.headDim());
                assertFinite(out.patches(), "patches");
                Tensor tokens = m.projector().forward(out.patches());
                assertShape(tokens, 3, v.tokensPerTile(), c.language().hidden());
                assertFinite(tokens, "projected tokens");
                // The probe feeds PTP's saliency op directly: one score per merged token.
                assertShape(ClsSaliency.fromQk(out.probeQCls(), out.probeK(), v.merge(), Double.NaN, Reduce.MEAN,
                        Backend.LIBTORCH), 3, v.tokensPerTile());
            }
            try (VisionOutput out = m.vision().forward(pixels)) {
                assertNull(out.probeQCls());
                assertNull(out.probeK());
            }
        }
    }

    /**
     * The whole encoder against a naive float64 implementation written from the HF modules
     * (InternViT and CLIP), on a checkpoint with real key names; and the probe's q/k against
     * the oracle's CLS attention row of that layer, for the first and the last layer. Tolerances:
     * float32 against float64 through 2 layers of width 32 (states ~1, errors ~1e-6); the
     * attention row is a softmax of O(1) logits, compared at the 1e-5 the probe must meet.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tiny", "tiny-llava"})
    void matchesTheFloat64OracleAndTheProbeGivesTheClsRow(String preset) {
        ModelConfig c = ModelConfig.preset(preset);
        ModelConfig.Vision v = c.vision();
        TestCheckpoint ck = TestCheckpoint.of(c, 21);
        String prefix = c.family() == Family.LLAVA ? "vision_tower.vision_model." : "vision_model.";
        int tiles = 2, n = 1 + v.patches(), h = v.hidden(), pixelsPerTile = 3 * v.imageSize() * v.imageSize();
        Tensor pixels = ModelTesting.randn(22, tiles, 3, v.imageSize(), v.imageSize());
        double[] px = Tensors.toDoubles(pixels);
        try (Lvlm m = ModelTesting.load(ck, c)) {
            for (int probe : new int[] {0, v.layers() - 1}) {
                try (VisionOutput out = m.vision().forward(pixels, probe)) {
                    double[] patches = Tensors.toDoubles(out.patches()), cls = Tensors.toDoubles(out.cls());
                    double[] q = Tensors.toDoubles(out.probeQCls()), k = Tensors.toDoubles(out.probeK());
                    int qPer = v.heads() * v.headDim(), kPer = v.heads() * n * v.headDim();
                    for (int t = 0; t < tiles; t++) {
                        Oracle64.VitResult want = Oracle64.vit(c, ck.hf, prefix,
                                Arrays.copyOfRange(px, t * pixelsPerTile, (t + 1) * pixelsPerTile), probe);
                        String what = preset + " tile " + t + " probe " + probe;
                        Approx.assertClose(Arrays.copyOfRange(want.states(), h, n * h),
                                Arrays.copyOfRange(patches, t * (n - 1) * h, (t + 1) * (n - 1) * h), 1e-4, 1e-4,
                                what + " patches");
                        Approx.assertClose(Arrays.copyOfRange(want.states(), 0, h),
                                Arrays.copyOfRange(cls, t * h, (t + 1) * h), 1e-4, 1e-4, what + " cls");
                        double[] rows = ModelTesting.clsRows(Arrays.copyOfRange(q, t * qPer, (t + 1) * qPer),
                                Arrays.copyOfRange(k, t * kPer, (t + 1) * kPer), v.heads(), n, v.headDim());
                        Approx.assertClose(want.clsRows(), rows, 1e-5, 0, what + " CLS attention row");
                    }
                }
            }
        }
    }

    @Test
    void badInputsGiveClearErrors() {
        ModelConfig c = ModelConfig.preset("tiny");
        try (Lvlm m = RandomWeights.create(c, 1, ScalarType.Float)) {
            VisionEncoder vit = m.vision();
            assertMessage(() -> vit.forward(ModelTesting.randn(1, 2, 3, 48, 48), -1),
                    "'pixels' must have shape [2, 3, 56, 56]", "float32[2, 3, 48, 48]");
            assertMessage(() -> vit.forward(ModelTesting.randn(1, 3, 56, 56), -1), "'pixels' must have rank 4");
            assertMessage(() -> vit.forward(ModelTesting.randn(1, 1, 3, 56, 56), 2), "'probeLayer' must be in [-1, 1]",
                    "got 2");
            assertMessage(() -> m.projector().forward(ModelTesting.randn(1, 1, 16, 31)),
                    "'patches' must have shape [1, 16, 32]");
        }
    }
}
