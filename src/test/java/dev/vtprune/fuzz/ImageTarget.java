package dev.vtprune.fuzz;

import dev.vtprune.pipeline.image.ImageLoader;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;

/**
 * {@link ImageLoader#load(Path)}, the CLI's image path, on PNG and JPEG files. Invariants of a
 * decoded image: TYPE_INT_RGB, the width and height its header gives (PNG's IHDR, JPEG's SOF),
 * at most MAX_PIXELS pixels. Mutations know both formats: PNG's IHDR fields (size, bit depth,
 * colour type, interlace), its inflated scanlines (re-deflated, CRCs fixed), its chunks
 * (dropped, repeated, reordered, new PLTE / tRNS / unknown ones); JPEG's SOF (size, precision,
 * components, sampling factors) and its segments; then bytes.
 */
public final class ImageTarget extends FileTarget {
    static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    public ImageTarget(Path scratch) {
        super("image", scratch.resolve("fuzz-image.bin"));
    }

    @Override
    void parse(Path file, byte[] input) throws IOException {
        BufferedImage img = ImageLoader.load(file);
        expect(img.getType() == BufferedImage.TYPE_INT_RGB, "type " + img.getType());
        expect(img.getWidth() > 0 && img.getHeight() > 0
                && (long) img.getWidth() * img.getHeight() <= ImageLoader.MAX_PIXELS, img.getWidth() + " x " + img.getHeight());
        int[] size = headerSize(input);
        if (size != null) {
            expect(img.getWidth() == size[0] && img.getHeight() == size[1], "decoded " + img.getWidth() + " x "
                    + img.getHeight() + ", header says " + size[0] + " x " + size[1]);
        }
    }

    /** Width and height from the PNG IHDR or the first JPEG SOF, or null when neither is found (or a JPEG's height is 0: DNL). */
    static int[] headerSize(byte[] b) {
        if (b.length >= 24 && Arrays.equals(Arrays.copyOf(b, 8), PNG_SIGNATURE)) {
            ByteBuffer bb = ByteBuffer.wrap(b);
            return new int[] {bb.getInt(16), bb.getInt(20)};
        }
        int sof = sofOffset(b);
        if (sof < 0 || sof + 9 > b.length) return null;
        int h = ((b[sof + 5] & 0xff) << 8) | (b[sof + 6] & 0xff), w = ((b[sof + 7] & 0xff) << 8) | (b[sof + 8] & 0xff);
        return h == 0 ? null : new int[] {w, h};
    }

