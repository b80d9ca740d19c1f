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
