package dev.vtprune.pipeline.image;

import java.awt.image.BufferedImage;
import java.util.zip.CRC32;

/**
 * Test images shared by the image tests, and the checksum the Pillow reference values use.
 *
 * <p>Reference values marked "Pillow 9.4" were computed with this script's logic in Python
 * (CPython 3.11, Debian's python3-pil 9.4.0): {@code synth(w, h)} draws the same pixels as
 * {@link #synth}, {@code zlib.crc32(image.tobytes())} is {@link #crc}, and InternVL's
 * {@code dynamic_preprocess} / {@code find_closest_aspect_ratio} and LLaVA's
 * {@code expand2square} were copied verbatim from their repositories.
 */
final class TestImages {
    private TestImages() {}

    /** High-frequency content (so that filter over/undershoot and clipping are exercised). */
    static BufferedImage synth(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int r = (x * 7 + y * 13) & 255;
                int g = (x * x + y * 3 + 17) & 255;
                int b = ((x ^ y) * 5 + ((x * y) >> 3)) & 255;
                img.setRGB(x, y, (r << 16) | (g << 8) | b);
            }
        }
        return img;
    }

    /** R, G, B bytes row-major: Pillow's {@code tobytes()} of an RGB image. */
    static byte[] rgbBytes(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        byte[] out = new byte[w * h * 3];
        int[] px = img.getRGB(0, 0, w, h, null, 0, w);
        for (int i = 0; i < px.length; i++) {
            out[3 * i] = (byte) (px[i] >> 16);
            out[3 * i + 1] = (byte) (px[i] >> 8);
            out[3 * i + 2] = (byte) px[i];
        }
        return out;
    }

    static long crc(BufferedImage img) {
        CRC32 c = new CRC32();
        c.update(rgbBytes(img));
        return c.getValue();
    }

    static int rgb(BufferedImage img, int x, int y) {
        return img.getRGB(x, y) & 0xffffff;
    }
}
