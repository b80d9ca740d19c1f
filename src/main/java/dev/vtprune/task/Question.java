package dev.vtprune.task;

import java.util.List;

/**
 * One question about a scene, its single-word answer, and the objects the answer depends on
 * (none for a count of zero or an absent object).
 */
public record Question(Type type, String text, String answer, List<SceneObject> about) {
    public Question {
        about = List.copyOf(about);
    }

    /** What is asked. */
    public enum Type {
        /** "what colour is the triangle ?" (the only triangle) — a colour */
        COLOUR,
        /** "what shape is the red object ?" (the only red one) — a shape */
        SHAPE,
        /** "how many blue objects are there ?" — zero .. five */
        COUNT,
        /** "is the red circle left or right of the blue square ?" — left or right */
        POSITION,
        /** "is there a green square ?" — yes or no */
        PRESENCE
    }

    static final List<String> NUMBERS = List.of("zero", "one", "two", "three", "four", "five");
}
