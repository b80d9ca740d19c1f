package dev.vtprune.task;

import dev.vtprune.pipeline.Encoding;
import dev.vtprune.pipeline.Tokenizer;

/**
 * The task model's CLIP tokenizer: the task's {@link WordTokenizer} with CLIP's start and end
 * tokens as two more ids after its vocabulary ({@code size()} and {@code size() + 1}). Like
 * Hugging Face's CLIPTokenizer it adds both to every encoding asked for with special tokens,
 * each with an empty character span (they stand for no text, so IVTP's eq. 7 maps no LM token
 * to them), and the tower pools a caption at its end token as CLIP does.
 */
public final class ClipWords implements Tokenizer {
    public static final String START = "<|startoftext|>", END = "<|endoftext|>";
    private final WordTokenizer words;

    public ClipWords(WordTokenizer words) {
        if (words == null) throw new IllegalArgumentException("argument 'words' must not be null");
        this.words = words;
    }

    /** The CLIP tower's vocabulary: the words and the two added tokens. */
    public int size() {
        return words.size() + 2;
    }

    public long startId() {
        return words.size();
    }

    public long endId() {
        return words.size() + 1L;
    }

    @Override
    public Encoding encode(String text, boolean addSpecialTokens) {
        Encoding e = words.encode(text, false);
        if (!addSpecialTokens) return e;
        int n = e.size();
        long[] ids = new long[n + 2];
        int[] start = new int[n + 2], end = new int[n + 2];
        ids[0] = startId();
        System.arraycopy(e.ids(), 0, ids, 1, n);
        System.arraycopy(e.start(), 0, start, 1, n);
        System.arraycopy(e.end(), 0, end, 1, n);
        ids[n + 1] = endId();
        start[n + 1] = end[n + 1] = text.length();
        return new Encoding(ids, start, end);
    }

    @Override
    public long tokenId(String token) {
        if (START.equals(token)) return startId();
        if (END.equals(token)) return endId();
        return words.tokenId(token);
    }

    @Override
    public String decode(long[] ids) {
        StringBuilder b = new StringBuilder();
        for (long id : ids) {
            if (b.length() > 0) b.append(' ');
            b.append(id == startId() ? START : id == endId() ? END : words.word(id));
        }
        return b.toString();
    }

    @Override
    public String describe() {
        return "task word tokenizer + CLIP start/end (" + size() + " tokens)";
    }
}
