package dev.vtprune.task;

import java.awt.image.BufferedImage;
import java.util.SplittableRandom;

/**
 * Draws a {@link Scene} with integer arithmetic only (no anti-aliasing, no AWT shapes, no
 * floating point), so that the pixels depend on nothing but the scene, on every machine.
 *
 * <p>Background: a grey level with per-pixel noise, then clutter: grey rectangles, frames and
 * lines of random level and a slight tint (every background pixel has max - min channel <= 40).
 * Objects go on top, filled with their jittered saturated colour: a circle
 * {@code dx² + dy² <= r² + r}, a square {@code |dx|, |dy| <= r}, an upward triangle whose row
 * {@code k = dy + r} (0 at the apex) spans {@code |dx| <= k / 2}.
 */
public final class Renderer {
    private Renderer() {}

    /** Clutter items per 10,000 pixels of image. */
    static final int CLUTTER_DENSITY = 6;

    public static BufferedImage render(Scene scene) {
        int w = scene.width(), h = scene.height();
        int[] px = new int[w * h];
        background(px, w, h, new SplittableRandom(scene.backgroundSeed()));
        for (SceneObject o : scene.objects()) draw(px, w, h, o);
        BufferedImage im = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        im.setRGB(0, 0, w, h, px, 0, w);
        return im;
    }

    /** Whether pixel (dx, dy) relative to the centre of a shape of half side r is inside it. */
    public static boolean inside(Shape shape, int dx, int dy, int r) {
        if (Math.abs(dx) > r || Math.abs(dy) > r) return false;
        return switch (shape) {
            case CIRCLE -> dx * dx + dy * dy <= r * r + r;
            case SQUARE -> true;
            case TRIANGLE -> 2 * Math.abs(dx) <= dy + r;
        };
    }

    private static void draw(int[] px, int w, int h, SceneObject o) {
        int r = o.radius();
        for (int y = Math.max(0, o.cy() - r); y <= Math.min(h - 1, o.cy() + r); y++) {
            for (int x = Math.max(0, o.cx() - r); x <= Math.min(w - 1, o.cx() + r); x++) {
                if (inside(o.shape(), x - o.cx(), y - o.cy(), r)) px[y * w + x] = o.rgb();
            }
        }
    }

    private static void background(int[] px, int w, int h, SplittableRandom rnd) {
        int base = 90 + rnd.nextInt(80);
        for (int i = 0; i < px.length; i++) px[i] = grey(base + rnd.nextInt(-12, 13), 0, 0, 0);
        int items = CLUTTER_DENSITY * w * h / 10_000;
        for (int n = 0; n < items; n++) {
            int level = 40 + rnd.nextInt(181);
            int tr = rnd.nextInt(-15, 16), tg = rnd.nextInt(-15, 16), tb = rnd.nextInt(-15, 16);
            int c = grey(level, tr, tg, tb);
            int x0 = rnd.nextInt(w), y0 = rnd.nextInt(h);
            switch (rnd.nextInt(3)) {
                case 0 -> fill(px, w, h, x0, y0, x0 + 2 + rnd.nextInt(30), y0 + 2 + rnd.nextInt(30), c, false);
                case 1 -> fill(px, w, h, x0, y0, x0 + 6 + rnd.nextInt(40), y0 + 6 + rnd.nextInt(40), c, true);
                default -> line(px, w, h, x0, y0, rnd.nextInt(w), rnd.nextInt(h), c);
            }
        }
    }

    /** A grey of `level` tinted per channel, each channel clamped to 0..255. */
    private static int grey(int level, int tr, int tg, int tb) {
        return clamp(level + tr) << 16 | clamp(level + tg) << 8 | clamp(level + tb);
    }

    private static int clamp(int v) {
        return Math.max(0, Math.min(255, v));
    }

    /** A filled rectangle, or (frame) its one-pixel outline; x1, y1 exclusive, clipped. */
    private static void fill(int[] px, int w, int h, int x0, int y0, int x1, int y1, int c, boolean frame) {
        for (int y = y0; y < Math.min(h, y1); y++) {
            for (int x = x0; x < Math.min(w, x1); x++) {
                if (!frame || y == y0 || y == y1 - 1 || x == x0 || x == x1 - 1) px[y * w + x] = c;
            }
        }
    }

    /** Bresenham's line from (x0, y0) to (x1, y1), both inside the image. */
    private static void line(int[] px, int w, int h, int x0, int y0, int x1, int y1, int c) {
        int dx = Math.abs(x1 - x0), dy = -Math.abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
        int err = dx + dy;
        while (true) {
            px[y0 * w + x0] = c;
            if (x0 == x1 && y0 == y1) return;
            int e2 = 2 * err;
            if (e2 >= dy) {
                err += dy;
                x0 += sx;
            }
            if (e2 <= dx) {
                err += dx;
                y0 += sy;
            }
        }
    }
}
