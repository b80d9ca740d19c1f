package dev.vtprune.pipeline;

import dev.vtprune.internal.Args;
import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * Token ids with the character span of each token in the text that was encoded: token {@code i}
 * covers {@code text.substring(start[i], end[i])}, offsets in Java chars (UTF-16 units). Tokens
 * that stand for no text (a BOS added by the tokenizer) have an empty span; several tokens may
 * share a span (the byte-fallback pieces of one character).
 */
public record Encoding(long[] ids, int[] start, int[] end) {
    public Encoding {
        Args.notNull(ids, "ids");
        Args.notNull(start, "start");
        Args.notNull(end, "end");
        if (start.length != ids.length || end.length != ids.length) {
            throw Args.error("start/end", "one span per id (" + ids.length + ")", start.length + "/" + end.length);
        }
        for (int i = 0; i < ids.length; i++) {
            if (start[i] < 0 || end[i] < start[i]) throw Args.error("span " + i, "0 <= start <= end", start[i] + ".." + end[i]);
        }
    }

    public int size() {
        return ids.length;
    }

    /**
     * The tokens whose spans overlap the chars [from, to), in order (empty spans never overlap).
     * With two tokenizers' encodings of one text this pairs their tokens: for an LM token's span,
     * the CLIP tokens that cover part of it (IVTP eq. 7).
     */
    public int[] tokensOverlapping(int from, int to) {
        if (from < 0 || to < from) throw Args.error("from/to", "0 <= from <= to", from + ".." + to);
        return IntStream.range(0, ids.length)
                .filter(i -> Math.max(start[i], from) < Math.min(end[i], to)).toArray();
    }

    /** For each of this encoding's tokens, the tokens of `other` (an encoding of the same text) that overlap it. */
    public int[][] overlaps(Encoding other) {
        int[][] out = new int[ids.length][];
        for (int i = 0; i < ids.length; i++) out[i] = other.tokensOverlapping(start[i], end[i]);
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Encoding e && Arrays.equals(ids, e.ids) && Arrays.equals(start, e.start) && Arrays.equals(end, e.end);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(ids) + Arrays.hashCode(start)) + Arrays.hashCode(end);
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("Encoding[");
        for (int i = 0; i < ids.length; i++) b.append(i == 0 ? "" : ", ").append(ids[i]).append('@').append(start[i]).append("..").append(end[i]);
        return b.append(']').toString();
    }
}
