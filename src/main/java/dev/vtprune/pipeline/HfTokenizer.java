package dev.vtprune.pipeline;

import dev.vtprune.internal.Closing;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import dev.vtprune.internal.Args;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A Hugging Face {@code tokenizer.json} (Qwen2's, llava-1.5-hf's, CLIP's) run by the Hugging Face
 * tokenizers library itself (Rust, through DJL's binding; the natives are in its jar). Truncation
 * and padding are off: the model sees the whole prompt. The library's offsets count Unicode code
 * points; they are turned into Java char offsets here.
 */
public final class HfTokenizer implements Tokenizer {
    private final Closing closing = new Closing("HfTokenizer");
    private final Path file;
    private final HuggingFaceTokenizer tokenizer;

    private HfTokenizer(Path file, HuggingFaceTokenizer tokenizer) {
        this.file = file;
        this.tokenizer = tokenizer;
    }

    /** Reads a tokenizer.json (a file, or a directory holding one). */
    public static HfTokenizer load(Path path) {
        Args.notNull(path, "path");
        Path f = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
        if (!Files.exists(f)) throw new IllegalArgumentException("no tokenizer.json at " + f);
        Djl.init();
        // Strings, as DJL reads its options: no truncation to a model_max_length, no padding,
        // and special tokens only where a caller asks for them.
        Map<String, String> options = Map.of("truncation", "false", "padding", "false", "addSpecialTokens", "false");
        try {
            return new HfTokenizer(f, HuggingFaceTokenizer.newInstance(f, options));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + f, e);
        } catch (RuntimeException e) {  // the library's parse errors come back as runtime exceptions
            throw new IllegalArgumentException("tokenizer " + f + " is not a valid tokenizer.json: " + e.getMessage(), e);
        }
    }

    @Override
    public Encoding encode(String text, boolean addSpecialTokens) {
        closing.check();
        Args.notNull(text, "text");
        ai.djl.huggingface.tokenizers.Encoding e = tokenizer.encode(text, addSpecialTokens, false);
        long[] ids = e.getIds();
        CharSpan[] spans = e.getCharTokenSpans();
        int[] charAt = charOffsets(text);
        int[] start = new int[ids.length], end = new int[ids.length];
        int last = 0;  // a token without a span (a special token the post-processor added) sits where the previous one ended
        for (int i = 0; i < ids.length; i++) {
            CharSpan s = spans[i];
            if (s == null) {
                start[i] = end[i] = last;
            } else {
                start[i] = charAt[s.getStart()];
                end[i] = charAt[s.getEnd()];
                last = end[i];
            }
        }
        return new Encoding(ids, start, end);
    }

    /** Java char index of each code point index of `text` (and of its end). */
    static int[] charOffsets(String text) {
        int n = text.codePointCount(0, text.length());
        int[] at = new int[n + 1];
        int c = 0;
        for (int k = 0; k < n; k++) {
            at[k] = c;
            c += Character.charCount(text.codePointAt(c));
        }
        at[n] = c;
        return at;
    }

    @Override
    public long tokenId(String token) {
        closing.check();
        Args.notNull(token, "token");
        ai.djl.huggingface.tokenizers.Encoding e = tokenizer.encode(token, false, false);
        String[] tokens = e.getTokens();
        if (tokens.length != 1 || !tokens[0].equals(token)) {
            throw new IllegalArgumentException("argument 'token': '" + token + "' is not one token of " + file + " (it encodes as "
                    + String.join(" ", tokens) + ")");
        }
        return e.getIds()[0];
    }

    @Override
    public String decode(long[] ids) {
        closing.check();
        return tokenizer.decode(Args.notNull(ids, "ids"), false);
    }

    @Override
    public String describe() {
        closing.check();
        return "tokenizer.json via the Hugging Face tokenizers library (DJL " + Djl.VERSION + ") from " + file;
    }

    @Override
    public void close() {
        if (!closing.close()) return;
        tokenizer.close();
    }
}
