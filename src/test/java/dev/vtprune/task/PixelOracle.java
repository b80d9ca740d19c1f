package dev.vtprune.task;

import java.awt.image.BufferedImage;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the objects back from rendered pixels and answers the questions from those alone,
 * sharing no code with the generator: saturated pixels (max - min channel >= 80) grouped into
 * 4-connected blobs; a blob's colour is the palette colour nearest its mean, its shape follows
 * from its outline (a triangle's top row is under half its bottom row; a square fills over 90%
 * of its box; else a circle).
 */
final class PixelOracle {
    record Blob(String colour, String shape, int cx, int cy, int pixels) {}

    private static final String[] NAMES = {"red", "green", "blue", "yellow"};
    private static final int[][] PALETTE = {{215, 40, 40}, {40, 185, 60}, {50, 80, 225}, {225, 205, 35}};
    private static final String[] NUMBERS = {"zero", "one", "two", "three", "four", "five"};

    private PixelOracle() {}

    static List<Blob> blobs(BufferedImage im) {
        int w = im.getWidth(), h = im.getHeight();
        int[] px = im.getRGB(0, 0, w, h, null, 0, w);
        boolean[] seen = new boolean[w * h];
        List<Blob> out = new ArrayList<>();
        for (int start = 0; start < px.length; start++) {
            if (seen[start] || !saturated(px[start])) continue;
            ArrayDeque<Integer> todo = new ArrayDeque<>();
            List<Integer> members = new ArrayList<>();
            todo.add(start);
            seen[start] = true;
            while (!todo.isEmpty()) {
                int p = todo.poll();
                members.add(p);
                int x = p % w, y = p / w;
                int[][] nb = {{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
                for (int[] q : nb) {
                    if (q[0] < 0 || q[1] < 0 || q[0] >= w || q[1] >= h) continue;
                    int i = q[1] * w + q[0];
                    if (!seen[i] && saturated(px[i])) {
                        seen[i] = true;
                        todo.add(i);
                    }
                }
            }
            out.add(describe(members, px, w));
        }
        return out;
    }

    private static boolean saturated(int rgb) {
        int r = rgb >> 16 & 255, g = rgb >> 8 & 255, b = rgb & 255;
        return Math.max(r, Math.max(g, b)) - Math.min(r, Math.min(g, b)) >= 80;
    }

    private static Blob describe(List<Integer> members, int[] px, int w) {
        int x0 = Integer.MAX_VALUE, x1 = -1, y0 = Integer.MAX_VALUE, y1 = -1;
        long sr = 0, sg = 0, sb = 0;
        for (int p : members) {
            int x = p % w, y = p / w;
            x0 = Math.min(x0, x);
            x1 = Math.max(x1, x);
            y0 = Math.min(y0, y);
            y1 = Math.max(y1, y);
            sr += px[p] >> 16 & 255;
            sg += px[p] >> 8 & 255;
            sb += px[p] & 255;
        }
        int top = 0, bottom = 0;
        for (int p : members) {
            if (p / w == y0) top++;
            if (p / w == y1) bottom++;
        }
        int n = members.size();
        double fill = (double) n / ((x1 - x0 + 1) * (y1 - y0 + 1));
        String shape = 2 * top < bottom ? "triangle" : fill > 0.9 ? "square" : "circle";
        int best = 0;
        long bestD = Long.MAX_VALUE;
        for (int c = 0; c < PALETTE.length; c++) {
            long dr = sr / n - PALETTE[c][0], dg = sg / n - PALETTE[c][1], db = sb / n - PALETTE[c][2];
            long d = dr * dr + dg * dg + db * db;
            if (d < bestD) {
                bestD = d;
                best = c;
            }
        }
        return new Blob(NAMES[best], shape, (x0 + x1) / 2, (y0 + y1) / 2, n);
    }

    private static List<Blob> matching(List<Blob> blobs, String colour, String shape) {
        List<Blob> m = new ArrayList<>();
        for (Blob b : blobs) if ((colour == null || b.colour.equals(colour)) && (shape == null || b.shape.equals(shape))) m.add(b);
        return m;
    }

    private static Blob single(List<Blob> blobs, String colour, String shape, String question) {
        List<Blob> m = matching(blobs, colour, shape);
        if (m.size() != 1) throw new AssertionError(question + ": " + m.size() + " matching blobs in the pixels");
        return m.get(0);
    }

    /** The answer to `question` as the pixels give it. */
    static String answer(List<Blob> blobs, String question) {
        Matcher m;
        if ((m = Pattern.compile("what colour is the (\\w+) \\?").matcher(question)).matches()) {
            return single(blobs, null, m.group(1), question).colour;
        }
        if ((m = Pattern.compile("what shape is the (\\w+) object \\?").matcher(question)).matches()) {
            return single(blobs, m.group(1), null, question).shape;
        }
        if ((m = Pattern.compile("how many (\\w+) objects are there \\?").matcher(question)).matches()) {
            return NUMBERS[matching(blobs, m.group(1), null).size()];
        }
        if ((m = Pattern.compile("is the (\\w+) (\\w+) left or right of the (\\w+) (\\w+) \\?").matcher(question)).matches()) {
            Blob a = single(blobs, m.group(1), m.group(2), question), b = single(blobs, m.group(3), m.group(4), question);
            return a.cx < b.cx ? "left" : "right";
        }
        if ((m = Pattern.compile("is there a (\\w+) (\\w+) \\?").matcher(question)).matches()) {
            return matching(blobs, m.group(1), m.group(2)).isEmpty() ? "no" : "yes";
        }
        throw new AssertionError("unknown question form: " + question.toLowerCase(Locale.ROOT));
    }
}
