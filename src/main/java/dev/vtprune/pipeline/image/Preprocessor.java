package dev.vtprune.pipeline.image;

import dev.vtprune.model.ModelConfig;
import dev.vtprune.internal.Args;
import java.awt.image.BufferedImage;
import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * Turns tiles into the vision encoder's input: a float32 CPU tensor {@code [T, 3, S, S]}
 * (tiles in order, channels R, G, B, rows, columns) holding {@code (pixel / 255 - mean) / std}
 * per channel.
 *
 * <p>The arithmetic is torchvision's {@code ToTensor} + {@code Normalize} in float32, step by
 * step: {@code x = (float) p / 255f}, then {@code (x - (float) mean) / (float) std}, so values
 * match the Python pipeline bit for bit given the same pixels. (LLaVA's Hugging Face processor
 * rescales in float64, {@code float(p * (1 / 255.0))}; for the 256 levels that rounds to the
 * same float32 as {@code p / 255f}, so one formula serves both.) Only 256 values exist per
 * channel, so they are computed once into a table; the pixels are read in bulk, written into
 * one float[] and copied into the tensor once — no per-pixel native calls.
 */
public final class Preprocessor {

    /**
     * Per-channel mean and standard deviation (R, G, B) of the published constants.
     *
     * @param name a label for messages
     */
    public record Normalization(String name, double[] mean, double[] std) {
        public Normalization {
            Args.notNull(name, "name");
            if (mean == null || mean.length != 3) throw Args.error("mean", "hold 3 values (R, G, B)", len(mean));
            if (std == null || std.length != 3) throw Args.error("std", "hold 3 values (R, G, B)", len(std));
            mean = mean.clone();
            std = std.clone();
            for (double s : std) {
                if (!(s > 0) || Double.isInfinite(s)) throw Args.error("std", "be positive and finite", s);
            }
        }

        @Override
        public double[] mean() {
            return mean.clone();
        }

        @Override
        public double[] std() {
            return std.clone();
        }

        private static String len(double[] a) {
            return a == null ? "null" : a.length + " values";
        }
    }

    /** ImageNet statistics: InternVL's {@code IMAGENET_MEAN} / {@code IMAGENET_STD}. */
    public static final Normalization IMAGENET = new Normalization("imagenet",
            new double[] {0.485, 0.456, 0.406}, new double[] {0.229, 0.224, 0.225});

    /** OpenAI CLIP statistics: LLaVA-1.5's CLIP image processor. */
    public static final Normalization CLIP = new Normalization("clip",
            new double[] {0.48145466, 0.4578275, 0.40821073}, new double[] {0.26862954, 0.26130258, 0.27577711});

    private final Normalization normalization;
    /** {@code table[c * 256 + p]}: the normalised value of 8-bit level p in channel c. */
    private final float[] table = new float[3 * 256];

    public Preprocessor(Normalization normalization) {
        this.normalization = Args.notNull(normalization, "normalization");
        double[] mean = normalization.mean();
        double[] std = normalization.std();
        for (int c = 0; c < 3; c++) {
            float m = (float) mean[c];
            float s = (float) std[c];
            for (int p = 0; p < 256; p++) table[c * 256 + p] = (p / 255f - m) / s;
        }
    }

    /** ImageNet statistics for InternVL, CLIP's for LLaVA. */
    public static Preprocessor forModel(ModelConfig config) {
        Args.notNull(config, "config");
        return new Preprocessor(config.family() == ModelConfig.Family.LLAVA ? CLIP : IMAGENET);
    }

    public Normalization normalization() {
        return normalization;
    }

    /** The normalised value of 8-bit level {@code level} in channel {@code channel} (0 = R). */
    public float value(int channel, int level) {
        Args.inRange(channel, "channel", 0, 3, false);
        Args.inRange(level, "level", 0, 256, false);
        return table[channel * 256 + level];
    }

    /** All views of {@code tiling} (thumbnail last) as {@code [T, 3, S, S]}. */
    public Tensor tensor(Tiling tiling) {
        Args.notNull(tiling, "tiling");
        return tensor(tiling.tiles());
    }

    /** {@code tiles} (all square, of one size S) as a float32 CPU tensor {@code [T, 3, S, S]}. */
    public Tensor tensor(List<BufferedImage> tiles) {
        int side = side(tiles);
        return Tensor.create(values(tiles, side), tiles.size(), 3, side, side);
    }

    /** The tensor's contents as a flat array, {@code [T, 3, S, S]} row-major. */
    public float[] values(List<BufferedImage> tiles) {
        return values(tiles, side(tiles));
    }

    private float[] values(List<BufferedImage> tiles, int side) {
        int plane = side * side;
        float[] out = new float[tiles.size() * 3 * plane];
        int[] rgb = new int[plane];
        for (int t = 0; t < tiles.size(); t++) {
            rgb = Pixels.read(tiles.get(t), 0, 0, side, side, rgb);
            int base = t * 3 * plane;
            for (int i = 0; i < plane; i++) {
                int p = rgb[i];
                out[base + i] = table[(p >> 16) & 0xff];
                out[base + plane + i] = table[256 + ((p >> 8) & 0xff)];
                out[base + 2 * plane + i] = table[512 + (p & 0xff)];
            }
        }
        return out;
    }

    private static int side(List<BufferedImage> tiles) {
        if (tiles == null || tiles.isEmpty()) {
            throw Args.error("tiles", "hold at least one image", tiles == null ? "null" : "none");
        }
        int side = tiles.get(0).getWidth();
        for (int t = 0; t < tiles.size(); t++) {
            BufferedImage img = Args.notNull(tiles.get(t), "tiles[" + t + "]");
            if (img.getWidth() != side || img.getHeight() != side) {
                throw Args.error("tiles[" + t + "]", "be " + side + " x " + side + " like tiles[0]",
                        img.getWidth() + " x " + img.getHeight());
            }
        }
        if ((long) tiles.size() * 3 * side * side > Integer.MAX_VALUE - 8) {
            throw Args.error("tiles", "fit one Java array (" + tiles.size() + " x 3 x " + side + " x " + side
                    + " values)", "too many values");
        }
        return side;
    }
}
