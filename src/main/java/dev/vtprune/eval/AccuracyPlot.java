package dev.vtprune.eval;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * Accuracy against prefill TFLOPs, one line per pruning method over its keep ratios, the
 * unpruned model a black diamond, every point with its 95% interval as a vertical bar and the
 * chance level dashed: IVTP's Fig. 4 for {@code vtprune eval --png}. Drawn with Java2D into a
 * {@link BufferedImage} (no display needed; no plotting library reaches this machine).
 */
public final class AccuracyPlot {
    public static final int WIDTH = 960, HEIGHT = 600;
    private static final Color[] COLOURS = {new Color(31, 119, 180), new Color(214, 39, 40), new Color(44, 160, 44),
            new Color(255, 127, 14), new Color(148, 103, 189), new Color(140, 86, 75), new Color(227, 119, 194),
            new Color(23, 190, 207)};

    private AccuracyPlot() {}

    /** The chart as an image of {@link #WIDTH} x {@link #HEIGHT}. */
    public static BufferedImage draw(List<Evaluator.Row> rows, double chance, String caption) {
        int left = 80, right = 190, top = 50, bottom = 80, pw = WIDTH - left - right, ph = HEIGHT - top - bottom;
        BufferedImage img = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, WIDTH, HEIGHT);
            double xMax = 0;
            for (Evaluator.Row r : rows) xMax = Math.max(xMax, r.tflops());
            xMax = niceMax(xMax > 0 ? xMax * 1.05 : 1);
            Axes a = new Axes(left, top, pw, ph, xMax);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            for (int i = 0; i <= 10; i++) {  // accuracy grid every 10%, TFLOPs ticks every fifth
                int y = a.y(i / 10.0);
                g.setColor(new Color(235, 235, 235));
                g.drawLine(left, y, left + pw, y);
                g.setColor(Color.BLACK);
                g.drawString(i * 10 + "%", left - 40, y + 4);
            }
            for (int i = 0; i <= 5; i++) {
                int x = a.x(xMax * i / 5);
                g.drawLine(x, top + ph, x, top + ph + 5);
                String label = String.format(Locale.ROOT, "%.3g", xMax * i / 5);
                g.drawString(label, x - g.getFontMetrics().stringWidth(label) / 2, top + ph + 20);
            }
            g.drawRect(left, top, pw, ph);
            g.drawString("prefill TFLOPs per question", left + pw / 2 - 70, top + ph + 42);
            g.drawString(caption, left, HEIGHT - 12);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
            g.drawString("Accuracy vs prefill FLOPs (95% intervals)", left, 28);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            if (chance > 0 && chance < 1) {
                g.setColor(Color.GRAY);
                g.setStroke(new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
                g.drawLine(left, a.y(chance), left + pw, a.y(chance));
                g.drawString("chance", left + 4, a.y(chance) - 4);
            }
            Map<String, List<Evaluator.Row>> byMethod = new LinkedHashMap<>();
            for (Evaluator.Row r : rows) byMethod.computeIfAbsent(r.method(), k -> new ArrayList<>()).add(r);
            int legend = 0, colour = 0;
            for (Map.Entry<String, List<Evaluator.Row>> e : byMethod.entrySet()) {
                boolean none = e.getKey().equals("none");
                Color c = none ? Color.BLACK : COLOURS[colour++ % COLOURS.length];
                List<Evaluator.Row> pts = new ArrayList<>(e.getValue());
                pts.sort(Comparator.comparingDouble(Evaluator.Row::tflops));
                g.setColor(c);
                g.setStroke(new BasicStroke(2f));
                for (int i = 1; i < pts.size(); i++) {
                    g.drawLine(a.x(pts.get(i - 1).tflops()), a.y(pts.get(i - 1).accuracy().value()), a.x(pts.get(i).tflops()),
                            a.y(pts.get(i).accuracy().value()));
                }
                g.setStroke(new BasicStroke(1.2f));
                for (Evaluator.Row r : pts) {
                    int x = a.x(r.tflops()), y = a.y(r.accuracy().value());
                    g.drawLine(x, a.y(r.accuracy().low()), x, a.y(r.accuracy().high()));
                    g.drawLine(x - 4, a.y(r.accuracy().low()), x + 4, a.y(r.accuracy().low()));
                    g.drawLine(x - 4, a.y(r.accuracy().high()), x + 4, a.y(r.accuracy().high()));
                    if (none) g.fillPolygon(new int[] {x, x + 7, x, x - 7}, new int[] {y - 7, y, y + 7, y}, 4);
                    else g.fillOval(x - 4, y - 4, 8, 8);
                }
                int ly = top + 10 + 20 * legend++, lx = left + pw + 15;
                if (none) g.fillPolygon(new int[] {lx + 10, lx + 16, lx + 10, lx + 4}, new int[] {ly - 6, ly, ly + 6, ly}, 4);
                else {
                    g.drawLine(lx, ly, lx + 20, ly);
                    g.fillOval(lx + 6, ly - 4, 8, 8);
                }
                g.drawString(none ? "unpruned" : e.getKey(), lx + 28, ly + 4);
            }
        } finally {
            g.dispose();
        }
        return img;
    }

    /** Writes {@link #draw} as a PNG. */
    public static void write(Path file, List<Evaluator.Row> rows, double chance, String caption) throws IOException {
        if (!ImageIO.write(draw(rows, chance, caption), "png", file.toFile())) throw new IOException("no PNG writer available");
    }

    private record Axes(int left, int top, int pw, int ph, double xMax) {
        int x(double tflops) {
            return left + (int) Math.round(pw * tflops / xMax);
        }

        int y(double accuracy) {
            return top + ph - (int) Math.round(ph * accuracy);
        }
    }

    /** The smallest of 1, 2, 2.5, 5 times a power of ten that is >= v. */
    private static double niceMax(double v) {
        double p = Math.pow(10, Math.floor(Math.log10(v)));
        for (double f : new double[] {1, 2, 2.5, 5, 10}) if (f * p >= v) return f * p;
        return 10 * p;
    }
}
