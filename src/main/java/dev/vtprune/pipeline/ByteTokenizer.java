package dev.vtprune.pipeline;

import dev.vtprune.internal.Args;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * One token per UTF-8 byte: id = offset + byte, each byte's span the character it belongs to. For
 * models with random weights, where only the structure of a prompt matters (its length, where the
 * instruction tokens sit); it is not the tokenizer of any real checkpoint. Optional special
 * strings (a template's {@code <IMG_CONTEXT>}, {@code <|im_start|>}) are single tokens with the
 * ids just below the bytes', so prompts keep the shape they have with a real tokenizer.
 */
public final class ByteTokenizer implements Tokenizer {
    private final int offset;
    private final List<String> specials;

    /** @param vocab the LM's vocabulary size; ids use [vocab - 256, vocab) (or [0, 256) if smaller) */
    public ByteTokenizer(int vocab) {
        this(vocab, List.of());
    }

    /**
     * @param specials strings encoded as one token each; the i-th has id vocab - 257 - i
     */
    public ByteTokenizer(int vocab, List<String> specials) {
        Args.notNull(specials, "specials");
        Args.atLeast(vocab, "vocab", 256L + specials.size());
        for (String s : specials) if (s == null || s.isEmpty()) throw Args.error("specials", "non-empty strings", specials);
        this.offset = vocab - 256;
        this.specials = List.copyOf(specials);
    }

    @Override
    public Encoding encode(String text, boolean addSpecialTokens) {
        Args.notNull(text, "text");
        List<long[]> tokens = new ArrayList<>();  // id, start, end
        int i = 0;
        while (i < text.length()) {
            int special = special(text, i);
            if (special >= 0) {
                int n = specials.get(special).length();
                tokens.add(new long[] {offset - 1 - special, i, i + n});
                i += n;
                continue;
            }
            int n = Character.charCount(text.codePointAt(i));
            for (byte b : text.substring(i, i + n).getBytes(StandardCharsets.UTF_8)) tokens.add(new long[] {offset + (b & 0xFF), i, i + n});
            i += n;
        }
        long[] ids = new long[tokens.size()];
        int[] start = new int[ids.length], end = new int[ids.length];
        for (int k = 0; k < ids.length; k++) {
            ids[k] = tokens.get(k)[0];
            start[k] = (int) tokens.get(k)[1];
            end[k] = (int) tokens.get(k)[2];
        }
        return new Encoding(ids, start, end);
    }

    /** The longest special string at `at`, or -1. */
    private int special(String text, int at) {
        int best = -1;
        for (int s = 0; s < specials.size(); s++) {
            if (text.startsWith(specials.get(s), at) && (best < 0 || specials.get(s).length() > specials.get(best).length())) best = s;
        }
        return best;
    }

    @Override
    public long tokenId(String token) {
        Args.notNull(token, "token");
        int s = specials.indexOf(token);
        if (s >= 0) return offset - 1 - s;
        byte[] b = token.getBytes(StandardCharsets.UTF_8);
        if (b.length == 1) return offset + (b[0] & 0xFF);
        throw new IllegalArgumentException("argument 'token': '" + token + "' is not one token of the byte tokenizer (specials: "
                + specials + ")");
    }

    @Override
    public String decode(long[] ids) {
        StringBuilder out = new StringBuilder();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (long id : Args.notNull(ids, "ids")) {
            if (id >= offset && id < offset + 256) {
                bytes.write((int) (id - offset));
                continue;
            }
            int s = (int) (offset - 1 - id);
            if (s < 0 || s >= specials.size()) throw Args.error("ids", "ids of bytes or specials", id);
            out.append(bytes.toString(StandardCharsets.UTF_8)).append(specials.get(s));
            bytes.reset();
        }
        return out.append(bytes.toString(StandardCharsets.UTF_8)).toString();
    }

    @Override
    public String describe() {
        return "UTF-8 bytes (ids " + offset + ".." + (offset + 255) + (specials.isEmpty() ? "" : ", " + specials.size()
                + " template tokens below them") + "; structural, not a real tokenizer)";
    }
}
