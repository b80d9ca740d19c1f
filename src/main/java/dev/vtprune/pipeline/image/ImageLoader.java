package dev.vtprune.pipeline.image;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.FileImageInputStream;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Reads PNG and JPEG files into 8-bit RGB images ({@code TYPE_INT_RGB}) with the JDK's own
 * decoders, so the library needs no imaging dependency.
 *
 * <p>What the pixels are, and where they differ from the Python reference ({@code
 * Image.open(f).convert("RGB")} with Pillow):
 * <ul>
 *   <li>Transparent pixels are composited on white ({@code c' = (c*a + 255*(255-a) + 127) / 255});
 *       Pillow's {@code convert("RGB")} drops the alpha channel instead, which shows whatever
 *       colour transparent pixels happen to store (often black). White is what a person sees
 *       in a viewer, and so what a question about the image refers to.</li>
 *   <li>Grey-scale images are replicated into R = G = B from the raw samples, as Pillow does.
 *       (Java2D would treat them as linear grey and brighten mid-tones: 128 becomes 188.)
 *       16-bit samples are rounded to 8 bits.</li>
 *   <li>EXIF orientation is ignored, as in Pillow's {@code open}; JPEG decoding (IDCT, chroma
 *       upsampling) may differ from libjpeg-turbo's by a few levels on some pixels.</li>
 * </ul>
 *
 * <p>Every failure is an {@link IllegalArgumentException} whose message names the file (or
 * stream) and what is wrong: missing, a directory, unreadable, empty, not an image, a format
 * other than PNG or JPEG, a zero-size or oversized image, a header declaring more pixels than
 * the file can hold, truncated or corrupt data.
 */
public final class ImageLoader {
    private ImageLoader() {}

    /**
     * Images with more pixels are refused rather than risk running out of memory: Pillow's
     * {@code DecompressionBombError} threshold (2 x {@code MAX_IMAGE_PIXELS}).
     */
    public static final long MAX_PIXELS = 2L * (1024L * 1024 * 1024 / 4 / 3);

    /**
     * The most pixels a complete PNG file can hold per byte of its size: deflate expands at most
     * 1032:1 and a pixel takes at least 1 bit of the inflated scanlines, so 8 x 1032 (a flat 1-bit
     * image, the best case). An image declaring more pixels than its file can hold (this or
     * {@link #MAX_JPEG_PIXELS_PER_BYTE} times the file size) is refused as truncated or corrupt
     * before its pixels are allocated: a 300-byte file declaring 8 million pixels would otherwise
     * cost the decoder hundreds of MB of heap before it notices the data is missing. Real files
     * are orders of magnitude below either bound (photos and screenshots: 1-50 pixels per byte,
     * a flat low-quality JPEG under 100), so only files whose data cannot be there are refused.
     */
    public static final long MAX_PNG_PIXELS_PER_BYTE = 8L * 1032;

    /**
     * The most pixels a complete JPEG file can hold per byte. The JDK decodes Huffman-coded JPEG
     * only (no arithmetic coding), where every 8 x 8 block of a component takes at least one bit
     * in its DC scan; the component with the largest horizontal sampling factor spans the full
     * width and at least a quarter of the height (vertical sampling factors are 1 to 4), so it
     * alone has at least width x height / 256 blocks: at most 256 x 8 = 2,048 pixels per byte.
     */
    public static final long MAX_JPEG_PIXELS_PER_BYTE = 256L * 8;

    /** Reads the PNG or JPEG file at {@code file}. */
    public static BufferedImage load(Path file) {
        if (file == null) throw new IllegalArgumentException("argument 'file' must not be null, got null");
        String name = "'" + file + "'";
        if (!Files.exists(file)) throw failure(name, "file does not exist");
        if (Files.isDirectory(file)) throw failure(name, "is a directory, not an image file");
        if (!Files.isReadable(file)) throw failure(name, "file is not readable (permissions)");
        try (ImageInputStream in = new FileImageInputStream(file.toFile())) {
            return decode(in, name, Files.size(file));
        } catch (IOException e) {
            throw failure(name, "cannot read the file: " + e.getMessage(), e);
        }
    }

    /**
     * Reads a PNG or JPEG image from {@code in} (not closed here); {@code name} says in error
     * messages where the bytes came from, e.g. a URL or a resource path.
     */
    public static BufferedImage load(InputStream in, String name) {
        if (in == null) throw new IllegalArgumentException("argument 'in' must not be null, got null");
        // Read into memory (not a temporary file, as ImageIO.createImageInputStream may do): the
        // decoder would cache it all anyway, and the size bounds the pixels (MAX_PIXELS_PER_BYTE).
        byte[] bytes;
        try {
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw failure(label(name), "cannot read the stream: " + e.getMessage(), e);
        }
        return load(bytes, name);
    }

    /** Reads a PNG or JPEG image held in memory; {@code name} labels error messages. */
    public static BufferedImage load(byte[] bytes, String name) {
        if (bytes == null) throw new IllegalArgumentException("argument 'bytes' must not be null, got null");
        String label = label(name);
        try (ImageInputStream stream = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            return decode(stream, label, bytes.length);
        } catch (IOException e) {
            throw failure(label, "cannot read the stream: " + e.getMessage(), e);
        }
    }

    private static String label(String name) {
        return "'" + (name == null ? "<stream>" : name) + "'";
    }

    private static BufferedImage decode(ImageInputStream stream, String name, long bytes) throws IOException {
        if (stream.read() < 0) throw failure(name, "is empty (0 bytes)");
        stream.seek(0);
        Iterator<ImageReader> readers = ImageIO.getImageReaders(stream);
        if (!readers.hasNext()) throw failure(name, "is not a PNG or JPEG image (unrecognised content)");
        ImageReader reader = readers.next();
        try {
            String format = reader.getFormatName().toLowerCase(Locale.ROOT);
            if (!format.equals("png") && !format.equals("jpeg")) {
                throw failure(name, "has unsupported format '" + format + "' (PNG and JPEG are supported)");
            }
            if (format.equals("png")) checkPngHeader(stream, name);
            return read(reader, stream, name, format, bytes);
        } finally {
            reader.dispose();
        }
    }

    /**
     * A zero width or height in the PNG header: named as such (the JDK decoder only reports an
     * "I/O error reading PNG header").
     */
    private static void checkPngHeader(ImageInputStream stream, String name) throws IOException {
        long width;
        long height;
        try {
            stream.seek(16); // 8-byte signature, IHDR length and type, then width and height
            width = stream.readUnsignedInt();
            height = stream.readUnsignedInt();
        } catch (EOFException e) {
            throw failure(name, "is a truncated PNG file (it ends inside its header)", e);
        }
        stream.seek(0);
        if (width == 0 || height == 0) {
            throw failure(name, "is a zero-size image (" + width + " x " + height + " pixels in its PNG header)");
        }
    }

    private static BufferedImage read(ImageReader reader, ImageInputStream stream, String name, String format,
                                      long bytes) {
        // The JPEG decoder fills a truncated scan with grey and only warns; Pillow refuses such
        // files ("image file is truncated"), and so do we.
        String[] truncation = new String[1];
        reader.addIIOReadWarningListener((source, warning) -> {
            String w = warning.toLowerCase(Locale.ROOT);
            if (truncation[0] == null && (w.contains("truncated") || w.contains("premature end"))) {
                truncation[0] = warning;
            }
        });
        int width;
        int height;
        try {
            reader.setInput(stream, true, true);
            width = reader.getWidth(0);
            height = reader.getHeight(0);
        } catch (IOException | RuntimeException e) {
            throw undecodable(name, format, e);
        }
        if (width <= 0 || height <= 0) {
            throw failure(name, "is a zero-size image (" + width + " x " + height + " pixels)");
        }
        if ((long) width * height > MAX_PIXELS) {
            throw failure(name, "is too large: " + width + " x " + height + " pixels, more than " + MAX_PIXELS
                    + " (Pillow's decompression-bomb limit)");
        }
        long perByte = format.equals("png") ? MAX_PNG_PIXELS_PER_BYTE : MAX_JPEG_PIXELS_PER_BYTE;
        if ((long) width * height > perByte * bytes) {
            throw failure(name, "is truncated or corrupt: its " + format.toUpperCase(Locale.ROOT) + " header declares "
                    + width + " x " + height + " pixels, more than a " + bytes + "-byte file can hold (at most "
                    + perByte + " pixels per byte, " + perByte * bytes + " here)");
        }
        BufferedImage image;
        try {
            image = reader.read(0);
        } catch (IOException | RuntimeException e) {
            throw undecodable(name, format, e);
        }
        if (truncation[0] != null) {
            throw failure(name, "is a truncated " + format.toUpperCase(Locale.ROOT) + " file (" + truncation[0] + ")");
        }
        if (image == null || image.getWidth() <= 0 || image.getHeight() <= 0) {
            throw failure(name, "decoded to no pixels (zero-size image)");
        }
        return toRgb(image);
    }

    /**
     * The image as TYPE_INT_RGB: alpha composited on white, grey replicated from raw samples.
     * Returns a new image (the argument is not modified), also when it already is TYPE_INT_RGB.
     */
    public static BufferedImage toRgb(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        if (image.getType() == BufferedImage.TYPE_INT_RGB) return Pixels.image(Pixels.read(image), w, h);
        int[] argb = isRawGrey(image.getColorModel()) ? greyToArgb(image) : image.getRGB(0, 0, w, h, null, 0, w);
        for (int i = 0; i < argb.length; i++) argb[i] = onWhite(argb[i]);
        return Pixels.image(argb, w, h);
    }

    private static boolean isRawGrey(ColorModel cm) {
        return !(cm instanceof IndexColorModel) && cm.getColorSpace().getType() == ColorSpace.TYPE_GRAY;
    }

    /** Grey (and grey + alpha) samples as non-premultiplied ARGB, without colour conversion. */
    private static int[] greyToArgb(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        ColorModel cm = image.getColorModel();
        Raster raster = image.getRaster();
        int bands = raster.getNumBands();
        int greyMax = (1 << cm.getComponentSize(0)) - 1;
        int alphaMax = cm.hasAlpha() ? (1 << cm.getComponentSize(bands - 1)) - 1 : 0;
        int[] row = new int[w * bands];
        int[] out = new int[w * h];
        for (int y = 0; y < h; y++) {
            raster.getPixels(0, y, w, 1, row);
            for (int x = 0; x < w; x++) {
                int v = to8(row[x * bands], greyMax);
                int a = cm.hasAlpha() ? to8(row[x * bands + bands - 1], alphaMax) : 255;
                out[y * w + x] = (a << 24) | (v << 16) | (v << 8) | v;
            }
        }
        return out;
    }

    private static int to8(int v, int max) {
        return max == 255 ? v : (int) ((v * 255L + max / 2) / max);
    }

    private static int onWhite(int argb) {
        int a = argb >>> 24;
        if (a == 255) return argb & 0xffffff;
        int r = (((argb >> 16) & 0xff) * a + 255 * (255 - a) + 127) / 255;
        int g = (((argb >> 8) & 0xff) * a + 255 * (255 - a) + 127) / 255;
        int b = ((argb & 0xff) * a + 255 * (255 - a) + 127) / 255;
        return (r << 16) | (g << 8) | b;
    }

    private static String causes(Throwable e) {
        StringBuilder s = new StringBuilder(String.valueOf(e.getMessage()));
        for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            s.append("; ").append(c.getClass().getSimpleName());
            if (c.getMessage() != null) s.append(": ").append(c.getMessage());
        }
        return s.toString();
    }

    private static IllegalArgumentException undecodable(String name, String format, Exception e) {
        return failure(name, "cannot be decoded as " + format.toUpperCase(Locale.ROOT)
                + " (truncated or corrupt data, or an unsupported variant): " + causes(e), e);
    }

    private static IllegalArgumentException failure(String name, String what) {
        return new IllegalArgumentException("cannot load image " + name + ": " + what);
    }

    private static IllegalArgumentException failure(String name, String what, Throwable cause) {
        return new IllegalArgumentException("cannot load image " + name + ": " + what, cause);
    }
}
