package dev.vtprune.pipeline.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import org.junit.jupiter.api.Test;

class SampleImageTest {

    @Test
    void loadsFromTheClassPathAsRgb() throws IOException {
        BufferedImage img = SampleImage.load();
        assertEquals(SampleImage.WIDTH, img.getWidth());
        assertEquals(SampleImage.HEIGHT, img.getHeight());
        assertEquals(1344, img.getWidth());
        assertEquals(896, img.getHeight());
        assertEquals(BufferedImage.TYPE_INT_RGB, img.getType());
        try (InputStream in = SampleImage.class.getResourceAsStream(SampleImage.RESOURCE)) {
            assertNotNull(in);
            long bytes = in.readAllBytes().length;
            assertTrue(bytes < 300 * 1024, "sample.png is " + bytes + " bytes");
        }
    }

    /** The demo relies on tiles that differ: 3 x 2 + thumbnail, every pair far apart in content. */
    @Test
    void tilesOfTheSampleDiffer() {
        Tiling t = DynamicTiler.internVl(448, 1, 12, true).tile(SampleImage.load());
        assertEquals(3, t.cols());
        assertEquals(2, t.rows());
        assertEquals(7, t.size());
        for (int a = 0; a < t.size(); a++) {
            for (int b = a + 1; b < t.size(); b++) {
                double d = meanAbsDifference(t.tiles().get(a), t.tiles().get(b));
                assertTrue(d > 10, "tiles " + a + " and " + b + " differ by only " + d + " levels on average");
            }
        }
    }

    /** The committed PNG is what the generator draws (up to font rendering: the sign's text). */
    @Test
    void committedImageMatchesTheGeneratorOutsideText() {
        BufferedImage committed = SampleImage.load();
        BufferedImage drawn = SampleImageGenerator.generate();
        double d = meanAbsDifference(committed, drawn);
        assertTrue(d < 1.0, "sample.png differs from SampleImageGenerator by " + d + " levels on average");
    }

    private static double meanAbsDifference(BufferedImage a, BufferedImage b) {
        long sum = 0;
        int w = a.getWidth();
        int h = a.getHeight();
        int[] pa = a.getRGB(0, 0, w, h, null, 0, w);
        int[] pb = b.getRGB(0, 0, w, h, null, 0, w);
        for (int i = 0; i < pa.length; i++) {
            for (int s = 0; s <= 16; s += 8) sum += Math.abs(((pa[i] >> s) & 0xff) - ((pb[i] >> s) & 0xff));
        }
        return sum / (3.0 * pa.length);
    }
}
