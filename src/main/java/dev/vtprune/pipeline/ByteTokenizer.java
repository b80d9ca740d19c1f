package dev.vtprune.pipeline;

import dev.vtprune.ops.Args;
import java.nio.charset.StandardCharsets;

/**
 * One token per UTF-8 byte: id = offset + byte. For models with random weights, where only the
 * structure of a prompt matters (its length, where the instruction tokens sit); it is not the
 * tokenizer of any real checkpoint.
 */
public final class ByteTokenizer implements Tokenizer {
    private final int offset;

    /** @param vocab the LM's vocabulary size; ids use [vocab - 256, vocab) (or [0, 256) if smaller) */
    public ByteTokenizer(int vocab) {
        Args.atLeast(vocab, "vocab", 256);
        this.offset = vocab - 256;
    }

    @Override
    public long[] encode(String text) {
        byte[] bytes = Args.notNull(text, "text").getBytes(StandardCharsets.UTF_8);
        long[] ids = new long[bytes.length];
        for (int i = 0; i < bytes.length; i++) ids[i] = offset + (bytes[i] & 0xFF);
        return ids;
    }

    @Override
    public String describe() {
        return "UTF-8 bytes (ids " + offset + ".." + (offset + 255) + "; structural, not a real tokenizer)";
    }
}
