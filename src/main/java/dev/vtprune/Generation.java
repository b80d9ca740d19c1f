package dev.vtprune;

import dev.vtprune.pipeline.Timings;
import java.util.Locale;

/**
 * An answer from {@link LoadedModel#generate}: its tokens and text, why it ended, and its
 * timing, with the time to first token (the pipeline's stages + choosing the first token from
 * the prefill's logits) apart from the decode (every later token: one decoder step each, plus
 * copying the prefill's KV cache into the decoder's buffers once). Plain host data.
 *
 * @param tokens        the answer's token ids, the stop token excluded
 * @param text          the tokenizer's decoding of them; the listener's pieces concatenate to it,
 *                      except that a character left incomplete at the very end (byte tokens cut
 *                      off by the stop or the limit) is not streamed
 * @param finish        why it ended
 * @param stopToken     the stop token met, or -1
 * @param prefill       the pipeline's stage timings (milliseconds)
 * @param ttftMs        time to first token: the pipeline's stages + sampling the first token
 * @param decodeSteps   decoder steps (each gives one token after the first, the stop token included)
 * @param decodeMs      wall time of the decode, the decoder's set-up included
 * @param setupMs       of which copying the prefill's cache into the decoder's buffers
 * @param kvLength      tokens in the prefill's KV cache (its last layer)
 * @param firstPosition the RoPE position the first fed token took (see {@link dev.vtprune.model.KvCache#nextPositions()})
 */
public record Generation(long[] tokens, String text, Finish finish, long stopToken, Timings prefill, double ttftMs,
                         int decodeSteps, double decodeMs, double setupMs, long kvLength, long firstPosition) {
    /** Why generation ended. */
    public enum Finish {
        /** a stop token came */
        STOP,
        /** maxNewTokens were produced */
        LENGTH
    }

    public Generation {
        tokens = tokens.clone();
    }

    @Override
    public long[] tokens() {
        return tokens.clone();
    }

    /** Decode throughput: decoder steps per second of decode time; NaN when no step ran. */
    public double decodeTokensPerSecond() {
        return decodeSteps == 0 ? Double.NaN : decodeSteps / (decodeMs / 1e3);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "Generation[%d tokens, %s, TTFT %.1f ms, decode %d steps in %.1f ms (%.1f tok/s)]",
                tokens.length, finish, ttftMs, decodeSteps, decodeMs, decodeTokensPerSecond());
    }
}