    /** Offset of the first SOFn marker (FFC0-FFCF except C4, C8, CC) walking the segments, or -1. */
    static int sofOffset(byte[] b) {
        if (b.length < 4 || (b[0] & 0xff) != 0xff || (b[1] & 0xff) != 0xd8) return -1;
        int i = 2;
        while (i + 4 <= b.length) {
            if ((b[i] & 0xff) != 0xff) return -1;
            int m = b[i + 1] & 0xff;
            if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) return i;
            if (m == 0xda || m == 0xd9) return -1;
            i += 2 + (((b[i + 2] & 0xff) << 8) | (b[i + 3] & 0xff));
        }
        return -1;
    }

    /**
     * What a file of `length` bytes can decode to, with room: deflate expands at most 1032:1, so a
     * PNG holds at most 8 x 1032 pixels per byte (1 bit each); the decoder's image, the RGB copy
     * and its ARGB staging take up to 16 bytes a pixel. JPEG's Huffman coding needs a bit per
     * 8 x 8 block (512 pixels per byte). 128 KiB per input byte covers both.
     */
    @Override
    public long allocationLimit(int length) {
        return (64L << 20) + (128L << 10) * length;
    }

    @Override
    public byte[] mutate(byte[] base, byte[] other, Random rnd) {
        if (rnd.nextInt(4) != 0) {
            byte[] m = Arrays.equals(Arrays.copyOf(base, 8), PNG_SIGNATURE) ? png(base, rnd) : jpeg(base, rnd);
            if (m != null) return rnd.nextInt(4) == 0 ? Mutations.mutate(m, other, rnd, 2) : m;
        }
        return Mutations.mutate(base, other, rnd, 4);
    }

    // ---------------------------------------------------------------- PNG

    record Chunk(String type, byte[] data) {}

    static List<Chunk> chunks(byte[] png) {
        List<Chunk> out = new ArrayList<>();
        int i = 8;
        while (i + 12 <= png.length) {
            int len = ByteBuffer.wrap(png, i, 4).getInt();
            if (len < 0 || i + 12L + len > png.length) return null;
            out.add(new Chunk(new String(png, i + 4, 4, StandardCharsets.ISO_8859_1), Arrays.copyOfRange(png, i + 8, i + 8 + len)));
            i += 12 + len;
        }
        return out;
    }

    static byte[] png(List<Chunk> chunks) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PNG_SIGNATURE);
        for (Chunk c : chunks) {
            byte[] type = c.type.getBytes(StandardCharsets.ISO_8859_1);
            out.writeBytes(ByteBuffer.allocate(4).putInt(c.data.length).array());
            out.writeBytes(type);
            out.writeBytes(c.data);
            CRC32 crc = new CRC32();
            crc.update(type);
            crc.update(c.data);
            out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
        }
        return out.toByteArray();
    }

    private static byte[] png(byte[] base, Random rnd) {
        List<Chunk> cs = chunks(base);
        if (cs == null || cs.isEmpty()) return null;
        cs = new ArrayList<>(cs);
        int ihdr = -1;
        for (int i = 0; i < cs.size(); i++) if (cs.get(i).type.equals("IHDR")) ihdr = i;
        switch (rnd.nextInt(6)) {
            case 0, 1 -> {  // an IHDR field
                if (ihdr < 0 || cs.get(ihdr).data.length < 13) return null;
                byte[] h = cs.get(ihdr).data.clone();
                switch (rnd.nextInt(5)) {
                    case 0 -> Mutations.putInteger(h, rnd.nextBoolean() ? 0 : 4, 4, sizeValue(rnd), true);
                    case 1 -> h[8] = (byte) new int[] {1, 2, 4, 8, 16, 0, 3, 32}[rnd.nextInt(8)];
                    case 2 -> h[9] = (byte) new int[] {0, 2, 3, 4, 6, 1, 5, 7}[rnd.nextInt(8)];
                    case 3 -> h[12] = (byte) rnd.nextInt(3);
                    default -> h[10 + rnd.nextInt(2)] = (byte) rnd.nextInt(3);
                }
                cs.set(ihdr, new Chunk("IHDR", h));
            }
            case 2 -> {  // the scanlines: inflate, mutate, deflate into one IDAT
                ByteArrayOutputStream z = new ByteArrayOutputStream();
                int first = -1;
                for (int i = 0; i < cs.size(); i++) {
                    if (cs.get(i).type.equals("IDAT")) {
                        if (first < 0) first = i;
                        z.writeBytes(cs.get(i).data);
                    }
                }
                byte[] raw = inflate(z.toByteArray());
                if (first < 0 || raw == null) return null;
                raw = raw.length == 0 ? Mutations.randomBytes(rnd, 8) : Mutations.mutate(raw, null, rnd, 3);
                cs.removeIf(c -> c.type.equals("IDAT"));
                cs.add(Math.min(first, cs.size()), new Chunk("IDAT", deflate(raw)));
            }
            case 3 -> {  // drop or repeat a chunk
                int i = rnd.nextInt(cs.size());
                if (rnd.nextBoolean()) cs.remove(i);
                else cs.add(rnd.nextInt(cs.size() + 1), cs.get(i));
            }
            case 4 -> {  // a new chunk: palette, transparency, or unknown
                String type = List.of("PLTE", "tRNS", "gAMA", "sBIT", "zzZz", "IDAT", "IHDR").get(rnd.nextInt(7));
                int len = rnd.nextInt(4) == 0 ? 0 : 1 + rnd.nextInt(rnd.nextBoolean() ? 12 : 800);
                cs.add(1 + rnd.nextInt(cs.size()), new Chunk(type, Mutations.randomBytes(rnd, len)));
            }
            default -> {  // split the data of an IDAT in two
                int i = rnd.nextInt(cs.size());
                Chunk c = cs.get(i);
                if (!c.type.equals("IDAT") || c.data.length < 2) return null;
                int cut = 1 + rnd.nextInt(c.data.length - 1);
                cs.set(i, new Chunk("IDAT", Arrays.copyOf(c.data, cut)));
                cs.add(i + 1, new Chunk("IDAT", Arrays.copyOfRange(c.data, cut, c.data.length)));
            }
        }
        return png(cs);
    }

    /** A width or height: the edges of 31- and 32-bit sizes, MAX_PIXELS-sized squares, small ones. */
    private static long sizeValue(Random rnd) {
        long[] v = {0, 1, 2, 3, 7, 8, 9, 255, 256, 4096, 23170, 23171, 32768, 65535, 65536, 1 << 20, Integer.MAX_VALUE,
            0x80000000L, 0xffffffffL, 536_870_912};
        return v[rnd.nextInt(v.length)];
    }

    static byte[] inflate(byte[] z) {
        Inflater inf = new Inflater();
        try {
            inf.setInput(z);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            while (!inf.finished() && out.size() < (1 << 20)) {
                int n = inf.inflate(buf);
                if (n == 0 && (inf.needsInput() || inf.needsDictionary())) break;
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        } catch (DataFormatException e) {
            return null;
        } finally {
            inf.end();
        }
    }

    static byte[] deflate(byte[] raw) {
        Deflater d = new Deflater();
        try {
            d.setInput(raw);
            d.finish();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            while (!d.finished()) out.write(buf, 0, d.deflate(buf));
            return out.toByteArray();
        } finally {
            d.end();
        }
    }

    // ---------------------------------------------------------------- JPEG

    private static byte[] jpeg(byte[] base, Random rnd) {
        int sof = sofOffset(base);
        if (sof < 0 || sof + 10 > base.length) return null;
        byte[] b = base.clone();
        switch (rnd.nextInt(5)) {
            case 0, 1 -> Mutations.putInteger(b, sof + (rnd.nextBoolean() ? 5 : 7), 2, sizeValue(rnd), true);
            case 2 -> b[sof + 4] = (byte) new int[] {8, 12, 16, 0, 7}[rnd.nextInt(5)];  // precision
            case 3 -> b[sof + 9] = (byte) rnd.nextInt(6);  // component count
            default -> {  // a component's sampling factors or quantisation table
                int comps = b[sof + 9] & 0xff;
                if (comps == 0 || sof + 10 + 3 * comps > b.length) return null;
                int c = sof + 10 + 3 * rnd.nextInt(comps);
                b[c + 1 + rnd.nextInt(2)] = (byte) (rnd.nextBoolean() ? rnd.nextInt(256) : (1 + rnd.nextInt(4)) * 17);
            }
        }
        return b;
    }

    // ---------------------------------------------------------------- seeds

    /**
     * Writes the seed corpus: PNGs of every colour type and several bit depths (grey 1, 2 and 16
     * bits, grey + alpha, RGB, RGBA, a 4-bit palette with tRNS), two of them Adam7-interlaced,
     * written by {@link #encodePng} since the JDK's writer cannot interlace; JPEGs from the JDK's
     * writer: baseline colour (4:2:0), grey, progressive.
     */
    static void writeSeeds(Path dir) {
        try {
            Files.createDirectories(dir);
            Files.write(dir.resolve("rgb8.png"), encodePng(16, 12, 8, 2, false, null, null));
            Files.write(dir.resolve("rgba8-interlaced.png"), encodePng(13, 9, 8, 6, true, null, null));
            Files.write(dir.resolve("grey1.png"), encodePng(17, 5, 1, 0, false, null, null));
            Files.write(dir.resolve("grey2-interlaced.png"), encodePng(10, 7, 2, 0, true, null, null));
            Files.write(dir.resolve("grey16.png"), encodePng(6, 6, 16, 0, false, null, null));
            Files.write(dir.resolve("greyalpha8.png"), encodePng(7, 5, 8, 4, false, null, null));
            byte[] palette = new byte[16 * 3], trns = new byte[16];
            for (int i = 0; i < 16; i++) {
                palette[3 * i] = (byte) (i * 16);
                palette[3 * i + 1] = (byte) (255 - i * 16);
                palette[3 * i + 2] = (byte) (i * 40);
                trns[i] = (byte) (i * 17);
            }
            Files.write(dir.resolve("palette4-trns.png"), encodePng(9, 9, 4, 3, false, palette, trns));
            Files.write(dir.resolve("rgb-baseline.jpg"), jpegOf(rgb(24, 16, BufferedImage.TYPE_INT_RGB), false));
            Files.write(dir.resolve("grey.jpg"), jpegOf(rgb(16, 16, BufferedImage.TYPE_BYTE_GRAY), false));
            Files.write(dir.resolve("progressive.jpg"), jpegOf(rgb(20, 12, BufferedImage.TYPE_INT_RGB), true));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static BufferedImage rgb(int w, int h, int type) {
        BufferedImage img = new BufferedImage(w, h, type);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, (x * 11 << 16) | (y * 13 << 8) | ((x ^ y) * 7));
        return img;
    }

    private static byte[] jpegOf(BufferedImage img, boolean progressive) throws IOException {
        ImageWriter w = ImageIO.getImageWritersByFormatName("jpeg").next();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ImageOutputStream ios = ImageIO.createImageOutputStream(out)) {
            w.setOutput(ios);
            ImageWriteParam p = w.getDefaultWriteParam();
            if (progressive) p.setProgressiveMode(ImageWriteParam.MODE_DEFAULT);
            w.write(null, new IIOImage(img, null, null), p);
        } finally {
            w.dispose();
        }
        return out.toByteArray();
    }

    /** A PNG of a gradient, filter 0 on every row, optionally Adam7-interlaced. */
    static byte[] encodePng(int w, int h, int depth, int colorType, boolean interlaced, byte[] plte, byte[] trns) {
        int channels = switch (colorType) {
            case 2 -> 3;
            case 4 -> 2;
            case 6 -> 4;
            default -> 1;
        };
        int bits = depth * channels;
        int[][] passes = interlaced ? new int[][] {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4},
            {1, 0, 2, 2}, {0, 1, 1, 2}} : new int[][] {{0, 0, 1, 1}};
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        for (int[] p : passes) {
            int pw = (w - p[0] + p[2] - 1) / p[2], ph = (h - p[1] + p[3] - 1) / p[3];
            if (pw <= 0 || ph <= 0) continue;
            for (int py = 0; py < ph; py++) {
                raw.write(0);
                byte[] row = new byte[(pw * bits + 7) / 8];
                long bit = 0;
                for (int px = 0; px < pw; px++) {
                    int x = p[0] + px * p[2], y = p[1] + py * p[3];
                    for (int c = 0; c < channels; c++) {
                        int max = (1 << depth) - 1;
                        int v = (int) (((long) (x * 37 + y * 91 + c * 53) * max / 255) % (max + 1));
                        for (int k = depth - 1; k >= 0; k--, bit++) {
                            if (((v >> k) & 1) != 0) row[(int) (bit >> 3)] |= (byte) (0x80 >> (bit & 7));
                        }
                    }
                }
                raw.writeBytes(row);
            }
        }
        ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(w).putInt(h);
        ihdr.put((byte) depth).put((byte) colorType).put((byte) 0).put((byte) 0).put((byte) (interlaced ? 1 : 0));
        List<Chunk> cs = new ArrayList<>();
        cs.add(new Chunk("IHDR", ihdr.array()));
        if (plte != null) cs.add(new Chunk("PLTE", plte));
        if (trns != null) cs.add(new Chunk("tRNS", trns));
        cs.add(new Chunk("IDAT", deflate(raw.toByteArray())));
        cs.add(new Chunk("IEND", new byte[0]));
        return png(cs);
    }
}
