package dev.vtprune.pipeline;

import dev.vtprune.internal.Args;
import java.util.Arrays;

/**
 * The CLIP text tower's input for IVTP's pseudo-CLS: the prompt through CLIP's tokenizer (a
 * {@code tokenizer.json} loaded by {@link HfTokenizer}), start and end tokens added, character
 * spans into the prompt kept for eq. 7.
 *
 * <p>Truncation: CLIP's position table holds {@link #MAX_LENGTH} = 77 tokens. A longer encoding
 * keeps its start token, the first 75 text tokens and its end token, as Hugging Face's
 * {@code CLIPTokenizer(text, truncation=True, max_length=77)} does. The prompt's text past the
 * kept tokens then has no CLIP token, so the LM tokens there get no relevance (see
 * {@code dev.vtprune.prune.PseudoCls}: excluded from eq. 8).
 */
public final class ClipText {
    private ClipText() {}

    /** CLIP's context length (max_position_embeddings of every released CLIP). */
    public static final int MAX_LENGTH = 77;

    /** The prompt's CLIP encoding, special tokens added, truncated to `maxLength` (>= 2). */
    public static Encoding encode(Tokenizer clip, String text, int maxLength) {
        Args.notNull(clip, "clip");
        Args.notNull(text, "text");
        Args.atLeast(maxLength, "maxLength", 2);
        return truncate(clip.encode(text, true), maxLength);
    }

    /** The first maxLength - 1 tokens and the last (CLIP's end token); unchanged when it fits. */
    static Encoding truncate(Encoding e, int maxLength) {
        int n = e.size();
        if (n <= maxLength) return e;
        long[] ids = Arrays.copyOf(e.ids(), maxLength);
        int[] s = Arrays.copyOf(e.start(), maxLength), t = Arrays.copyOf(e.end(), maxLength);
        ids[maxLength - 1] = e.ids()[n - 1];
        s[maxLength - 1] = e.start()[n - 1];
        t[maxLength - 1] = e.end()[n - 1];
        return new Encoding(ids, s, t);
    }
}
