package dev.vtprune.task;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The synthetic visual question answering task: seeded scenes of a few small objects on a
 * cluttered background (448 x 224 px = 4 x 2 tiles of 112 px) and questions whose one-word
 * answers need one or two of those objects.
 *
 * <p>Sample i of a seed is drawn from its own {@code SplittableRandom}, seeded by a bijective
 * mix of (seed, i), so a sample depends on nothing but (seed, i) (integers only: identical on
 * every JVM) and can be made alone. The splits are seeds: {@link Split}.
 *
 * <p>Scenes hold 2 to 5 objects (shape, colour uniform; half side 12 to 18 px, i.e. 25 to 37 px
 * wide: about one 28 px visual token of a tile, 1-4 of its 144 tokens, a fraction of a thumbnail
 * token; at 7 to 11 px the tiny model's training stayed at the question prior,
 * bench/results/eval-2026-12-03b), apart by at
 * least {@link #GAP} px. A question's type is drawn uniformly; when the scene cannot carry it
 * (no shape occurs once, say) the next feasible type in a random order is asked instead, and the
 * questions of one image have distinct types where possible.
 */
public final class VqaTask {
    public static final int WIDTH = 448, HEIGHT = 224;
    public static final int MIN_OBJECTS = 2, MAX_OBJECTS = 5, MIN_RADIUS = 12, MAX_RADIUS = 18;
    /** Least gap between objects' boxes. */
    static final int GAP = 4;
    /**
     * Least |dx| between the two objects of a POSITION question: one tile's width, so that the
     * two always fall in different columns of the thumbnail's token grid (InternVL's global view,
     * 112 px of this image per thumbnail token). At 24 px the tiny model stayed at chance on
     * these questions in two runs (41% and 40%, bench/results/eval-2026-12-04): its 1-D RoPE LM
     * does not learn to compare x across the tiles of a 4 x 2 grid, which come row by row.
     */
    static final int MIN_DX = 112;
    private static final int COLOUR_JITTER = 12;

    /** The three splits and their seeds. */
    public enum Split {
        TRAIN(1), VAL(2), TEST(3);

        public final long seed;

        Split(long seed) {
            this.seed = seed;
        }
    }

    /** One image's scene and its questions. */
    public record Sample(long seed, long index, Scene scene, List<Question> questions) {}

    private VqaTask() {}

    /** Sample `index` of `seed` with `questions` questions (1 to 5). */
    public static Sample sample(long seed, long index, int questions) {
        return sample(seed, index, questions, EnumSet.allOf(Question.Type.class));
    }

    /**
     * Sample `index` of `seed` with up to `questions` questions of the `allowed` types only (a
     * curriculum, or a diagnosis that fixes the question text): the scene is the same as with
     * every type; the types are drawn from `allowed` as {@link #sample(long, long, int)} draws them
     * from all, repeating a type once every allowed one is used. Fewer questions (possibly none)
     * when the scene carries none of the allowed types. With every type allowed it is exactly
     * {@link #sample(long, long, int)}.
     */
    public static Sample sample(long seed, long index, int questions, Set<Question.Type> allowed) {
        if (allowed == null || allowed.isEmpty()) throw new IllegalArgumentException("argument 'allowed' must name at least one question type, got " + allowed);
        if (questions < 1 || questions > Question.Type.values().length) {
            throw new IllegalArgumentException("argument 'questions' must be in [1, " + Question.Type.values().length
                    + "], got " + questions);
        }
        if (index < 0) throw new IllegalArgumentException("argument 'index' must be >= 0, got " + index);
        SplittableRandom rnd = new SplittableRandom(mix(mix(seed) + index));
        Scene scene = scene(rnd);
        List<Question> qs = new ArrayList<>();
        EnumSet<Question.Type> used = EnumSet.noneOf(Question.Type.class);
        Question.Type[] types = EnumSet.copyOf(allowed).toArray(new Question.Type[0]);
        for (int q = 0; q < questions; q++) {
            int first = rnd.nextInt(types.length);
            Question made = null;
            // Unused types first, from the drawn one on; then any type.
            for (int pass = 0; pass < 2 && made == null; pass++) {
                for (int k = 0; k < types.length && made == null; k++) {
                    Question.Type t = types[(first + k) % types.length];
                    if (pass == 0 && used.contains(t)) continue;
                    made = Questions.ask(t, scene, rnd);
                }
            }
            if (made == null) break;  // only when some type is excluded: PRESENCE and COUNT always fit
            used.add(made.type());
            qs.add(made);
        }
        return new Sample(seed, index, scene, qs);
    }

    /**
     * The demo's image and question: the first sample of the test split whose first question asks
     * a colour (fixed by that rule, not picked by how a model answers it). Rendered with
     * {@link Renderer#render}; deterministic like every sample.
     */
    public static Sample demoSample() {
        for (long i = 0; ; i++) {
            Sample s = sample(Split.TEST.seed, i, 1);
            if (s.questions().get(0).type() == Question.Type.COLOUR) return s;
        }
    }

    /** SplitMix64's finaliser: a bijection of 64-bit integers that scatters neighbours. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private static Scene scene(SplittableRandom rnd) {
        long background = rnd.nextLong();
        int n = MIN_OBJECTS + rnd.nextInt(MAX_OBJECTS - MIN_OBJECTS + 1);
        List<SceneObject> objects = new ArrayList<>();
        while (objects.size() < n) {
            Shape shape = Shape.values()[rnd.nextInt(Shape.values().length)];
            Colour colour = Colour.values()[rnd.nextInt(Colour.values().length)];
            int r = MIN_RADIUS + rnd.nextInt(MAX_RADIUS - MIN_RADIUS + 1);
            int cx = r + 2 + rnd.nextInt(WIDTH - 2 * r - 4), cy = r + 2 + rnd.nextInt(HEIGHT - 2 * r - 4);
            int rgb = jitter(colour.r, rnd) << 16 | jitter(colour.g, rnd) << 8 | jitter(colour.b, rnd);
            SceneObject o = new SceneObject(shape, colour, cx, cy, r, rgb);
            boolean free = true;
            for (SceneObject p : objects) free &= !o.near(p, GAP);
            if (free) objects.add(o);
        }
        return new Scene(WIDTH, HEIGHT, background, objects);
    }

    private static int jitter(int v, SplittableRandom rnd) {
        return Math.max(0, Math.min(255, v + rnd.nextInt(-COLOUR_JITTER, COLOUR_JITTER + 1)));
    }
}
