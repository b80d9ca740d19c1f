package dev.vtprune.pipeline.image;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.GradientPaint;
import java.awt.Graphics2D;
import java.awt.Polygon;
import java.awt.RenderingHints;
import java.awt.geom.Ellipse2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * Draws the bundled sample image ({@link SampleImage}). Run once and commit the result:
 * <pre>
 * java -Djava.awt.headless=true -cp target/classes:target/test-classes \
 *     dev.vtprune.pipeline.image.SampleImageGenerator src/main/resources/dev/vtprune/pipeline/image/sample.png
 * </pre>
 * Fonts differ between machines, so a new run need not reproduce the committed file bit for
 * bit; nothing depends on that (the tests check size and that the tiles differ).
 */
public final class SampleImageGenerator {
    private SampleImageGenerator() {}

    public static BufferedImage generate() {
        int w = SampleImage.WIDTH;
        int h = SampleImage.HEIGHT;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            int horizon = 560;
            // Sky: deep blue to pale at the horizon; ground: green to dark olive.
            g.setPaint(new GradientPaint(0, 0, new Color(30, 80, 170), 0, horizon, new Color(190, 220, 245)));
            g.fillRect(0, 0, w, horizon);
            g.setPaint(new GradientPaint(0, horizon, new Color(90, 160, 60), 0, h, new Color(50, 70, 30)));
            g.fillRect(0, horizon, w, h - horizon);
            // Sun with a halo, top left tile.
            g.setColor(new Color(255, 240, 170));
            g.fill(new Ellipse2D.Double(90, 70, 230, 230));
            g.setColor(new Color(255, 200, 40));
            g.fill(new Ellipse2D.Double(120, 100, 170, 170));
            // Clouds, top middle tile.
            g.setColor(new Color(250, 250, 252));
            for (int[] c : new int[][] {{560, 120, 150, 70}, {630, 95, 160, 90}, {720, 125, 140, 65}}) {
                g.fill(new Ellipse2D.Double(c[0], c[1], c[2], c[3]));
            }
            // House, top right / bottom right tiles: walls, roof, door, windows.
            g.setColor(new Color(200, 60, 45));
            g.fillRect(980, 380, 280, 240);
            g.setColor(new Color(90, 40, 30));
            g.fillPolygon(new Polygon(new int[] {950, 1120, 1290}, new int[] {390, 250, 390}, 3));
            g.setColor(new Color(70, 45, 25));
            g.fillRect(1090, 500, 60, 120);
            g.setColor(new Color(170, 215, 240));
            g.fillRect(1010, 420, 60, 55);
            g.fillRect(1170, 420, 60, 55);
            // Tree, bottom left tile.
            g.setColor(new Color(100, 65, 30));
            g.fillRect(215, 520, 40, 190);
            g.setColor(new Color(30, 110, 40));
            g.fill(new Ellipse2D.Double(130, 380, 210, 200));
            g.setColor(new Color(40, 135, 50));
            g.fill(new Ellipse2D.Double(165, 340, 140, 130));
            // A sign with text, bottom middle tile.
            g.setColor(new Color(120, 120, 120));
            g.fillRect(660, 700, 16, 150);
            g.setColor(new Color(250, 245, 230));
            g.fillRect(520, 610, 300, 110);
            g.setColor(new Color(40, 40, 40));
            g.setStroke(new BasicStroke(4));
            g.drawRect(520, 610, 300, 110);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 48));
            g.drawString("vtprune", 575, 682);
            // A checkerboard (fine texture, many tokens' worth of detail), bottom right tile.
            for (int y = 0; y < 8; y++) {
                for (int x = 0; x < 8; x++) {
                    g.setColor((x + y) % 2 == 0 ? Color.BLACK : Color.WHITE);
                    g.fillRect(1000 + 28 * x, 660 + 24 * y, 28, 24);
                }
            }
            // Colour bars along the bottom left.
            Color[] bars = {Color.RED, Color.ORANGE, Color.YELLOW, Color.GREEN, Color.CYAN, Color.BLUE, Color.MAGENTA};
            for (int i = 0; i < bars.length; i++) {
                g.setColor(bars[i]);
                g.fillRect(20 + 55 * i, 790, 50, 80);
            }
            // A red ball on the ground, bottom middle.
            g.setPaint(new GradientPaint(880, 760, new Color(255, 120, 120), 960, 850, new Color(150, 0, 0)));
            g.fill(new Ellipse2D.Double(870, 755, 100, 100));
        } finally {
            g.dispose();
        }
        return img;
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: SampleImageGenerator OUTPUT.png");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        ImageIO.write(generate(), "png", out.toFile());
        System.out.println("wrote " + out.toAbsolutePath());
    }
}
