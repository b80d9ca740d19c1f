package dev.vtprune.task;

import java.util.Locale;

/**
 * The object colours of the task: saturated, far apart from each other and from the
 * background's near-grey clutter (every clutter pixel has max - min channel <= 40, every object
 * pixel >= 110), so that an object's colour is a local property of its few pixels.
 */
public enum Colour {
    RED(215, 40, 40), GREEN(40, 185, 60), BLUE(50, 80, 225), YELLOW(225, 205, 35);

    public final int r, g, b;

    Colour(int r, int g, int b) {
        this.r = r;
        this.g = g;
        this.b = b;
    }

    public String word() {
        return name().toLowerCase(Locale.ROOT);
    }
}
