package dev.vtprune.pipeline.image;

import java.awt.image.BufferedImage;

/**
 * Bicubic resizing that reproduces Pillow's {@code Image.resize(size, Image.BICUBIC)} on 8-bit
 * RGB images bit for bit, because that is what the reference pipelines use (InternVL's
 * {@code dynamic_preprocess} calls {@code resize} with Pillow's default filter, bicubic since
 * Pillow 7; LLaVA-1.5's CLIP image processor resizes with bicubic through Pillow).
 *
 * <p>Java2D's bicubic interpolation samples a fixed 4 x 4 neighbourhood and therefore aliases
 * badly when it shrinks an image (a 4000 px wide photo to a 448 px thumbnail); Pillow widens
 * the filter by the scale factor (a proper low-pass filter) and works in fixed point. This is a
 * port of Pillow's {@code libImaging/Resample.c}: separable convolution with the Keys cubic
 * ({@code a = -0.5}, support 2 scaled by the reduction factor), horizontal pass first, an 8-bit
 * intermediate image, coefficients in 22-bit fixed point, rounding and clipping as Pillow does.
 * The tests check it against Pillow 9.4 output.
 */
final class BicubicResampler {
    private BicubicResampler() {}

    /** Pillow's PRECISION_BITS for 8-bit images: 32 - 8 - 2. */
    private static final int PRECISION_BITS = 22;
    private static final double SUPPORT = 2.0;

    /**
     * The image resized to {@code width x height}, as a new TYPE_INT_RGB image (also when the
     * size does not change: callers may mutate the result).
     */
    static BufferedImage resize(BufferedImage src, int width, int height) {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("argument 'size' must be at least 1 x 1, got " + width + " x " + height);
        }
        int sw = src.getWidth();
        int sh = src.getHeight();
        return Pixels.image(resize(Pixels.read(src), sw, sh, width, height), width, height);
    }

    /** Resizes packed 0xRRGGBB pixels (row-major, any alpha byte ignored). */
    static int[] resize(int[] src, int sw, int sh, int dw, int dh) {
        int[] pixels = src;
        int w = sw;
        if (dw != sw) {
            pixels = horizontal(pixels, sw, sh, new Coefficients(sw, dw));
            w = dw;
        }
        if (dh != sh) {
            pixels = vertical(pixels, w, sh, new Coefficients(sh, dh));
        }
        // Pillow's resize with an unchanged size is a copy; so is ours when neither pass ran.
        return pixels == src ? src.clone() : pixels;
    }

    private static int[] horizontal(int[] in, int w, int h, Coefficients c) {
        int[] out = new int[c.outSize * h];
        for (int y = 0; y < h; y++) {
            int row = y * w;
            for (int x = 0; x < c.outSize; x++) {
                int r = c.half;
                int g = c.half;
                int b = c.half;
                int k = x * c.ksize;
                int min = c.min[x];
                for (int i = 0; i < c.count[x]; i++) {
                    int p = in[row + min + i];
                    int wk = c.weights[k + i];
                    r += ((p >> 16) & 0xff) * wk;
                    g += ((p >> 8) & 0xff) * wk;
                    b += (p & 0xff) * wk;
                }
                out[y * c.outSize + x] = pack(r, g, b);
            }
        }
        return out;
    }

    private static int[] vertical(int[] in, int w, int h, Coefficients c) {
        int[] out = new int[w * c.outSize];
        for (int y = 0; y < c.outSize; y++) {
            int k = y * c.ksize;
            int min = c.min[y];
            for (int x = 0; x < w; x++) {
                int r = c.half;
                int g = c.half;
                int b = c.half;
                for (int i = 0; i < c.count[y]; i++) {
                    int p = in[(min + i) * w + x];
                    int wk = c.weights[k + i];
                    r += ((p >> 16) & 0xff) * wk;
                    g += ((p >> 8) & 0xff) * wk;
                    b += (p & 0xff) * wk;
                }
                out[y * w + x] = pack(r, g, b);
            }
        }
        return out;
    }

    private static int pack(int r, int g, int b) {
        return (clip8(r) << 16) | (clip8(g) << 8) | clip8(b);
    }

    private static int clip8(int v) {
        if (v >= (1 << PRECISION_BITS << 8)) return 255;
        if (v <= 0) return 0;
        return v >> PRECISION_BITS;
    }

    /** Keys cubic with a = -0.5, Pillow's bicubic_filter. */
    private static double cubic(double x) {
        final double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    /** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis. */
    private static final class Coefficients {
        final int outSize;
        final int ksize;
        final int half = 1 << (PRECISION_BITS - 1);
        final int[] min;
        final int[] count;
        final int[] weights;

        Coefficients(int inSize, int outSize) {
            this.outSize = outSize;
            double scale = (double) inSize / outSize;
            double filterScale = Math.max(scale, 1.0);
            double support = SUPPORT * filterScale;
            ksize = (int) Math.ceil(support) * 2 + 1;
            min = new int[outSize];
            count = new int[outSize];
            weights = new int[outSize * ksize];
            double[] k = new double[ksize];
            for (int xx = 0; xx < outSize; xx++) {
                double center = (xx + 0.5) * scale;
                double ss = 1.0 / filterScale;
                int xmin = Math.max((int) (center - support + 0.5), 0);
                int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
                double ww = 0.0;
                for (int x = 0; x < xmax; x++) {
                    k[x] = cubic((x + xmin - center + 0.5) * ss);
                    ww += k[x];
                }
                for (int x = 0; x < xmax; x++) {
                    double w = ww != 0.0 ? k[x] / ww : k[x];
                    weights[xx * ksize + x] = (int) (w < 0 ? -0.5 + w * (1 << PRECISION_BITS)
                            : 0.5 + w * (1 << PRECISION_BITS));
                }
                min[xx] = xmin;
                count[xx] = xmax;
            }
        }
    }
}
