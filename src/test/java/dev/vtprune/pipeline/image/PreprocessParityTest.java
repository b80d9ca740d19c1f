package dev.vtprune.pipeline.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vtprune.io.Safetensors;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import dev.vtprune.testing.Python;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * InternVL2's dynamic tiling + ImageNet normalisation and LLaVA-1.5's pad-to-square + CLIP
 * processor, here and in the numpy reference of tools/reference/preprocess_reference.py (the
 * processors' math, Pillow's fixed-point bicubic included, written without vtprune code), on
 * photo-like images of awkward sizes: 1 x 1, 7 x 3000, 4000 x 3000 (the bundled sample photo
 * scaled to the size, plus noise). The pixel values must be identical. Needs /usr/bin/python3
 * with numpy and torch (Debian's python3-torch, as .ci/run installs); skipped without.
 */
class PreprocessParityTest {
    @TempDir
    Path dir;

    static final int[][] SIZES = {{1, 1}, {7, 3000}, {4000, 3000}};

    @Test
    void pixelValuesEqualTheReferenceProcessors() throws Exception {
        assumeTrue(Python.canImport("numpy", "torch"), "preprocessing parity skipped: /usr/bin/python3 cannot import numpy "
                + "and torch. To run it: apt-get install -y --no-install-recommends python3-torch, then mvn test");
        DynamicTiler intern = DynamicTiler.internVl(448, 1, 12, true), llava = DynamicTiler.llava(336);
        Preprocessor imagenet = new Preprocessor(Preprocessor.IMAGENET), clip = new Preprocessor(Preprocessor.CLIP);
        for (int[] size : SIZES) {
            BufferedImage img = photo(size[0], size[1], size[0] * 31L + size[1]);
            Map<String, Tensor> t = new LinkedHashMap<>();
            t.put("image", Tensor.create(TestImages.rgbBytes(img), size[1], size[0], 3).view(ScalarType.Byte));
            t.put("internvl", imagenet.tensor(intern.tile(img)));
            t.put("llava", clip.tensor(llava.tile(img)));
            t.put("settings", Tensor.create(new long[] {448, 1, 12, 1, 336}));
            Safetensors.write(dir.resolve(size[0] + "x" + size[1] + ".safetensors"), t);
        }
        Python.Result r = Python.run(600, "tools/reference/preprocess_reference.py", "compare", dir.toString());
        System.out.println(r.output());
        assertEquals(0, r.code(), r.output());
    }

    /** The sample photo scaled to w x h (Java2D bilinear), with +-24 levels of seeded noise. */
    static BufferedImage photo(int w, int h, long seed) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.drawImage(SampleImage.load(), 0, 0, w, h, null);
        } finally {
            g.dispose();
        }
        Random r = new Random(seed);
        int[] px = img.getRGB(0, 0, w, h, null, 0, w);
        for (int i = 0; i < px.length; i++) {
            int v = 0;
            for (int shift = 16; shift >= 0; shift -= 8) {
                int c = Math.max(0, Math.min(255, ((px[i] >> shift) & 255) + r.nextInt(49) - 24));
                v = (v << 8) | c;
            }
            px[i] = v;
        }
        img.setRGB(0, 0, w, h, px, 0, w);
        return img;
    }
}
