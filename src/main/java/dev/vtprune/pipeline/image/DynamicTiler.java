package dev.vtprune.pipeline.image;

import dev.vtprune.model.ModelConfig;
import dev.vtprune.internal.Args;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Cuts an image into the views a vision encoder sees, as the reference Python pipelines do.
 *
 * <h2>InternVL ({@link Tiling.Mode#INTERNVL_DYNAMIC})</h2>
 * A port of InternVL's {@code dynamic_preprocess(image, min_num, max_num, image_size,
 * use_thumbnail)}: the candidate grids are the {@code (i, j)} (columns, rows) with
 * {@code min_num <= i*j <= max_num}, sorted by {@code i*j}; {@link #closestGrid} picks the one
 * whose aspect ratio {@code i/j} is closest to {@code w/h} with InternVL's
 * {@code find_closest_aspect_ratio} rule, tie rule included; the image is resized (Pillow
 * bicubic, see {@link BicubicResampler}) to {@code (S*i) x (S*j)} and cut row-major into
 * {@code i*j} tiles; with more than one tile and thumbnails on, the whole image resized to
 * {@code S x S} is appended last.
 *
 * <p>One detail Python leaves to chance: it sorts a {@code set}, so grids with the same tile
 * count come in hash order. Here they come by ascending column count. The choice only matters
 * on an exact tie between two grids of equal tile count, and with {@code min_num = 1} (every
 * InternVL release) that never decides the result: if {@code (i, j)} and {@code (i', j')},
 * {@code i < i'}, have the same product, the grid {@code (i, j')} has fewer tiles, so it is a
 * candidate, and its ratio lies strictly between theirs, so it is strictly closer to their
 * midpoint. With {@code min_num > 1} such ties can decide (for example min = max = 4 at aspect
 * 2.5, where CPython 3.11 answers 4 x 1 and this class 2 x 2).
 *
 * <h2>LLaVA-1.5 ({@link Tiling.Mode#LLAVA_PAD})</h2>
 * One view, as LLaVA's {@code image_aspect_ratio = "pad"}: {@code expand2square} pads the
 * shorter side symmetrically (offset {@code (long - short) / 2}, rounded down) with the CLIP
 * mean colour {@code (int) (mean * 255)} = (122, 116, 104), then the CLIP processor resizes the
 * square to {@code S x S} (bicubic; its centre crop is then a no-op). No thumbnail.
 */
public final class DynamicTiler {

    /** LLaVA's padding colour: {@code tuple(int(x * 255) for x in image_processor.image_mean)}. */
    public static final int LLAVA_PAD_RGB = padColour(Preprocessor.CLIP.mean());

    /** A grid of {@code cols x rows} tiles (InternVL's {@code (i, j)}: width ratio, height ratio). */
    public record Grid(int cols, int rows) {
        public int tiles() {
            return cols * rows;
        }

        @Override
        public String toString() {
            return cols + "x" + rows;
        }
    }

    private final Tiling.Mode mode;
    private final int tileSize;
    private final int minTiles;
    private final int maxTiles;
    private final boolean thumbnail;
    private final List<Grid> candidates;

    private DynamicTiler(Tiling.Mode mode, int tileSize, int minTiles, int maxTiles, boolean thumbnail) {
        this.mode = mode;
        this.tileSize = (int) Args.atLeast(tileSize, "tileSize", 1);
        this.minTiles = minTiles;
        this.maxTiles = maxTiles;
        this.thumbnail = thumbnail;
        this.candidates = mode == Tiling.Mode.INTERNVL_DYNAMIC ? candidateGrids(minTiles, maxTiles) : List.of();
    }

    /** InternVL's dynamic tiling with tile side {@code tileSize} and {@code minTiles..maxTiles} tiles. */
    public static DynamicTiler internVl(int tileSize, int minTiles, int maxTiles, boolean thumbnail) {
        return new DynamicTiler(Tiling.Mode.INTERNVL_DYNAMIC, tileSize, minTiles, maxTiles, thumbnail);
    }

    /** LLaVA-1.5's single padded view of side {@code tileSize} (336 for CLIP ViT-L/14-336). */
    public static DynamicTiler llava(int tileSize) {
        return new DynamicTiler(Tiling.Mode.LLAVA_PAD, tileSize, 1, 1, false);
    }

    /**
     * The tiler of a model: LLaVA's padded view for the LLaVA family, otherwise InternVL's
     * dynamic grid with {@code config.tiling()} and tile side {@code config.vision().imageSize()}.
     */
    public static DynamicTiler forModel(ModelConfig config) {
        Args.notNull(config, "config");
        int size = config.vision().imageSize();
        if (config.family() == ModelConfig.Family.LLAVA) return llava(size);
        ModelConfig.Tiling t = config.tiling();
        return internVl(size, t.minTiles(), t.maxTiles(), t.thumbnail());
    }

    public Tiling.Mode mode() {
        return mode;
    }

    public int tileSize() {
        return tileSize;
    }

    /** Fewest local tiles (InternVL's {@code min_num}); 1 in LLaVA mode. */
    public int minTiles() {
        return minTiles;
    }

    /** Most local tiles (InternVL's {@code max_num}); 1 in LLaVA mode. */
    public int maxTiles() {
        return maxTiles;
    }

    /** Whether a thumbnail follows the tiles when there are several (never in LLaVA mode). */
    public boolean thumbnail() {
        return thumbnail;
    }

    /**
     * InternVL's candidate grids: every {@code (i, j)} with {@code minTiles <= i*j <= maxTiles},
     * by tile count, then by columns (see the class note on Python's set order).
     */
    public static List<Grid> candidateGrids(int minTiles, int maxTiles) {
        Args.atLeast(minTiles, "minTiles", 1);
        if (maxTiles < minTiles) {
            throw Args.error("maxTiles", "be >= minTiles (" + minTiles + ")", maxTiles);
        }
        List<Grid> grids = new ArrayList<>();
        for (int i = 1; i <= maxTiles; i++) {
            for (int j = 1; i * j <= maxTiles; j++) {
                if (i * j >= minTiles) grids.add(new Grid(i, j));
            }
        }
        grids.sort(Comparator.comparingInt(Grid::tiles).thenComparingInt(Grid::cols));
        return List.copyOf(grids);
    }

    /**
     * InternVL's {@code find_closest_aspect_ratio}: over {@code candidates} in order, keep the
     * grid with the smallest {@code |w/h - i/j|}; on an exact tie switch to the later grid when
     * the image area exceeds half the area of that grid's resized image,
     * {@code w*h > 0.5 * S*S * i*j} — a large image goes to more tiles of the same shape.
     */
    public static Grid closestGrid(int width, int height, int tileSize, List<Grid> candidates) {
        Args.atLeast(width, "width", 1);
        Args.atLeast(height, "height", 1);
        Args.atLeast(tileSize, "tileSize", 1);
        if (candidates == null || candidates.isEmpty()) throw Args.error("candidates", "not be empty", candidates);
        double aspect = (double) width / height;
        double area = (double) width * height;
        double bestDiff = Double.POSITIVE_INFINITY;
        Grid best = new Grid(1, 1);
        for (Grid g : candidates) {
            double diff = Math.abs(aspect - (double) g.cols() / g.rows());
            if (diff < bestDiff) {
                bestDiff = diff;
                best = g;
            } else if (diff == bestDiff && area > 0.5 * tileSize * tileSize * g.cols() * g.rows()) {
                best = g;
            }
        }
        return best;
    }

    /** The grid this tiler uses for a {@code width x height} image (1 x 1 in LLaVA mode). */
    public Grid gridFor(int width, int height) {
        if (mode == Tiling.Mode.LLAVA_PAD) return new Grid(1, 1);
        return closestGrid(width, height, tileSize, candidates);
    }

    /** Cuts {@code image} into its views; the image is not modified. */
    public Tiling tile(BufferedImage image) {
        Args.notNull(image, "image");
        BufferedImage rgb = image.getType() == BufferedImage.TYPE_INT_RGB ? image : ImageLoader.toRgb(image);
        return mode == Tiling.Mode.LLAVA_PAD ? padded(rgb) : dynamic(rgb);
    }

    private Tiling dynamic(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        Grid grid = gridFor(w, h);
        int s = tileSize;
        BufferedImage resized = BicubicResampler.resize(image, s * grid.cols(), s * grid.rows());
        int[] block = new int[s * s];
        List<BufferedImage> tiles = new ArrayList<>();
        List<Tiling.Region> regions = new ArrayList<>();
        for (int r = 0; r < grid.rows(); r++) {
            for (int c = 0; c < grid.cols(); c++) {
                tiles.add(Pixels.image(Pixels.read(resized, c * s, r * s, s, s, block), s, s));
                int x0 = (int) ((long) c * w / grid.cols());
                int x1 = (int) ((long) (c + 1) * w / grid.cols());
                int y0 = (int) ((long) r * h / grid.rows());
                int y1 = (int) ((long) (r + 1) * h / grid.rows());
                regions.add(new Tiling.Region(x0, y0, x1 - x0, y1 - y0));
            }
        }
        boolean withThumbnail = thumbnail && tiles.size() != 1;
        if (withThumbnail) {
            tiles.add(BicubicResampler.resize(image, s, s));
            regions.add(new Tiling.Region(0, 0, w, h));
        }
        return new Tiling(image, s, grid.cols(), grid.rows(), tiles, regions, withThumbnail, mode);
    }

    private Tiling padded(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        int side = Math.max(w, h);
        int dx = (side - w) / 2;
        int dy = (side - h) / 2;
        BufferedImage square = image;
        if (w != h) {
            square = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = square.createGraphics();
            try {
                g.setColor(new java.awt.Color(LLAVA_PAD_RGB));
                g.fillRect(0, 0, side, side);
                g.drawImage(image, dx, dy, null);
            } finally {
                g.dispose();
            }
        }
        BufferedImage view = BicubicResampler.resize(square, tileSize, tileSize);
        return new Tiling(image, tileSize, 1, 1, List.of(view), List.of(new Tiling.Region(-dx, -dy, side, side)),
                false, mode);
    }

    private static int padColour(double[] mean) {
        int rgb = 0;
        for (double m : mean) rgb = (rgb << 8) | (int) (m * 255.0);
        return rgb;
    }
}
