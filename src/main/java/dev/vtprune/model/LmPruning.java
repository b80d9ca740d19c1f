package dev.vtprune.model;

import dev.vtprune.internal.Args;
import dev.vtprune.internal.Closing;
import dev.vtprune.ops.Rollout;
import java.util.List;

/**
 * Group-wise token pruning inside the first {@code layers} (W) LM layers (IVTP §3.3, the LM
 * stage): what {@link LanguageModel#prefillPruned} does with one sequence.
 *
 * <p>A pseudo-CLS token is inserted right after the last visual token, before the text that
 * follows it. It attends causally to everything before it; no later token attends to it (its
 * column is masked out of every later query's keys), so it never changes what the text
 * tokens compute for a given kept set. Layers 0..W-1 run in groups of {@code groupSize} (a
 * shorter last group when W is not a multiple); at the top layer of each group the rollout of
 * the pseudo-CLS row over the group's layers ({@link Rollout#causalRowFromQk}, from the
 * layers' post-RoPE Q/K, causal, GQA; SDPA stays the attention of the forward), times the
 * top layer's value norms when {@code valueWeighting} (eq. 4), scores each image's visual
 * tokens, normalised to sum 1 per image; the {@code keep[p]} highest per image stay (K2 top-k,
 * ties to the lower position) and the next group runs on the shorter sequence.
 *
 * <p>KV cache: the layers up to and including a pruning point keep the keys and values of
 * every token they saw (FastV's KV mode), the layers after it cache only the kept tokens. After
 * the last pruning point the pseudo-CLS leaves the sequence and every layer's cache, so the
 * cache (and decoding from it) holds only real tokens, each layer at its own length.
 *
 * <p>RoPE positions: every token keeps the position it had in the unpruned sequence (without
 * the pseudo-CLS): dropping visual tokens leaves gaps, it does not shift the text. This keeps
 * the relative distances the early layers saw, makes a pruned forward equal to "the unpruned
 * model with these tokens removed", and is what FastV's implementation does. The pseudo-CLS
 * takes the position right after the last visual token (the one the first text token after
 * it also has): nothing reads its keys, so the shared position only sets its own queries.
 *
 * @param groupSize      layers per group (>= 1)
 * @param layers         W, the LM layers that prune (>= 1, at most the LM's depth)
 * @param keep           visual tokens kept per image after each pruning point, one per point
 *                       ({@code ceil(W / groupSize)}), non-increasing, each >= 1; a count at or
 *                       above an image's tokens keeps them all
 * @param valueWeighting weight the rollout row by the top layer's value norms (eq. 4)
 * @param mode           rollout form
 */
public record LmPruning(int groupSize, int layers, long[] keep, boolean valueWeighting, Rollout.Mode mode) {
    public LmPruning {
        Args.atLeast(groupSize, "groupSize", 1);
        Args.atLeast(layers, "layers (W)", 1);
        Args.notNull(keep, "keep");
        keep = keep.clone();
        int points = (layers + groupSize - 1) / groupSize;
        if (keep.length != points) {
            throw Args.error("keep", "hold one count per pruning point (" + points + " for W = " + layers
                    + " in groups of " + groupSize + ")", keep.length);
        }
        for (int i = 0; i < keep.length; i++) {
            Args.atLeast(keep[i], "keep[" + i + "]", 1);
            if (i > 0 && keep[i] > keep[i - 1]) {
                throw Args.error("keep[" + i + "]", "be <= keep[" + (i - 1) + "] = " + keep[i - 1], keep[i]);
            }
        }
        Args.notNull(mode, "mode");
    }

    @Override
    public long[] keep() {
        return keep.clone();
    }

    /** Pruning points: one at the top of each group of the first W layers. */
    public int points() {
        return keep.length;
    }

    /** Whether layer i (0-based) is a pruning point: the top of its group within the first W. */
    public boolean isTop(int i) {
        return i < layers && ((i + 1) % groupSize == 0 || i == layers - 1);
    }

    /**
     * Where the visual tokens of each image sit in the sequence given to the LM (without the
     * pseudo-CLS): image b owns positions {@code start[b] .. start[b] + count[b] - 1}, the spans
     * ascending and disjoint. The pseudo-CLS goes right after the last span.
     */
    public record Spans(long[] start, long[] count) {
        public Spans {
            Args.notNull(start, "start");
            Args.notNull(count, "count");
            if (start.length == 0 || start.length != count.length) {
                throw Args.error("count", "hold one count per span start (" + start.length + "), at least one",
                        count.length);
            }
            start = start.clone();
            count = count.clone();
            for (int b = 0; b < start.length; b++) {
                Args.atLeast(count[b], "count[" + b + "]", 1);
                long min = b == 0 ? 0 : start[b - 1] + count[b - 1];
                if (start[b] < min) throw Args.error("start[" + b + "]", "be >= " + min + " (spans ascending, disjoint)", start[b]);
            }
        }

        @Override
        public long[] start() {
            return start.clone();
        }

        @Override
        public long[] count() {
            return count.clone();
        }

        public int images() {
            return start.length;
        }

        /** The position right after the last visual token: where the pseudo-CLS goes. */
        public long end() {
            return start[start.length - 1] + count[count.length - 1];
        }

        /** The image whose span holds position p, or -1. */
        public int imageOf(long p) {
            for (int b = 0; b < start.length; b++) if (p >= start[b] && p < start[b] + count[b]) return b;
            return -1;
        }
    }

    /**
     * What one pruning point saw and decided, per image, on the host. Token ids are positions in
     * the input sequence (without the pseudo-CLS), i.e. also their RoPE positions.
     *
     * @param layer      the top layer of the group (0-based)
     * @param present    [images][n] the visual tokens present, ascending
     * @param importance [images][n] their scores (sum 1 per image), or null when the kept sets
     *                   were given rather than scored
     * @param kept       [images][n'] the visual tokens that stay, ascending
     * @param ms         wall time of the decision (rollout, top-k), milliseconds
     */
    public record Step(int layer, long[][] present, double[][] importance, long[][] kept, double ms) {}

    /**
     * A pruned prefill; owns its prefill: after {@link #close()} (idempotent) the accessors throw
     * {@link IllegalStateException}.
     */
    public static final class Result implements AutoCloseable {
        private final Closing closing = new Closing("LmPruning.Result");
        private final Prefill prefill;
        private final List<Step> steps;
        private final long[][] positions;

        /**
         * @param prefill   the logits at the last position and the KV cache (layer i's K/V
         *                  {@code [1, Hkv, len_i, d]}, pseudo-CLS removed)
         * @param steps     one per pruning point, in order
         * @param positions per layer, the input positions (= RoPE positions) of the tokens its cache holds, ascending
         */
        public Result(Prefill prefill, List<Step> steps, long[][] positions) {
            this.prefill = prefill;
            this.steps = steps;
            this.positions = positions;
        }

        public Prefill prefill() {
            closing.check();
            return prefill;
        }

        public List<Step> steps() {
            closing.check();
            return steps;
        }

        public long[][] positions() {
            closing.check();
            return positions;
        }

        /** Tokens cached by layer i. */
        public long cacheLength(int layer) {
            closing.check();
            return positions[Checks.layer(layer, "layer", 0, positions.length)].length;
        }

        @Override
        public void close() {
            if (!closing.close()) return;
            prefill.close();
        }
    }
}
