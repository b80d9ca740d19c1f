package dev.vtprune.task;

import java.util.Locale;

/** The object shapes of the task; each is one word of the vocabulary. */
public enum Shape {
    CIRCLE, SQUARE, TRIANGLE;

    public String word() {
        return name().toLowerCase(Locale.ROOT);
    }
}
