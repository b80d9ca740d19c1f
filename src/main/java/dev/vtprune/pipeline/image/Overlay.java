package dev.vtprune.pipeline.image;

import dev.vtprune.internal.Args;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * Draws which visual tokens a pruner kept: a PNG a person can look at to judge a selection.
 *
 * <p>Tokens are numbered as the design notes say (section 3): tile {@code t} of the
 * {@link Tiling} owns tokens {@code [t*g*g, (t+1)*g*g)}, laid out as a {@code g x g} grid
 * row-major over the tile (InternVL 448 px tiles: g = 16 after pixel shuffle; LLaVA-1.5: g = 24),
 * thumbnail last.
 *
 * <h2>Layout (deterministic; the tests check it)</h2>
 * With the source image {@code W x H}, scale {@code f = min(1, maxSide / max(W, H))}, panel
 * {@code w = max(1, round(W*f)) x h = max(1, round(H*f))}, tile side {@code S}, margin
 * {@link #MARGIN} and legend band {@link #LEGEND_HEIGHT}:
 * <ul>
 *   <li>left, at {@code (MARGIN, MARGIN)}: the source image ({@code w x h}; resized with
 *       Pillow-style bicubic only when {@code f < 1}); every dropped token of a local tile has
 *       its cell darkened by 65% black (each channel {@code v -> (35*v + 50) / 100}); every local
 *       tile has a 1 px outline ({@link #GRID_RGB});</li>
 *   <li>right, at {@code (2*MARGIN + w, MARGIN)}, only when there is a thumbnail: the thumbnail
 *       tile at its own size {@code S x S}, its dropped cells darkened the same way, outlined;</li>
 *   <li>below, a legend line: "kept K of N tokens (P%)" and the split local / thumbnail.</li>
 * </ul>
 * Image size: width {@code max(MIN_WIDTH, MARGIN + w + MARGIN + (thumbnail ? S + MARGIN : 0))},
 * height {@code MARGIN + max(h, thumbnail ? S : 0) + LEGEND_HEIGHT}. Cells of a local tile are
 * its {@link Tiling.Region} cut into g x g equal parts, with edges rounded to panel pixels and
 * clipped to the image (a LLaVA view's padding has no pixels to darken).
 */
public final class Overlay {
    public static final int MARGIN = 8;
    public static final int LEGEND_HEIGHT = 28;
    /** Room for the legend line, whatever the image. */
    public static final int MIN_WIDTH = 360;
    /** Longest side of the source panel unless configured: larger images are shrunk to it. */
    public static final int DEFAULT_MAX_SIDE = 1600;
    /** Tile outlines: a yellow that shows on dark and bright content alike. */
    public static final int GRID_RGB = 0xFFD600;
    public static final int BACKGROUND_RGB = 0xFFFFFF;
    /** Outline of a marked region (e.g. the object a question asks about), 2 px, on the source panel. */
    public static final int MARK_RGB = 0x00E5FF;

    /** What was written: the file, its size, and the counts in its legend. */
    public record Summary(Path file, int width, int height, int kept, int total, String legend) {}

    private static final Overlay DEFAULT = new Overlay(DEFAULT_MAX_SIDE);

    private final int maxSide;

    private Overlay(int maxSide) {
        this.maxSide = (int) Args.atLeast(maxSide, "maxSide", 1);
    }

    /** Source panels no larger than {@link #DEFAULT_MAX_SIDE}. */
    public static Overlay defaults() {
        return DEFAULT;
    }

    /** Source panels whose longest side is at most {@code maxSide} pixels. */
    public static Overlay withMaxSide(int maxSide) {
        return new Overlay(maxSide);
    }

    public int maxSide() {
        return maxSide;
    }

    /** Width and height, {@code {w, h}}, of the overlay of {@code tiling} (see the class note). */
    public int[] size(Tiling tiling) {
        Args.notNull(tiling, "tiling");
        int[] panel = panelSize(tiling);
        int thumb = tiling.hasThumbnail() ? tiling.tileSize() : 0;
        int width = Math.max(MIN_WIDTH, MARGIN + panel[0] + MARGIN + (thumb > 0 ? thumb + MARGIN : 0));
        int height = MARGIN + Math.max(panel[1], thumb) + LEGEND_HEIGHT;
        return new int[] {width, height};
    }

    /**
     * The overlay image. {@code keep[i]} tells whether token {@code i} (numbered over all views
     * in tile order, {@code g*g} per view) was kept; its length must be {@code tiling.size()*g*g}.
     */
    public BufferedImage render(Tiling tiling, int grid, boolean[] keep) {
        return render(tiling, grid, keep, java.util.List.of());
    }

    /**
     * As {@link #render(Tiling, int, boolean[])}, with each of `marks` (rectangles in source image
     * pixels) outlined 2 px wide in {@link #MARK_RGB} on the source panel, scaled like it.
     */
    public BufferedImage render(Tiling tiling, int grid, boolean[] keep, java.util.List<java.awt.Rectangle> marks) {
        checkMask(tiling, grid, keep);
        Args.notNull(marks, "marks");
        int[] size = size(tiling);
        int[] panelSize = panelSize(tiling);
        BufferedImage out = new BufferedImage(size[0], size[1], BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setColor(new Color(BACKGROUND_RGB));
            g.fillRect(0, 0, size[0], size[1]);
            g.drawImage(sourcePanel(tiling, grid, keep, panelSize), MARGIN, MARGIN, null);
            if (tiling.hasThumbnail()) {
                g.drawImage(thumbnailPanel(tiling, grid, keep), 2 * MARGIN + panelSize[0], MARGIN, null);
            }
            double f = scale(tiling);
            g.setColor(new Color(MARK_RGB));
            g.setStroke(new java.awt.BasicStroke(2f));
            for (java.awt.Rectangle r : marks) {
                g.drawRect(MARGIN + (int) Math.round(r.x * f) - 1, MARGIN + (int) Math.round(r.y * f) - 1,
                        (int) Math.round(r.width * f) + 2, (int) Math.round(r.height * f) + 2);
            }
            drawLegend(g, legend(tiling, grid, keep), MARGIN,
                    MARGIN + Math.max(panelSize[1], tiling.hasThumbnail() ? tiling.tileSize() : 0));
        } finally {
            g.dispose();
        }
        return out;
    }

    /** Renders and writes the overlay as PNG to {@code png}, whose directory must exist. */
    public Summary write(Tiling tiling, int grid, boolean[] keep, Path png) {
        return write(tiling, grid, keep, java.util.List.of(), png);
    }

    /** As {@link #write(Tiling, int, boolean[], Path)}, with `marks` outlined (see {@link #render(Tiling, int, boolean[], java.util.List)}). */
    public Summary write(Tiling tiling, int grid, boolean[] keep, java.util.List<java.awt.Rectangle> marks, Path png) {
        Args.notNull(png, "png");
        Path dir = png.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new IllegalArgumentException("cannot write overlay '" + png + "': directory '" + dir
                    + "' does not exist");
        }
        if (Files.isDirectory(png)) {
            throw new IllegalArgumentException("cannot write overlay '" + png + "': it is a directory");
        }
        BufferedImage image = render(tiling, grid, keep, marks);
        try {
            if (!ImageIO.write(image, "png", png.toFile())) throw new IOException("no PNG writer available");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write overlay '" + png + "': " + e.getMessage(), e);
        }
        int kept = count(keep, 0, keep.length);
        return new Summary(png, image.getWidth(), image.getHeight(), kept, keep.length, legend(tiling, grid, keep));
    }

    /** As {@link #write(Tiling, int, boolean[], Path)}, from the kept tokens' global indices. */
    public Summary write(Tiling tiling, int grid, long[] kept, Path png) {
        checkGrid(tiling, grid);
        return write(tiling, grid, mask(kept, tiling.size() * grid * grid), png);
    }

    /**
     * A keep mask of {@code total} tokens from kept global indices (any order); an index out of
     * range or given twice is an error.
     */
    public static boolean[] mask(long[] kept, int total) {
        Args.notNull(kept, "kept");
        Args.atLeast(total, "total", 0);
        boolean[] keep = new boolean[total];
        for (int i = 0; i < kept.length; i++) {
            long k = kept[i];
            if (k < 0 || k >= total) throw Args.error("kept[" + i + "]", "be a token index in [0, " + total + ")", k);
            if (keep[(int) k]) throw Args.error("kept[" + i + "]", "not repeat an index", k + " (given twice)");
            keep[(int) k] = true;
        }
        return keep;
    }

    /** "kept K of N tokens (P%) ..." as written under the image. */
    public static String legend(Tiling tiling, int grid, boolean[] keep) {
        checkMask(tiling, grid, keep);
        int n = keep.length;
        int k = count(keep, 0, n);
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "kept %d of %d tokens (%.1f%%)", k, n,
                n == 0 ? 0.0 : 100.0 * k / n));
        if (tiling.hasThumbnail()) {
            int local = tiling.localTiles() * grid * grid;
            s.append(String.format(Locale.ROOT, " - %dx%d tiles: %d of %d, thumbnail (right): %d of %d",
                    tiling.cols(), tiling.rows(), count(keep, 0, local), local, count(keep, local, n), n - local));
        }
        return s.append("; dark = dropped").toString();
    }

    private int[] panelSize(Tiling tiling) {
        double f = scale(tiling);
        BufferedImage src = tiling.source();
        return new int[] {Math.max(1, (int) Math.round(src.getWidth() * f)),
                Math.max(1, (int) Math.round(src.getHeight() * f))};
    }

    private double scale(Tiling tiling) {
        return Math.min(1.0, (double) maxSide / Math.max(tiling.source().getWidth(), tiling.source().getHeight()));
    }

    private BufferedImage sourcePanel(Tiling tiling, int grid, boolean[] keep, int[] size) {
        double f = scale(tiling);
        int w = size[0];
        int h = size[1];
        int[] px = Pixels.read(f < 1.0 ? BicubicResampler.resize(tiling.source(), w, h) : tiling.source());
        for (int t = 0; t < tiling.localTiles(); t++) {
            Tiling.Region r = tiling.regions().get(t);
            for (int cell = 0; cell < grid * grid; cell++) {
                if (keep[t * grid * grid + cell]) continue;
                int row = cell / grid;
                int col = cell % grid;
                darken(px, w, edge(r.x(), r.width(), col, grid, f, w), edge(r.x(), r.width(), col + 1, grid, f, w),
                        edge(r.y(), r.height(), row, grid, f, h), edge(r.y(), r.height(), row + 1, grid, f, h));
            }
        }
        for (int t = 0; t < tiling.localTiles(); t++) {
            Tiling.Region r = tiling.regions().get(t);
            outline(px, w, h, edge(r.x(), r.width(), 0, 1, f, w), edge(r.x(), r.width(), 1, 1, f, w),
                    edge(r.y(), r.height(), 0, 1, f, h), edge(r.y(), r.height(), 1, 1, f, h));
        }
        return Pixels.image(px, w, h);
    }

    private static BufferedImage thumbnailPanel(Tiling tiling, int grid, boolean[] keep) {
        int s = tiling.tileSize();
        int t = tiling.thumbnailIndex();
        int[] px = Pixels.read(tiling.tiles().get(t));
        for (int cell = 0; cell < grid * grid; cell++) {
            if (keep[t * grid * grid + cell]) continue;
            int row = cell / grid;
            int col = cell % grid;
            darken(px, s, edge(0, s, col, grid, 1, s), edge(0, s, col + 1, grid, 1, s),
                    edge(0, s, row, grid, 1, s), edge(0, s, row + 1, grid, 1, s));
        }
        outline(px, s, s, 0, s, 0, s);
        return Pixels.image(px, s, s);
    }

    /**
     * Panel coordinate of the edge {@code k} of {@code parts} equal parts of the source interval
     * {@code [start, start + length)}, scaled by f and clipped to {@code [0, limit]}.
     */
    private static int edge(int start, int length, int k, int parts, double f, int limit) {
        long v = Math.round((start + (double) length * k / parts) * f);
        return (int) Math.max(0, Math.min(limit, v));
    }

    /** 65% black over the pixels {@code [x0, x1) x [y0, y1)}. */
    private static void darken(int[] px, int stride, int x0, int x1, int y0, int y1) {
        for (int y = y0; y < y1; y++) {
            for (int x = x0; x < x1; x++) {
                int p = px[y * stride + x];
                px[y * stride + x] = (dim((p >> 16) & 0xff) << 16) | (dim((p >> 8) & 0xff) << 8) | dim(p & 0xff);
            }
        }
    }

    static int dim(int v) {
        return (35 * v + 50) / 100;
    }

    /** A 1 px outline on the border pixels of {@code [x0, x1) x [y0, y1)}. */
    private static void outline(int[] px, int stride, int height, int x0, int x1, int y0, int y1) {
        if (x1 <= x0 || y1 <= y0) return;
        for (int x = x0; x < x1; x++) {
            px[y0 * stride + x] = GRID_RGB;
            px[Math.min(y1 - 1, height - 1) * stride + x] = GRID_RGB;
        }
        for (int y = y0; y < y1; y++) {
            px[y * stride + x0] = GRID_RGB;
            px[y * stride + Math.min(x1 - 1, stride - 1)] = GRID_RGB;
        }
    }

    private static void drawLegend(Graphics2D g, String text, int x, int top) {
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        g.drawString(text, x, top + 18);
    }

    private static int count(boolean[] keep, int from, int to) {
        int n = 0;
        for (int i = from; i < to; i++) if (keep[i]) n++;
        return n;
    }

    private static void checkGrid(Tiling tiling, int grid) {
        Args.notNull(tiling, "tiling");
        Args.atLeast(grid, "grid", 1);
        if ((long) tiling.size() * grid * grid > Integer.MAX_VALUE) {
            throw Args.error("grid", "give fewer than 2^31 tokens over " + tiling.size() + " views", grid);
        }
    }

    private static void checkMask(Tiling tiling, int grid, boolean[] keep) {
        checkGrid(tiling, grid);
        Args.notNull(keep, "keep");
        int expected = tiling.size() * grid * grid;
        if (keep.length != expected) {
            throw Args.error("keep", "have one entry per token: " + tiling.size() + " views x " + grid + " x " + grid
                    + " = " + expected, keep.length + " entries");
        }
    }
}
