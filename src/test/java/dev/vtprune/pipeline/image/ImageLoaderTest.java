package dev.vtprune.pipeline.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageLoaderTest {

    @TempDir
    Path dir;

    private static byte[] encode(BufferedImage img, String format) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(img, format, out), "no writer for " + format);
        return out.toByteArray();
    }

    private Path file(String name, byte[] bytes) throws IOException {
        return Files.write(dir.resolve(name), bytes);
    }

    private static String error(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }

    @Test
    void pngRoundTripIsExact() throws IOException {
        BufferedImage src = TestImages.synth(37, 23);
        BufferedImage img = ImageLoader.load(file("a.png", encode(src, "png")));
        assertEquals(BufferedImage.TYPE_INT_RGB, img.getType());
        assertArrayEquals(TestImages.rgbBytes(src), TestImages.rgbBytes(img));
    }

    @Test
    void jpegLoadsCloseToTheOriginal() throws IOException {
        BufferedImage src = new BufferedImage(64, 48, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 48; y++) {
            for (int x = 0; x < 64; x++) src.setRGB(x, y, (x * 4) << 16 | (y * 5) << 8 | 90);
        }
        BufferedImage img = ImageLoader.load(file("a.jpg", encode(src, "jpeg")));
        assertEquals(64, img.getWidth());
        assertEquals(48, img.getHeight());
        assertEquals(BufferedImage.TYPE_INT_RGB, img.getType());
        int worst = 0;
        for (int y = 0; y < 48; y++) {
            for (int x = 0; x < 64; x++) {
                int a = src.getRGB(x, y);
                int b = img.getRGB(x, y);
                for (int s = 0; s <= 16; s += 8) {
                    worst = Math.max(worst, Math.abs(((a >> s) & 0xff) - ((b >> s) & 0xff)));
                }
            }
        }
        assertTrue(worst <= 12, "JPEG of a smooth gradient is off by " + worst + " levels");
    }

    @Test
    void alphaIsCompositedOnWhite() throws IOException {
        BufferedImage src = new BufferedImage(3, 1, BufferedImage.TYPE_INT_ARGB);
        src.setRGB(0, 0, 0x00000000);   // transparent black -> white
        src.setRGB(1, 0, 0x80FF0000);   // half-transparent red
        src.setRGB(2, 0, 0xFF102030);   // opaque: unchanged
        BufferedImage img = ImageLoader.load(file("alpha.png", encode(src, "png")));
        assertEquals(0xFFFFFF, TestImages.rgb(img, 0, 0));
        // (c*a + 255*(255-a) + 127) / 255 with a = 128: R (255*128 + 255*127 + 127) / 255 = 255,
        // G and B (255*127 + 127) / 255 = 127.
        assertEquals(0xFF7F7F, TestImages.rgb(img, 1, 0));
        assertEquals(0x102030, TestImages.rgb(img, 2, 0));
    }

    /** Raw grey levels, as Pillow's convert("RGB"); Java2D's colour conversion would give 188 for 128. */
    @Test
    void greyIsReplicatedNotColourConverted() throws IOException {
        BufferedImage g8 = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_GRAY);
        g8.getRaster().setSample(0, 0, 0, 128);
        g8.getRaster().setSample(1, 0, 0, 7);
        BufferedImage img = ImageLoader.load(file("grey.png", encode(g8, "png")));
        assertEquals(0x808080, TestImages.rgb(img, 0, 0));
        assertEquals(0x070707, TestImages.rgb(img, 1, 0));

        BufferedImage g16 = new BufferedImage(2, 1, BufferedImage.TYPE_USHORT_GRAY);
        g16.getRaster().setSample(0, 0, 0, 65535);
        g16.getRaster().setSample(1, 0, 0, 32896); // 128 * 257: 8-bit level 128
        BufferedImage img16 = ImageLoader.load(file("grey16.png", encode(g16, "png")));
        assertEquals(0xFFFFFF, TestImages.rgb(img16, 0, 0));
        assertEquals(0x808080, TestImages.rgb(img16, 1, 0));
    }

    @Test
    void palettePngLoads() throws IOException {
        BufferedImage indexed = new BufferedImage(4, 4, BufferedImage.TYPE_BYTE_INDEXED);
        indexed.setRGB(1, 1, 0xFF0000);
        BufferedImage img = ImageLoader.load(file("p.png", encode(indexed, "png")));
        assertEquals(0xFF0000, TestImages.rgb(img, 1, 1));
    }

    @Test
    void streamsAndByteArraysLoadAndAreNamedInErrors() throws IOException {
        byte[] png = encode(TestImages.synth(5, 4), "png");
        assertEquals(5, ImageLoader.load(new java.io.ByteArrayInputStream(png), "upload #1").getWidth());
        assertEquals(4, ImageLoader.load(png, "bytes").getHeight());
        assertEquals("cannot load image 'upload #2': is not a PNG or JPEG image (unrecognised content)",
                error(() -> ImageLoader.load("hello".getBytes(StandardCharsets.US_ASCII), "upload #2")));
    }

    @Test
    void missingFileAndDirectoryAreNamed() {
        Path missing = dir.resolve("nope.png");
        assertEquals("cannot load image '" + missing + "': file does not exist",
                error(() -> ImageLoader.load(missing)));
        assertEquals("cannot load image '" + dir + "': is a directory, not an image file",
                error(() -> ImageLoader.load(dir)));
        assertEquals("argument 'file' must not be null, got null", error(() -> ImageLoader.load((Path) null)));
    }

    @Test
    void emptyAndNonImageFilesAreNamed() throws IOException {
        Path empty = file("empty.png", new byte[0]);
        assertEquals("cannot load image '" + empty + "': is empty (0 bytes)", error(() -> ImageLoader.load(empty)));
        Path text = file("notes.png", "just some text, not pixels".getBytes(StandardCharsets.US_ASCII));
        assertEquals("cannot load image '" + text + "': is not a PNG or JPEG image (unrecognised content)",
                error(() -> ImageLoader.load(text)));
    }

    @Test
    void otherFormatsAreUnsupported() throws IOException {
        BufferedImage img = TestImages.synth(6, 6);
        Path gif = file("a.gif", encode(img, "gif"));
        assertEquals("cannot load image '" + gif + "': has unsupported format 'gif' (PNG and JPEG are supported)",
                error(() -> ImageLoader.load(gif)));
        Path bmp = file("a.bmp", encode(img, "bmp"));
        assertTrue(error(() -> ImageLoader.load(bmp)).contains("unsupported format 'bmp'"));
    }

    @Test
    void truncatedFilesAreRefused() throws IOException {
        byte[] png = encode(TestImages.synth(200, 150), "png");
        Path half = file("half.png", Arrays.copyOf(png, png.length / 2));
        String m = error(() -> ImageLoader.load(half));
        assertTrue(m.startsWith("cannot load image '" + half + "': cannot be decoded as PNG (truncated or corrupt"), m);
        Path header = file("header.png", Arrays.copyOf(png, 20));
        assertEquals("cannot load image '" + header + "': is a truncated PNG file (it ends inside its header)",
                error(() -> ImageLoader.load(header)));

        byte[] jpeg = encode(TestImages.synth(200, 150), "jpeg");
        Path cut = file("cut.jpg", Arrays.copyOf(jpeg, jpeg.length * 2 / 3));
        String j = error(() -> ImageLoader.load(cut));
        assertTrue(j.startsWith("cannot load image '" + cut + "': is a truncated JPEG file"), j);
    }

    @Test
    void zeroSizeImageIsNamed() throws IOException {
        Path zero = file("zero.png", pngHeaderOnly(0, 10));
        assertEquals("cannot load image '" + zero + "': is a zero-size image (0 x 10 pixels in its PNG header)",
                error(() -> ImageLoader.load(zero)));
    }

    /**
     * Fuzz findings (src/test/resources/fuzz/image/regressions): files of a few hundred bytes
     * whose headers declare tens of millions of pixels made the decoders allocate 94-210 MB of
     * heap before failing on the missing data. They are refused from the header, naming the
     * declared size, the file size and the limit, with almost no allocation.
     */
    @Test
    void filesTooSmallForTheirDeclaredSizeAreRefusedBeforeDecoding() throws IOException {
        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        Path regressions = Path.of("src/test/resources/fuzz/image/regressions");
        String[][] cases = {
            {"png-8519687x5-in-268-bytes.png", "PNG header declares 8519687 x 5 pixels, more than a 268-byte file can hold"
                + " (at most 8256 pixels per byte, 2212608 here)"},
            {"png-6x7798790-in-183-bytes.png", "PNG header declares 6 x 7798790 pixels, more than a 183-byte file"},
            {"jpeg-255x23171-in-921-bytes.jpg", "JPEG header declares 255 x 23171 pixels, more than a 921-byte file can"
                + " hold (at most 2048 pixels per byte, 1886208 here)"},
        };
        for (String[] c : cases) {
            Path f = regressions.resolve(c[0]);
            long before = threads.getCurrentThreadAllocatedBytes();
            String m = error(() -> ImageLoader.load(f));
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertTrue(m.startsWith("cannot load image '" + f + "': is truncated or corrupt: its " + c[1]), m);
            assertTrue(allocated < 16 << 20, c[0] + ": " + allocated + " bytes allocated");
            byte[] bytes = Files.readAllBytes(f);  // the in-memory and stream paths know the size too
            assertTrue(error(() -> ImageLoader.load(bytes, "b")).startsWith("cannot load image 'b': is truncated or corrupt"));
            assertTrue(error(() -> ImageLoader.load(new java.io.ByteArrayInputStream(bytes), "s"))
                    .startsWith("cannot load image 's': is truncated or corrupt"));
        }
    }

    /**
     * The bound never refuses a complete file: a flat 1-bit PNG at deflate's best (the densest
     * PNG there is, close to the 8,256 pixels per byte) and a flat white JPEG at the lowest
     * quality load.
     */
    @Test
    void theDensestCompleteFilesStillLoad() throws IOException {
        BufferedImage flat = new BufferedImage(2048, 2048, BufferedImage.TYPE_BYTE_BINARY);
        byte[] png = smallest(flat, "png");  // deflate level 9
        double perByte = 2048.0 * 2048 / png.length;
        assertTrue(perByte > 1000 && perByte < ImageLoader.MAX_PNG_PIXELS_PER_BYTE, perByte + " pixels per byte");
        assertEquals(2048, ImageLoader.load(file("flat.png", png)).getWidth());

        BufferedImage white = new BufferedImage(1600, 1200, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 1200; y++) for (int x = 0; x < 1600; x++) white.setRGB(x, y, 0xffffff);
        byte[] jpeg = smallest(white, "jpeg");  // quality 0
        double jPerByte = 1600.0 * 1200 / jpeg.length;
        assertTrue(jPerByte < ImageLoader.MAX_JPEG_PIXELS_PER_BYTE, jPerByte + " pixels per byte");
        assertEquals(1200, ImageLoader.load(file("white.jpg", jpeg)).getHeight());
    }

    /** `img` written by the JDK's writer at its strongest compression (compression quality 0). */
    private static byte[] smallest(BufferedImage img, String format) throws IOException {
        javax.imageio.ImageWriter w = ImageIO.getImageWritersByFormatName(format).next();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (var ios = ImageIO.createImageOutputStream(out)) {
            w.setOutput(ios);
            javax.imageio.ImageWriteParam p = w.getDefaultWriteParam();
            p.setCompressionMode(javax.imageio.ImageWriteParam.MODE_EXPLICIT);
            p.setCompressionQuality(0f);
            w.write(null, new javax.imageio.IIOImage(img, null, null), p);
        } finally {
            w.dispose();
        }
        return out.toByteArray();
    }

    /** A PNG signature, an IHDR chunk of the given size (8-bit RGB) and IEND, CRCs correct. */
    private static byte[] pngHeaderOnly(int width, int height) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10});
        chunk(out, "IHDR", ByteBuffer.allocate(13).putInt(width).putInt(height).put((byte) 8).put((byte) 2)
                .put((byte) 0).put((byte) 0).put((byte) 0).array());
        chunk(out, "IEND", new byte[0]);
        return bytes.toByteArray();
    }

    private static void chunk(DataOutputStream out, String type, byte[] data) throws IOException {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        out.writeInt(data.length);
        out.write(t);
        out.write(data);
        out.writeInt((int) crc.getValue());
    }
}
