package dev.vtprune.pipeline.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OverlayTest {

    @TempDir
    Path dir;

    /** 896 x 448: a 2 x 1 grid plus thumbnail; the resize is the identity, so tiles are crops. */
    private static Tiling twoByOne() {
        return DynamicTiler.internVl(448, 1, 12, true).tile(TestImages.synth(896, 448));
    }

    private static int dimmed(int rgb) {
        return (Overlay.dim((rgb >> 16) & 0xff) << 16) | (Overlay.dim((rgb >> 8) & 0xff) << 8)
                | Overlay.dim(rgb & 0xff);
    }

    @Test
    void writesPngOfTheDocumentedSizeWithDroppedCellsDarkened() throws IOException {
        Tiling t = twoByOne();
        int g = 4; // 16 tokens per view, cells of 112 px
        boolean[] keep = new boolean[3 * 16];
        java.util.Arrays.fill(keep, true);
        keep[0] = false;              // tile 0, cell (0, 0)
        keep[16 + 6] = false;         // tile 1, cell row 1, column 2
        keep[32 + 15] = false;        // thumbnail, cell (3, 3)
        Path png = dir.resolve("overlay.png");
        Overlay.Summary s = Overlay.defaults().write(t, g, keep, png);

        // width MARGIN + 896 + MARGIN + 448 + MARGIN, height MARGIN + max(448, 448) + LEGEND_HEIGHT
        assertEquals(8 + 896 + 8 + 448 + 8, s.width());
        assertEquals(8 + 448 + 28, s.height());
        assertEquals(45, s.kept());
        assertEquals(48, s.total());
        assertTrue(s.legend().startsWith("kept 45 of 48 tokens (93.8%)"), s.legend());
        assertTrue(s.legend().contains("2x1 tiles: 30 of 32, thumbnail (right): 15 of 16"), s.legend());

        BufferedImage out = ImageIO.read(png.toFile());
        assertArrayEquals(new int[] {s.width(), s.height()}, new int[] {out.getWidth(), out.getHeight()});
        assertArrayEquals(Overlay.defaults().size(t), new int[] {out.getWidth(), out.getHeight()});
        BufferedImage src = t.source();
        int m = Overlay.MARGIN;
        // Dropped: centre of tile 0's cell (0, 0), and of tile 1's cell (1, 2) at x 448 + 2*112.
        assertEquals(dimmed(TestImages.rgb(src, 56, 56)), TestImages.rgb(out, m + 56, m + 56));
        assertEquals(dimmed(TestImages.rgb(src, 448 + 280, 168)), TestImages.rgb(out, m + 448 + 280, m + 168));
        // Kept neighbours are untouched.
        assertEquals(TestImages.rgb(src, 168, 56), TestImages.rgb(out, m + 168, m + 56));
        assertEquals(TestImages.rgb(src, 56, 168), TestImages.rgb(out, m + 56, m + 168));
        assertEquals(TestImages.rgb(src, 448 + 280, 280), TestImages.rgb(out, m + 448 + 280, m + 280));
        // Every pixel of the dropped cell is darkened, away from the tile outline.
        for (int y = 1; y < 112; y++) {
            for (int x = 1; x < 112; x++) {
                assertEquals(dimmed(TestImages.rgb(src, x, y)), TestImages.rgb(out, m + x, m + y), x + "," + y);
            }
        }
        // Tile outlines: tile 0's right edge (x 447) and tile 1's left edge (x 448).
        assertEquals(Overlay.GRID_RGB, TestImages.rgb(out, m + 447, m + 200));
        assertEquals(Overlay.GRID_RGB, TestImages.rgb(out, m + 448, m + 200));
        // Thumbnail panel at (2*MARGIN + 896, MARGIN): cell (3, 3) dropped, cell (0, 0) kept.
        BufferedImage thumb = t.tiles().get(2);
        int tx = 2 * m + 896;
        assertEquals(dimmed(TestImages.rgb(thumb, 392, 392)), TestImages.rgb(out, tx + 392, m + 392));
        assertEquals(TestImages.rgb(thumb, 56, 56), TestImages.rgb(out, tx + 56, m + 56));
        // Margins and legend band are background.
        assertEquals(Overlay.BACKGROUND_RGB, TestImages.rgb(out, 2, 2));
        assertEquals(Overlay.BACKGROUND_RGB, TestImages.rgb(out, s.width() - 3, s.height() - 3));
    }

    @Test
    void keptIndicesGiveTheSameImageAsTheMask() throws IOException {
        Tiling t = twoByOne();
        long[] kept = new long[20];
        for (int i = 0; i < kept.length; i++) kept[i] = 47 - 2L * i;
        boolean[] keep = Overlay.mask(kept, 48);
        Overlay.Summary a = Overlay.defaults().write(t, 4, kept, dir.resolve("a.png"));
        Overlay.Summary b = Overlay.defaults().write(t, 4, keep, dir.resolve("b.png"));
        assertEquals(20, a.kept());
        assertEquals(a.legend(), b.legend());
        assertArrayEquals(Files.readAllBytes(a.file()), Files.readAllBytes(b.file()));
    }

    /** Nothing kept vs everything kept: every panel pixel off the outlines differs exactly by dim(). */
    @Test
    void allDroppedDarkensTheWholeImage() {
        Tiling t = DynamicTiler.internVl(448, 1, 12, true).tile(TestImages.synth(896, 448));
        BufferedImage none = Overlay.defaults().render(t, 2, new boolean[12]);
        BufferedImage all = Overlay.defaults().render(t, 2, Overlay.mask(range(12), 12));
        int m = Overlay.MARGIN;
        for (int y = 1; y < 447; y += 7) {
            for (int x = 1; x < 895; x += 5) {
                if (x == 447 || x == 448) continue;
                assertEquals(TestImages.rgb(t.source(), x, y), TestImages.rgb(all, m + x, m + y));
                assertEquals(dimmed(TestImages.rgb(t.source(), x, y)), TestImages.rgb(none, m + x, m + y));
            }
        }
    }

    /** Larger images are shrunk to maxSide: 4000 x 500 -> 1600 x 200 panel beside a 448 thumbnail. */
    @Test
    void largeImagesAreScaledDeterministically() {
        Tiling t = DynamicTiler.internVl(448, 1, 12, true).tile(TestImages.synth(4000, 500));
        assertEquals(9, t.size()); // 8 x 1 + thumbnail
        assertArrayEquals(new int[] {8 + 1600 + 8 + 448 + 8, 8 + 448 + 28}, Overlay.defaults().size(t));
        assertArrayEquals(new int[] {8 + 800 + 8 + 448 + 8, 8 + 448 + 28}, Overlay.withMaxSide(800).size(t));
        BufferedImage img = Overlay.withMaxSide(800).render(t, 16, new boolean[9 * 256]);
        assertEquals(8 + 800 + 8 + 448 + 8, img.getWidth());
        assertEquals(8 + 448 + 28, img.getHeight());
    }

    /** LLaVA: one padded view, no thumbnail panel; cells in the padding have nothing to darken. */
    @Test
    void llavaViewIsClippedToTheImage() {
        Tiling t = DynamicTiler.llava(336).tile(TestImages.synth(300, 200)); // region (0, -50, 300, 300)
        assertArrayEquals(new int[] {Overlay.MIN_WIDTH, 8 + 200 + 28}, Overlay.defaults().size(t));
        boolean[] keep = new boolean[9];
        java.util.Arrays.fill(keep, true);
        keep[4] = false; // centre cell: x [100, 200), y [50, 150) in the image
        keep[1] = false; // top middle: y [-50, 50) -> [0, 50) after clipping
        BufferedImage out = Overlay.defaults().render(t, 3, keep);
        BufferedImage src = t.source();
        int m = Overlay.MARGIN;
        assertEquals(dimmed(TestImages.rgb(src, 150, 100)), TestImages.rgb(out, m + 150, m + 100));
        assertEquals(dimmed(TestImages.rgb(src, 150, 25)), TestImages.rgb(out, m + 150, m + 25));
        assertEquals(TestImages.rgb(src, 50, 100), TestImages.rgb(out, m + 50, m + 100));
        assertEquals(TestImages.rgb(src, 150, 175), TestImages.rgb(out, m + 150, m + 175));
        assertEquals(Overlay.BACKGROUND_RGB, TestImages.rgb(out, m + 320, m + 100)); // no thumbnail panel
    }

    @Test
    void missingDirectoryIsAClearError() {
        Path png = dir.resolve("no/such/dir/overlay.png");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Overlay.defaults().write(twoByOne(), 4, new boolean[48], png));
        assertEquals("cannot write overlay '" + png + "': directory '" + png.getParent() + "' does not exist",
                e.getMessage());
        IllegalArgumentException d = assertThrows(IllegalArgumentException.class,
                () -> Overlay.defaults().write(twoByOne(), 4, new boolean[48], dir));
        assertTrue(d.getMessage().endsWith("it is a directory"), d.getMessage());
    }

    @Test
    void badMasksAreRejected() {
        Tiling t = twoByOne();
        assertEquals("argument 'keep' must have one entry per token: 3 views x 4 x 4 = 48, got 47 entries",
                assertThrows(IllegalArgumentException.class, () -> Overlay.defaults().render(t, 4, new boolean[47]))
                        .getMessage());
        assertEquals("argument 'grid' must be >= 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> Overlay.defaults().render(t, 0, new boolean[0]))
                        .getMessage());
        assertEquals("argument 'kept[1]' must be a token index in [0, 48), got 48",
                assertThrows(IllegalArgumentException.class, () -> Overlay.mask(new long[] {3, 48}, 48)).getMessage());
        assertEquals("argument 'kept[2]' must not repeat an index, got 3 (given twice)",
                assertThrows(IllegalArgumentException.class, () -> Overlay.mask(new long[] {3, 4, 3}, 48))
                        .getMessage());
        assertThrows(IllegalArgumentException.class, () -> Overlay.withMaxSide(0));
    }

    @Test
    void legendWithoutThumbnail() {
        Tiling t = DynamicTiler.internVl(448, 1, 12, true).tile(TestImages.synth(448, 448));
        boolean[] keep = new boolean[256];
        for (int i = 0; i < 64; i++) keep[i * 4] = true;
        assertEquals("kept 64 of 256 tokens (25.0%); dark = dropped", Overlay.legend(t, 16, keep));
        assertNotEquals(Overlay.legend(t, 16, keep), Overlay.legend(t, 16, new boolean[256]));
    }

    private static long[] range(int n) {
        long[] r = new long[n];
        for (int i = 0; i < n; i++) r[i] = i;
        return r;
    }
}
