package dev.vtprune.pipeline.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.awt.image.BufferedImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The resampler against Pillow 9.4's {@code Image.resize(size)} (bicubic), see {@link TestImages}. */
class BicubicResamplerTest {

    @Test
    void shrinkMatchesPillowByteForByte() {
        // Pillow 9.4: list(synth(53, 31).resize((7, 5)).tobytes())
        int[] expected = {60, 42, 19, 112, 135, 57, 176, 129, 97, 191, 138, 139, 86, 125, 184, 65, 116, 202, 121, 123,
            128, 143, 61, 45, 194, 142, 41, 148, 120, 133, 66, 124, 147, 85, 143, 146, 152, 108, 157, 193, 135, 145,
            184, 81, 80, 99, 148, 88, 62, 127, 119, 118, 128, 132, 184, 124, 66, 177, 126, 109, 88, 133, 129, 65, 102,
            117, 87, 153, 157, 154, 117, 87, 195, 130, 110, 131, 121, 108, 60, 144, 136, 96, 136, 93, 119, 122, 146,
            177, 149, 138, 189, 127, 124, 81, 122, 113, 66, 128, 149, 129, 139, 155, 183, 133, 140};
        byte[] actual = TestImages.rgbBytes(BicubicResampler.resize(TestImages.synth(53, 31), 7, 5));
        int[] unsigned = new int[actual.length];
        for (int i = 0; i < actual.length; i++) unsigned[i] = actual[i] & 0xff;
        assertArrayEquals(expected, unsigned);
    }

    /** Up, down, mixed, one axis only, extreme ratios, a 1 x 1 source; CRC32 of Pillow's bytes. */
    @ParameterizedTest(name = "{0}x{1} -> {2}x{3}")
    @CsvSource({
        "53, 31, 120, 77, 546783769",
        "53, 31, 53, 10, 376009074",
        "53, 31, 11, 31, 3032529836",
        "300, 200, 448, 448, 485526435",
        "1000, 130, 448, 448, 4118234390",
        "17, 400, 96, 64, 1870251960",
        "1, 1, 5, 3, 3369717854",
    })
    void matchesPillowChecksums(int sw, int sh, int dw, int dh, long pillowCrc) {
        BufferedImage out = BicubicResampler.resize(TestImages.synth(sw, sh), dw, dh);
        assertEquals(dw, out.getWidth());
        assertEquals(dh, out.getHeight());
        assertEquals(pillowCrc, TestImages.crc(out));
    }

    @Test
    void sameSizeIsAnExactCopy() {
        BufferedImage src = TestImages.synth(20, 9);
        BufferedImage out = BicubicResampler.resize(src, 20, 9);
        assertNotSame(src, out);
        assertArrayEquals(TestImages.rgbBytes(src), TestImages.rgbBytes(out));
    }

    @Test
    void emptyTargetIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BicubicResampler.resize(TestImages.synth(4, 4), 0, 3));
        assertEquals("argument 'size' must be at least 1 x 1, got 0 x 3", e.getMessage());
    }
}
