package dev.vtprune;

import dev.vtprune.internal.Args;
import dev.vtprune.internal.Tensors;
import dev.vtprune.model.KvCache;
import dev.vtprune.model.LanguageModel;
import dev.vtprune.pipeline.Result;
import dev.vtprune.pipeline.Tokenizer;
import java.util.Arrays;

/** The decode loop behind {@link LoadedModel#generate}: sample, stop, stream, step. */
final class Generator {
    private Generator() {}

    /**
     * @param stops the stop ids: the config's, plus `eos` when it says so
     */
    static Generation run(LanguageModel lm, Tokenizer tokenizer, Result prefilled, GenerationConfig config, long[] eos,
                          TokenListener listener) {
        Args.notNull(prefilled, "result");
        Args.notNull(config, "config");
        Args.notNull(listener, "listener");
        KvCache cache = prefilled.cache();
        if (cache.batch() != 1) throw Args.error("result", "hold one sequence (generation runs one image at a time)", cache.batch());
        int vocab = lm.config().vocab(), context = lm.config().maxPositions();
        long first = cache.nextPositions()[0];
        if (config.maxNewTokens() > context - first) {
            throw Args.error("maxNewTokens", "be <= " + (context - first) + " (the model's context of " + context
                    + " positions after the prompt's " + first + ")", config.maxNewTokens());
        }
        long[] stops = config.stopTokens();
        for (long id : stops) {
            if (id >= vocab) throw Args.error("stopTokens", "hold token ids below the vocabulary size " + vocab, Arrays.toString(stops));
        }
        if (config.stopAtEos()) {
            stops = Arrays.copyOf(stops, stops.length + eos.length);
            System.arraycopy(eos, 0, stops, stops.length - eos.length, eos.length);
        }
        Sampler sampler = new Sampler(config);
        long t0 = System.nanoTime();
        long token = sampler.next(Tensors.toFloats(prefilled.logits().select(0, 0).contiguous()));
        double ttft = prefilled.timings().ttft() + (System.nanoTime() - t0) / 1e6;
        long decodeStart = System.nanoTime();
        double setup = 0;
        long[] out = new long[config.maxNewTokens()];
        int n = 0, steps = 0;
        Generation.Finish finish = Generation.Finish.LENGTH;
        long stopToken = -1;
        String emitted = "";
        LanguageModel.Decoder decoder = null;
        try {
            while (true) {
                if (contains(stops, token)) {
                    finish = Generation.Finish.STOP;
                    stopToken = token;
                    break;
                }
                out[n++] = token;
                String text = spell(tokenizer, Arrays.copyOf(out, n));
                String piece = "";
                if (text.startsWith(emitted)) {  // a decoding that rewrote earlier text waits until it agrees again
                    int end = text.length();
                    while (end > emitted.length() && text.charAt(end - 1) == '\uFFFD') end--;  // an incomplete character
                    piece = text.substring(emitted.length(), end);
                    emitted = text.substring(0, end);
                }
                listener.onToken(n - 1, token, piece);
                if (n == out.length) break;
                if (decoder == null) {
                    long s0 = System.nanoTime();
                    decoder = lm.decoder(cache, out.length - 1);
                    setup = (System.nanoTime() - s0) / 1e6;
                }
                token = sampler.next(decoder.step(token)[0]);
                steps++;
            }
        } finally {
            if (decoder != null) decoder.close();
        }
        double decodeMs = steps == 0 ? 0 : (System.nanoTime() - decodeStart) / 1e6;
        long[] tokens = Arrays.copyOf(out, n);
        long[] kv = cache.layerLengths(cache.layers() - 1);
        return new Generation(tokens, spell(tokenizer, tokens), finish, stopToken, prefilled.timings(), ttft, steps, decodeMs,
                setup, kv[0], first);
    }

    /**
     * The tokenizer's text of the ids; an id it cannot spell (the byte tokenizer of a preset knows
     * only its bytes and specials, while random weights may pick any id of the vocabulary) is
     * written {@code <id N>} between the decodings of the runs around it.
     */
    static String spell(Tokenizer tokenizer, long[] ids) {
        try {
            return tokenizer.decode(ids);
        } catch (IllegalArgumentException whole) {
            StringBuilder b = new StringBuilder();
            int start = 0;
            for (int i = 0; i <= ids.length; i++) {
                boolean known = i < ids.length && spellable(tokenizer, ids[i]);
                if (known) continue;
                if (i > start) b.append(tokenizer.decode(Arrays.copyOfRange(ids, start, i)));
                if (i < ids.length) b.append("<id ").append(ids[i]).append('>');
                start = i + 1;
            }
            return b.toString();
        }
    }

    private static boolean spellable(Tokenizer tokenizer, long id) {
        try {
            tokenizer.decode(new long[] {id});
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static boolean contains(long[] ids, long id) {
        for (long x : ids) if (x == id) return true;
        return false;
    }
}
