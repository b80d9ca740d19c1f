package dev.vtprune.model;

import static dev.vtprune.model.ModelTesting.assertMessage;
import static dev.vtprune.model.ModelTesting.assertShape;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.vtprune.internal.Tensors;
import dev.vtprune.testing.Approx;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ProjectorTest {

    /** Patch (r, c) of a g x g grid with C channels holds r*100 + c*10 + channel. */
    private static Tensor codedGrid(int tiles, int g, int channels) {
        float[] v = new float[tiles * g * g * channels];
        for (int t = 0; t < tiles; t++) {
            for (int r = 0; r < g; r++) {
                for (int c = 0; c < g; c++) {
                    for (int ch = 0; ch < channels; ch++) {
                        v[((t * g + r) * g + c) * channels + ch] = 1000 * t + r * 100 + c * 10 + ch;
                    }
                }
            }
        }
        return Tensors.floats(v, tiles, (long) g * g, channels);
    }

    /**
     * InternVL's pixel_shuffle(0.5), ps_version v2, on a 4 x 4 grid of 2-channel patches, written
     * out by hand: token p*2+q holds patches (2p+a, 2q+b), channels ordered (a, b, channel).
     */
    @Test
    void pixelShuffleMatchesTheHandComputedMapping() {
        Tensor merged = Projector.pixelShuffle(codedGrid(1, 4, 2), 2);
        assertShape(merged, 1, 4, 8);
        float[] want = {
            0, 1, 10, 11, 100, 101, 110, 111,          // token 0: patches (0,0) (0,1) (1,0) (1,1)
            20, 21, 30, 31, 120, 121, 130, 131,        // token 1: patches (0,2) (0,3) (1,2) (1,3)
            200, 201, 210, 211, 300, 301, 310, 311,    // token 2: patches (2,0) (2,1) (3,0) (3,1)
            220, 221, 230, 231, 320, 321, 330, 331};   // token 3: patches (2,2) (2,3) (3,2) (3,3)
        assertArrayEquals(want, Tensors.toFloats(merged));
    }

    /** The same rule for other merge factors, grids and several tiles (and m = 1 is the identity). */
    @ParameterizedTest(name = "grid {0} merge {1}")
    @org.junit.jupiter.params.provider.CsvSource({"6, 3", "6, 2", "5, 1", "8, 4"})
    void pixelShuffleFollowsTheIndexRule(int g, int m) {
        int tiles = 2, ch = 3, s = g / m;
        float[] got = Tensors.toFloats(Projector.pixelShuffle(codedGrid(tiles, g, ch), m));
        assertArrayEquals(new long[] {tiles, (long) s * s, (long) m * m * ch},
                Projector.pixelShuffle(codedGrid(tiles, g, ch), m).shape());
        for (int t = 0; t < tiles; t++) {
            for (int p = 0; p < s; p++) {
                for (int q = 0; q < s; q++) {
                    for (int a = 0; a < m; a++) {
                        for (int b = 0; b < m; b++) {
                            for (int c = 0; c < ch; c++) {
                                float want = 1000 * t + (m * p + a) * 100 + (m * q + b) * 10 + c;
                                int at = ((t * s * s + p * s + q) * m * m + a * m + b) * ch + c;
                                if (got[at] != want) {
                                    throw new AssertionError("tile " + t + " token (" + p + "," + q + ") a=" + a
                                            + " b=" + b + " c=" + c + ": got " + got[at] + ", want " + want);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** Projector against float64: InternVL (shuffle, LayerNorm, MLP) and LLaVA (MLP), real key names. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tiny", "tiny-llava"})
    void forwardMatchesTheFloat64Oracle(String preset) {
        ModelConfig c = ModelConfig.preset(preset);
        ModelConfig.Vision v = c.vision();
        ModelConfig.Projector pc = c.projector();
        TestCheckpoint ck = TestCheckpoint.of(c, 31);
        boolean internVl = c.family() != ModelConfig.Family.LLAVA;
        Map<String, Tensor> w = ck.hf;
        String fc1 = internVl ? "mlp1.1." : "multi_modal_projector.linear_1.";
        String fc2 = internVl ? "mlp1.3." : "multi_modal_projector.linear_2.";
        int tiles = 2, tokens = v.tokensPerTile();
        Tensor patches = ModelTesting.randn(32, tiles, v.patches(), v.hidden());
        try (Lvlm m = ModelTesting.load(ck, c)) {
            Tensor out = m.projector().forward(patches);
            assertShape(out, tiles, tokens, pc.out());
            double[] x = Tensors.toDoubles(internVl ? Projector.pixelShuffle(patches, v.merge()) : patches);
            int n = tiles * tokens;
            if (internVl) {
                x = Oracle64.layerNorm(x, n, pc.in(), Oracle64.d(w.get("mlp1.0.weight")),
                        Oracle64.d(w.get("mlp1.0.bias")), 1e-5);
            }
            double[] hdn = Oracle64.linear(x, n, pc.in(), Oracle64.d(w.get(fc1 + "weight")),
                    Oracle64.d(w.get(fc1 + "bias")), pc.hidden());
            for (int i = 0; i < hdn.length; i++) hdn[i] = Oracle64.gelu(hdn[i]);
            double[] want = Oracle64.linear(hdn, n, pc.hidden(), Oracle64.d(w.get(fc2 + "weight")),
                    Oracle64.d(w.get(fc2 + "bias")), pc.out());
            Approx.assertClose(want, Tensors.toDoubles(out), 1e-4, 1e-4, preset + " projector");
        }
    }

    @Test
    void pixelShuffleRejectsBadGrids() {
        assertMessage(() -> Projector.pixelShuffle(ModelTesting.randn(1, 1, 15, 4), 2),
                "'patches' must hold a square patch grid");
        assertMessage(() -> Projector.pixelShuffle(ModelTesting.randn(1, 1, 9, 4), 2),
                "'merge' must divide the patch grid side 3");
        assertMessage(() -> Projector.pixelShuffle(ModelTesting.randn(1, 1, 16, 4), 0), "'merge' must be >= 1");
    }
}
