package dev.vtprune.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * A two-axis line chart of TTFT speedup (left, blue) and selection overhead in % of the
 * unpruned prefill (right, red) against visual-token count, drawn with Java2D (no plotting
 * library reaches this machine).
 */
final class Plot {
    private Plot() {}

    static void write(Path file, double[] x, double[] speedup, double[] overheadPct, String caption) throws IOException {
        int w = 900, h = 520, left = 80, right = 90, top = 50, bottom = 80;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        double xMin = 0, xMax = niceMax(max(x)), y1Max = niceMax(Math.max(2.0, max(speedup))), y2Max = niceMax(Math.max(1.0, max(overheadPct)));
        int pw = w - left - right, ph = h - top - bottom;
        g.setColor(new Color(235, 235, 235));
        for (int i = 0; i <= 5; i++) g.drawLine(left, top + ph * i / 5, left + pw, top + ph * i / 5);
        g.setColor(Color.BLACK);
        g.drawRect(left, top, pw, ph);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (int i = 0; i <= 5; i++) {
            int y = top + ph - ph * i / 5;
            g.setColor(new Color(30, 90, 200));
            g.drawString(String.format(Locale.ROOT, "%.1fx", y1Max * i / 5), left - 45, y + 4);
            g.setColor(new Color(200, 40, 40));
            g.drawString(String.format(Locale.ROOT, "%.2f%%", y2Max * i / 5), left + pw + 8, y + 4);
            g.setColor(Color.BLACK);
            int xx = left + pw * i / 5;
            g.drawString(String.format(Locale.ROOT, "%.0f", xMin + (xMax - xMin) * i / 5), xx - 12, top + ph + 18);
        }
        g.drawString("visual tokens", left + pw / 2 - 40, top + ph + 40);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        g.drawString("Time-to-first-token speedup (blue, left) and selection overhead (red, right)", left, 25);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.drawString(caption, left, h - 15);
        series(g, x, speedup, xMax, y1Max, left, top, pw, ph, new Color(30, 90, 200));
        series(g, x, overheadPct, xMax, y2Max, left, top, pw, ph, new Color(200, 40, 40));
        g.dispose();
        ImageIO.write(img, "png", file.toFile());
    }

    private static void series(Graphics2D g, double[] x, double[] y, double xMax, double yMax, int left, int top, int pw, int ph,
                               Color c) {
        g.setColor(c);
        g.setStroke(new BasicStroke(2.5f));
        int px = -1, py = -1;
        for (int i = 0; i < x.length; i++) {
            int cx = left + (int) (pw * x[i] / xMax), cy = top + ph - (int) (ph * y[i] / yMax);
            g.fillOval(cx - 4, cy - 4, 8, 8);
            if (px >= 0) g.drawLine(px, py, cx, cy);
            px = cx;
            py = cy;
        }
    }

    private static double max(double[] v) {
        double m = 0;
        for (double d : v) m = Math.max(m, d);
        return m;
    }

    private static double niceMax(double v) {
        double p = Math.pow(10, Math.floor(Math.log10(v)));
        for (double f : new double[] {1, 2, 2.5, 5, 10}) if (f * p >= v) return f * p;
        return 10 * p;
    }
}
