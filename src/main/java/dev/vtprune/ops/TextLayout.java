package dev.vtprune.ops;

import dev.vtprune.internal.Closing;
import dev.vtprune.internal.Args;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;

/**
 * Where the instruction queries and the visual tokens sit in each image's LM sequence, for
 * the Q/K form of {@link TextRelevance}: image b has {@code keys(b)} key positions (its
 * sequence length at the probed layer), instruction queries at {@code queryPos} and visual
 * tokens at {@code visualPos} (positions inside its own sequence). The queries and keys of all
 * images are stacked along the token axis of the q and k tensors, image by image.
 *
 * <p>Immutable and thread-safe; {@link #close()} frees its small native arrays early.
 */
public final class TextLayout implements AutoCloseable {
    private final Closing closing = new Closing("TextLayout");
    private final long[] queryOffsets, keyOffsets, visualOffsets, queryPos, visualPos;
    private final KernelArrays arrays;

    private TextLayout(long[] queryOffsets, long[] keyOffsets, long[] visualOffsets, long[] queryPos, long[] visualPos) {
        this.queryOffsets = queryOffsets;
        this.keyOffsets = keyOffsets;
        this.visualOffsets = visualOffsets;
        this.queryPos = queryPos;
        this.visualPos = visualPos;
        this.arrays = new KernelArrays(queryOffsets, keyOffsets, visualOffsets, queryPos, visualPos);
    }

    /** One image. */
    public static TextLayout single(long keys, long[] queryPos, long[] visualPos) {
        return builder().add(keys, queryPos, visualPos).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Images are added in the order their rows are stacked in q and k. */
    public static final class Builder {
        private final List<long[]> queries = new ArrayList<>(), visuals = new ArrayList<>();
        private final List<Long> keys = new ArrayList<>();

        public Builder add(long keys, long[] queryPos, long[] visualPos) {
            int b = this.keys.size();
            Args.notNull(queryPos, "queryPos");
            Args.notNull(visualPos, "visualPos");
            Args.atLeast(keys, "keys (image " + b + ")", 1);
            check(queryPos, keys, "queryPos", b);
            check(visualPos, keys, "visualPos", b);
            this.keys.add(keys);
            queries.add(queryPos.clone());
            visuals.add(visualPos.clone());
            return this;
        }

        private static void check(long[] pos, long keys, String name, int image) {
            for (int i = 0; i < pos.length; i++) {
                if (pos[i] < 0 || pos[i] >= keys) {
                    throw Args.error(name + "[" + i + "] of image " + image, "be a position in [0, " + keys + ")", pos[i]);
                }
            }
        }

        public TextLayout build() {
            int images = keys.size();
            if (images == 0) throw Args.error("images", "be at least one", 0);
            long[] qo = new long[images + 1], ko = new long[images + 1], vo = new long[images + 1];
            for (int b = 0; b < images; b++) {
                qo[b + 1] = qo[b] + queries.get(b).length;
                ko[b + 1] = ko[b] + keys.get(b);
                vo[b + 1] = vo[b] + visuals.get(b).length;
            }
            return new TextLayout(qo, ko, vo, concat(queries, (int) qo[images]), concat(visuals, (int) vo[images]));
        }

        private static long[] concat(List<long[]> parts, int total) {
            long[] out = new long[total];
            int at = 0;
            for (long[] p : parts) {
                System.arraycopy(p, 0, out, at, p.length);
                at += p.length;
            }
            return out;
        }
    }

    public int numImages() {
        closing.check();
        return queryOffsets.length - 1;
    }

    public long totalQueries() {
        closing.check();
        return queryOffsets[numImages()];
    }

    public long totalKeys() {
        closing.check();
        return keyOffsets[numImages()];
    }

    public long totalVisual() {
        closing.check();
        return visualOffsets[numImages()];
    }

    public long queries(int image) {
        closing.check();
        return queryOffsets[image + 1] - queryOffsets[image];
    }

    public long keys(int image) {
        closing.check();
        return keyOffsets[image + 1] - keyOffsets[image];
    }

    public long visual(int image) {
        closing.check();
        return visualOffsets[image + 1] - visualOffsets[image];
    }

    public long queryOffset(int image) {
        closing.check();
        return queryOffsets[image];
    }

    public long keyOffset(int image) {
        closing.check();
        return keyOffsets[image];
    }

    public long visualOffset(int image) {
        closing.check();
        return visualOffsets[image];
    }

    /** Query positions of `image` inside its own sequence. */
    public long[] queryPos(int image) {
        closing.check();
        return Arrays.copyOfRange(queryPos, (int) queryOffsets[image], (int) queryOffsets[image + 1]);
    }

    /** Visual-token positions of `image` inside its own sequence. */
    public long[] visualPos(int image) {
        closing.check();
        return Arrays.copyOfRange(visualPos, (int) visualOffsets[image], (int) visualOffsets[image + 1]);
    }

    /** [queryOffsets, keyOffsets, visualOffsets, queryPos, visualPos] on `device`. */
    Tensor[] arraysOn(Device device) {
        closing.check();
        return arrays.on(device);
    }

    @Override
    public void close() {
        if (!closing.close()) return;
        arrays.close();
    }
}
