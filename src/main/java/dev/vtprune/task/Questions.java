package dev.vtprune.task;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Makes a question of a given type about a scene, or null when the scene cannot carry it. */
final class Questions {
    private Questions() {}

    static Question ask(Question.Type type, Scene s, SplittableRandom rnd) {
        return switch (type) {
            case COLOUR -> colour(s, rnd);
            case SHAPE -> shape(s, rnd);
            case COUNT -> count(s, rnd);
            case POSITION -> position(s, rnd);
            case PRESENCE -> presence(s, rnd);
        };
    }

    private static <T> T pick(List<T> xs, SplittableRandom rnd) {
        return xs.isEmpty() ? null : xs.get(rnd.nextInt(xs.size()));
    }

    private static SceneObject only(Scene s, Colour c, Shape sh) {
        for (SceneObject o : s.objects()) if ((c == null || o.colour() == c) && (sh == null || o.shape() == sh)) return o;
        throw new IllegalStateException("no such object");
    }

    private static Question colour(Scene s, SplittableRandom rnd) {
        List<Shape> unique = new ArrayList<>();
        for (Shape sh : Shape.values()) if (s.count(null, sh) == 1) unique.add(sh);
        Shape sh = pick(unique, rnd);
        if (sh == null) return null;
        SceneObject o = only(s, null, sh);
        return new Question(Question.Type.COLOUR, "what colour is the " + sh.word() + " ?", o.colour().word(), List.of(o));
    }

    private static Question shape(Scene s, SplittableRandom rnd) {
        List<Colour> unique = new ArrayList<>();
        for (Colour c : Colour.values()) if (s.count(c, null) == 1) unique.add(c);
        Colour c = pick(unique, rnd);
        if (c == null) return null;
        SceneObject o = only(s, c, null);
        return new Question(Question.Type.SHAPE, "what shape is the " + c.word() + " object ?", o.shape().word(), List.of(o));
    }

    private static Question count(Scene s, SplittableRandom rnd) {
        Colour c = Colour.values()[rnd.nextInt(Colour.values().length)];
        List<SceneObject> about = new ArrayList<>();
        for (SceneObject o : s.objects()) if (o.colour() == c) about.add(o);
        return new Question(Question.Type.COUNT, "how many " + c.word() + " objects are there ?",
                Question.NUMBERS.get(about.size()), about);
    }

    private static Question position(Scene s, SplittableRandom rnd) {
        List<SceneObject[]> pairs = new ArrayList<>();
        for (SceneObject a : s.objects()) {
            for (SceneObject b : s.objects()) {
                if (a != b && s.count(a.colour(), a.shape()) == 1 && s.count(b.colour(), b.shape()) == 1
                        && Math.abs(a.cx() - b.cx()) >= VqaTask.MIN_DX) {
                    pairs.add(new SceneObject[] {a, b});
                }
            }
        }
        SceneObject[] p = pick(pairs, rnd);
        if (p == null) return null;
        return new Question(Question.Type.POSITION, "is the " + p[0].words() + " left or right of the " + p[1].words() + " ?",
                p[0].cx() < p[1].cx() ? "left" : "right", List.of(p[0], p[1]));
    }

    private static Question presence(Scene s, SplittableRandom rnd) {
        if (rnd.nextBoolean()) {
            SceneObject o = s.objects().get(rnd.nextInt(s.objects().size()));
            return new Question(Question.Type.PRESENCE, "is there a " + o.words() + " ?", "yes", List.of(o));
        }
        List<String> absent = new ArrayList<>();
        for (Colour c : Colour.values()) {
            for (Shape sh : Shape.values()) if (s.count(c, sh) == 0) absent.add(c.word() + " " + sh.word());
        }
        String words = pick(absent, rnd);  // never null: at most 5 of the 12 combinations occur
        return new Question(Question.Type.PRESENCE, "is there a " + words + " ?", "no", List.of());
    }
}
