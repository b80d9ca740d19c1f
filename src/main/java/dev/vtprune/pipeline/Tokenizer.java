package dev.vtprune.pipeline;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Text to token ids (with character offsets) for the LM, and back. Implementations hold native
 * resources: close them.
 */
public interface Tokenizer extends AutoCloseable {
    /**
     * @param addSpecialTokens add what the tokenizer adds to a single sequence (Llama's and
     *                         InternLM2's BOS; CLIP's start and end tokens), as Hugging Face's
     *                         {@code tokenizer(text)} does; no truncation, no padding
     */
    Encoding encode(String text, boolean addSpecialTokens);

    /** The ids of the text without special tokens added. */
    default long[] encode(String text) {
        return encode(text, false).ids();
    }

    /**
     * The id of one token as the vocabulary spells it — meant for added and special tokens
     * ({@code <IMG_CONTEXT>}, {@code <image>}, {@code <|im_start|>}).
     *
     * @throws IllegalArgumentException when the string is not exactly one token
     */
    long tokenId(String token);

    /** The text of the ids, special tokens included. */
    String decode(long[] ids);

    /** What the ids mean, for the demo's output: the kind of tokenizer and its file. */
    String describe();

    @Override
    default void close() {}

    /**
     * The tokenizer of a Hugging Face checkpoint directory: its {@code tokenizer.json} (through
     * the Hugging Face tokenizers library) when present, else its sentencepiece
     * {@code tokenizer.model} with the added tokens of {@code added_tokens.json} and
     * {@code tokenizer_config.json}.
     */
    static Tokenizer forCheckpoint(Path dir) {
        if (dir == null) throw new IllegalArgumentException("argument 'dir' must not be null");
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("argument 'dir': " + dir + " is not a directory");
        if (Files.exists(dir.resolve("tokenizer.json"))) return HfTokenizer.load(dir.resolve("tokenizer.json"));
        if (Files.exists(dir.resolve("tokenizer.model"))) return SentencePieceTokenizer.load(dir);
        throw new IllegalArgumentException("argument 'dir': " + dir + " has neither tokenizer.json nor tokenizer.model "
                + "(a vocab.json + merges.txt pair alone is not read)");
    }
}
