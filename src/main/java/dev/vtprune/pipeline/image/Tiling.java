package dev.vtprune.pipeline.image;

import dev.vtprune.internal.Args;
import java.awt.image.BufferedImage;
import java.util.List;

/**
 * The views an image is cut into before the vision encoder: {@code cols x rows} local tiles in
 * row-major order, then the thumbnail (whole image) last when there is one — the order of
 * InternVL's {@code dynamic_preprocess} and of the token layout in the design notes (section 3).
 *
 * <p>The images are the encoder's input, {@code tileSize x tileSize} each; {@link #regions}
 * say which part of {@link #source} each one shows, so that per-token results can be drawn
 * back onto the original image ({@link Overlay}).
 *
 * @param source       the original image: the caller's own when it is TYPE_INT_RGB (not copied,
 *                     so do not draw on it while the tiling is in use), else its RGB conversion
 * @param tileSize     side S of every tile in pixels
 * @param cols         grid columns (1 for a single view)
 * @param rows         grid rows (1 for a single view)
 * @param tiles        the {@code cols * rows} local tiles row-major, then the thumbnail if any
 * @param regions      per tile, the part of {@code source} it shows, in source pixel coordinates
 *                     (the thumbnail's is the whole image; a padded LLaVA view's extends past
 *                     the image, by the padding)
 * @param hasThumbnail whether the last tile is the thumbnail
 * @param mode         how the tiles were made
 */
public record Tiling(BufferedImage source, int tileSize, int cols, int rows, List<BufferedImage> tiles,
                     List<Region> regions, boolean hasThumbnail, Mode mode) {

    /** How the views were made. */
    public enum Mode {
        /** InternVL's dynamic grid of {@code S x S} tiles plus a thumbnail when there are several. */
        INTERNVL_DYNAMIC,
        /** LLaVA-1.5's single view: padded to a square with the mean colour, resized to {@code S}. */
        LLAVA_PAD
    }

    /** A rectangle in source-image pixels; may extend beyond the image (padding). */
    public record Region(int x, int y, int width, int height) {
        public Region {
            if (width < 0 || height < 0) {
                throw new IllegalArgumentException("argument 'region' must have a non-negative size, got "
                        + width + " x " + height);
            }
        }
    }

    public Tiling {
        Args.notNull(source, "source");
        Args.notNull(tiles, "tiles");
        Args.notNull(regions, "regions");
        if (tileSize < 1) throw new IllegalArgumentException("argument 'tileSize' must be >= 1, got " + tileSize);
        if (cols < 1 || rows < 1) {
            throw new IllegalArgumentException("argument 'grid' must be at least 1 x 1, got " + cols + " x " + rows);
        }
        tiles = List.copyOf(tiles);
        regions = List.copyOf(regions);
        int expected = cols * rows + (hasThumbnail ? 1 : 0);
        if (tiles.size() != expected) {
            throw new IllegalArgumentException("argument 'tiles' must hold " + expected + " images (" + cols + " x "
                    + rows + (hasThumbnail ? " + thumbnail" : "") + "), got " + tiles.size());
        }
        if (regions.size() != expected) {
            throw new IllegalArgumentException("argument 'regions' must hold " + expected + " rectangles, got "
                    + regions.size());
        }
        for (int i = 0; i < tiles.size(); i++) {
            BufferedImage t = tiles.get(i);
            if (t.getWidth() != tileSize || t.getHeight() != tileSize) {
                throw new IllegalArgumentException("argument 'tiles' must hold " + tileSize + " x " + tileSize
                        + " images, got " + t.getWidth() + " x " + t.getHeight() + " at index " + i);
            }
        }
    }

    /** All views: local tiles plus the thumbnail if any. */
    public int size() {
        return tiles.size();
    }

    /** The local (grid) tiles: {@code cols * rows}. */
    public int localTiles() {
        return cols * rows;
    }

    /** Whether view {@code index} is the thumbnail (always the last one). */
    public boolean isThumbnail(int index) {
        return hasThumbnail && index == tiles.size() - 1;
    }

    /** Index of the thumbnail, or -1 when there is none. */
    public int thumbnailIndex() {
        return hasThumbnail ? tiles.size() - 1 : -1;
    }
}
