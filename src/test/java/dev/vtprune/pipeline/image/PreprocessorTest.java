package dev.vtprune.pipeline.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vtprune.model.ModelConfig;
import dev.vtprune.internal.Tensors;
import java.awt.image.BufferedImage;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

class PreprocessorTest {

    /** Two 4 x 4 tiles, every pixel a known colour, a few pixels set apart. */
    private static List<BufferedImage> tiles() {
        BufferedImage a = new BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB);
        BufferedImage b = new BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) {
                a.setRGB(x, y, 0x000000);
                b.setRGB(x, y, 0x808080);
            }
        }
        a.setRGB(1, 0, 0xFF0080);   // tile 0, row 0, column 1: R 255, G 0, B 128
        b.setRGB(3, 2, 0x0A14FF);   // tile 1, row 2, column 3: R 10, G 20, B 255
        return List.of(a, b);
    }

    private static int index(int tile, int channel, int y, int x) {
        return ((tile * 3 + channel) * 4 + y) * 4 + x;
    }

    /**
     * Values against hand computation in exact arithmetic, (p/255 - mean) / std; float32 rounding
     * of the inputs and of each step stays within 1e-6 of it for these magnitudes (< 3).
     */
    @Test
    void imagenetValuesMatchHandComputation() {
        Preprocessor pre = new Preprocessor(Preprocessor.IMAGENET);
        float[] v = pre.values(tiles());
        assertEquals(2 * 3 * 16, v.length);
        double tol = 1e-6;
        assertEquals((1.0 - 0.485) / 0.229, v[index(0, 0, 0, 1)], tol);             // 2.2489083
        assertEquals((0.0 - 0.456) / 0.224, v[index(0, 1, 0, 1)], tol);             // -2.0357143
        assertEquals((128 / 255.0 - 0.406) / 0.225, v[index(0, 2, 0, 1)], tol);     // 0.4264924
        assertEquals((0.0 - 0.485) / 0.229, v[index(0, 0, 3, 3)], tol);             // black: -2.1179039
        assertEquals((10 / 255.0 - 0.485) / 0.229, v[index(1, 0, 2, 3)], tol);
        assertEquals((20 / 255.0 - 0.456) / 0.224, v[index(1, 1, 2, 3)], tol);
        assertEquals((1.0 - 0.406) / 0.225, v[index(1, 2, 2, 3)], tol);             // 2.64
        assertEquals((128 / 255.0 - 0.456) / 0.224, v[index(1, 1, 0, 0)], tol);     // grey
    }

    /** Bit-exact with torchvision's float32 steps: x = p / 255f, then (x - mean) / std. */
    @Test
    void valuesAreTorchvisionsFloat32Steps() {
        Preprocessor pre = new Preprocessor(Preprocessor.IMAGENET);
        float[] v = pre.values(tiles());
        assertEquals((255 / 255f - 0.485f) / 0.229f, v[index(0, 0, 0, 1)]);
        assertEquals((128 / 255f - 0.406f) / 0.225f, v[index(0, 2, 0, 1)]);
        assertEquals((10 / 255f - 0.485f) / 0.229f, v[index(1, 0, 2, 3)]);
        assertEquals((128 / 255f - 0.48145466f) / 0.26862954f, Preprocessor.forModel(
                ModelConfig.preset("llava-1.5-7b")).value(0, 128));
    }

    @Test
    void tensorIsFloat32TilesChannelsRowsColumns() {
        Preprocessor pre = new Preprocessor(Preprocessor.CLIP);
        Tensor t = pre.tensor(tiles());
        try {
            assertEquals(ScalarType.Float, Tensors.scalarType(t));
            assertArrayEquals(new long[] {2, 3, 4, 4}, t.shape());
            assertArrayEquals(pre.values(tiles()), Tensors.toFloats(t));
            float[] v = Tensors.toFloats(t);
            assertEquals((20 / 255.0 - 0.4578275) / 0.26130258, v[index(1, 1, 2, 3)], 1e-6);
            assertEquals((255 / 255.0 - 0.40821073) / 0.27577711, v[index(1, 2, 2, 3)], 1e-6);
        } finally {
            t.close();
        }
    }

    @Test
    void tilingInputKeepsTileOrderWithThumbnailLast() {
        Tiling tiling = DynamicTiler.internVl(8, 1, 4, true).tile(TestImages.synth(16, 8));
        assertEquals(3, tiling.size());
        Preprocessor pre = Preprocessor.forModel(ModelConfig.preset("internvl2-2b"));
        assertSame(Preprocessor.IMAGENET, pre.normalization());
        Tensor t = pre.tensor(tiling);
        try {
            assertArrayEquals(new long[] {3, 3, 8, 8}, t.shape());
            float[] v = Tensors.toFloats(t);
            for (int k = 0; k < 3; k++) {
                int p = tiling.tiles().get(k).getRGB(5, 2);
                int at = ((k * 3 + 1) * 8 + 2) * 8 + 5; // channel G, row 2, column 5
                assertEquals(pre.value(1, (p >> 8) & 0xff), v[at], "tile " + k);
            }
        } finally {
            t.close();
        }
    }

    /** InternVL2's largest input (12 tiles + thumbnail of 448 px) goes through in one array. */
    @Test
    void thirteenFullSizeTiles() {
        Tiling tiling = DynamicTiler.internVl(448, 1, 12, true).tile(TestImages.synth(1792, 1344));
        assertEquals(13, tiling.size());
        Tensor t = new Preprocessor(Preprocessor.IMAGENET).tensor(tiling);
        try {
            assertArrayEquals(new long[] {13, 3, 448, 448}, t.shape());
        } finally {
            t.close();
        }
    }

    @Test
    void badTilesAreRejected() {
        Preprocessor pre = new Preprocessor(Preprocessor.IMAGENET);
        BufferedImage square = new BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB);
        BufferedImage other = new BufferedImage(4, 3, BufferedImage.TYPE_INT_RGB);
        assertEquals("argument 'tiles[1]' must be 4 x 4 like tiles[0], got 4 x 3",
                assertThrows(IllegalArgumentException.class, () -> pre.tensor(List.of(square, other))).getMessage());
        assertEquals("argument 'tiles' must hold at least one image, got none",
                assertThrows(IllegalArgumentException.class, () -> pre.tensor(List.of())).getMessage());
        assertThrows(IllegalArgumentException.class, () -> pre.value(3, 0));
        assertThrows(IllegalArgumentException.class, () -> pre.value(0, 256));
        assertThrows(IllegalArgumentException.class,
                () -> new Preprocessor.Normalization("x", new double[] {0, 0}, new double[] {1, 1, 1}));
        assertThrows(IllegalArgumentException.class,
                () -> new Preprocessor.Normalization("x", new double[] {0, 0, 0}, new double[] {1, 0, 1}));
    }
}
