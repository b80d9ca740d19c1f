package dev.vtprune.task;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * What an image shows: its size, the seed of its cluttered background, and the objects drawn
 * over it (never overlapping). {@link Renderer} turns it into pixels.
 */
public record Scene(int width, int height, long backgroundSeed, List<SceneObject> objects) {
    public Scene {
        objects = List.copyOf(objects);
    }

    /** How many objects satisfy both filters (null = any). */
    public int count(Colour colour, Shape shape) {
        int n = 0;
        for (SceneObject o : objects) {
            if ((colour == null || o.colour() == colour) && (shape == null || o.shape() == shape)) n++;
        }
        return n;
    }

    /**
     * Which object each cell of a {@code side x side} grid over the region shows, row-major:
     * the index (in {@link #objects()}) of the object whose box covers most of the cell, when it
     * covers at least a fifth of the cell or a fifth of the object's own box; else -1. These are
     * the dense labels of the grounding loss: one cell per visual token of a tile (or of the
     * thumbnail, whose cells are larger than the objects).
     */
    public int[] cellObjects(int x, int y, int w, int h, int side) {
        if (side < 1 || w < side || h < side) {
            throw new IllegalArgumentException("argument 'side' must be in [1, min(w, h)], got " + side + " for " + w + " x " + h);
        }
        int[] out = new int[side * side];
        for (int r = 0; r < side; r++) {
            for (int c = 0; c < side; c++) {
                // Cell bounds in image pixels, half-open; integer arithmetic so labels are exact everywhere.
                int x0 = x + c * w / side, x1 = x + (c + 1) * w / side, y0 = y + r * h / side, y1 = y + (r + 1) * h / side;
                long cell = (long) (x1 - x0) * (y1 - y0), best = 0;
                int label = -1;
                for (int i = 0; i < objects.size(); i++) {
                    SceneObject o = objects.get(i);
                    long ox = Math.max(0, Math.min(x1, o.cx() + o.radius() + 1) - Math.max(x0, o.cx() - o.radius()));
                    long oy = Math.max(0, Math.min(y1, o.cy() + o.radius() + 1) - Math.max(y0, o.cy() - o.radius()));
                    long overlap = ox * oy, box = (2L * o.radius() + 1) * (2L * o.radius() + 1);
                    if (overlap > best && (5 * overlap >= cell || 5 * overlap >= box)) {
                        best = overlap;
                        label = i;
                    }
                }
                out[r * side + c] = label;
            }
        }
        return out;
    }

    /**
     * A caption of the objects whose centre lies in the region, left to right ("red circle and
     * blue square"), or "nothing": the texts of the CLIP stage, one per tile.
     */
    public String caption(int x, int y, int w, int h) {
        List<SceneObject> in = new ArrayList<>();
        for (SceneObject o : objects) {
            if (o.cx() >= x && o.cx() < x + w && o.cy() >= y && o.cy() < y + h) in.add(o);
        }
        if (in.isEmpty()) return "nothing";
        in.sort(Comparator.comparingInt(SceneObject::cx).thenComparingInt(SceneObject::cy));
        StringBuilder s = new StringBuilder();
        for (SceneObject o : in) s.append(s.length() == 0 ? "" : " and ").append(o.words());
        return s.toString();
    }
}
