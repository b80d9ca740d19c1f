package dev.vtprune.pipeline;

/** Text to token ids for the LM. */
public interface Tokenizer {
    long[] encode(String text);

    /** What the ids mean, for the demo's output ("bytes (structural)", a tokenizer file...). */
    String describe();
}
