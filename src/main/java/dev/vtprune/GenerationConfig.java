package dev.vtprune;

import dev.vtprune.internal.Args;
import java.util.Arrays;
import java.util.Locale;

/**
 * How {@link LoadedModel#generate} picks the answer's tokens: greedy (temperature 0, the
 * default) or sampled from softmax(logits / temperature) restricted to the nucleus of top-p
 * mass, with a seeded generator (the same seed gives the same tokens for the same logits); it
 * stops at a stop token (the tokenizer's end of turn unless {@code stopAtEos(false)}, and any
 * given ones) or after {@code maxNewTokens}. Immutable; made by {@link #builder()}, whose
 * setters check their argument alone ("argument 'topP' must be in (0, 1], got 0.0"); what needs
 * the model (the context length, the vocabulary) is checked when generation starts.
 */
public final class GenerationConfig {
    private final int maxNewTokens;
    private final double temperature, topP;
    private final long seed;
    private final long[] stopTokens;
    private final boolean stopAtEos;

    private GenerationConfig(Builder b) {
        this.maxNewTokens = b.maxNewTokens;
        this.temperature = b.temperature;
        this.topP = b.topP;
        this.seed = b.seed;
        this.stopTokens = b.stopTokens.clone();
        this.stopAtEos = b.stopAtEos;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Greedy, at most `maxNewTokens` tokens, stopping at the tokenizer's end of turn. */
    public static GenerationConfig greedy(int maxNewTokens) {
        return builder().maxNewTokens(maxNewTokens).build();
    }

    public int maxNewTokens() {
        return maxNewTokens;
    }

    public double temperature() {
        return temperature;
    }

    public double topP() {
        return topP;
    }

    public long seed() {
        return seed;
    }

    /** The stop tokens given by the caller (the tokenizer's come on top unless {@link #stopAtEos()} is false). */
    public long[] stopTokens() {
        return stopTokens.clone();
    }

    public boolean stopAtEos() {
        return stopAtEos;
    }

    /** True when every token is the argmax (temperature 0). */
    public boolean greedy() {
        return temperature == 0;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "GenerationConfig[maxNewTokens %d, %s, stop %s%s]", maxNewTokens,
                greedy() ? "greedy" : String.format(Locale.ROOT, "temperature %s, top-p %s, seed %d", temperature, topP, seed),
                Arrays.toString(stopTokens), stopAtEos ? " + end of turn" : "");
    }

    /** Not thread-safe (build on one thread); {@link #build()} gives an immutable config. */
    public static final class Builder {
        private int maxNewTokens = 16;
        private double temperature = 0;
        private double topP = 1;
        private long seed = 0;
        private long[] stopTokens = new long[0];
        private boolean stopAtEos = true;

        private Builder() {}

        /** The most tokens the answer may have, >= 1 (default 16); the context must hold them after the prompt. */
        public Builder maxNewTokens(int n) {
            this.maxNewTokens = (int) Args.atLeast(n, "maxNewTokens", 1);
            return this;
        }

        /** >= 0 and finite (default 0 = greedy); the logits are divided by it before the softmax. */
        public Builder temperature(double t) {
            if (!(t >= 0) || Double.isInfinite(t)) throw Args.error("temperature", "be finite and >= 0 (0 = greedy)", t);
            this.temperature = t;
            return this;
        }

        /** Nucleus mass in (0, 1] (default 1 = the whole distribution); ignored when greedy. */
        public Builder topP(double p) {
            if (!(p > 0 && p <= 1)) throw Args.error("topP", "be in (0, 1]", p);
            this.topP = p;
            return this;
        }

        /** Seed of the sampler (default 0); ignored when greedy. */
        public Builder seed(long s) {
            this.seed = s;
            return this;
        }

        /** Token ids that end the answer (not part of it), >= 0; below the vocabulary size, checked at generation. */
        public Builder stopTokens(long... ids) {
            Args.notNull(ids, "stopTokens");
            for (long id : ids) if (id < 0) throw Args.error("stopTokens", "hold token ids >= 0", Arrays.toString(ids));
            this.stopTokens = ids.clone();
            return this;
        }

        /** Whether the tokenizer's end-of-turn token ({@link LoadedModel#stopTokens()}) also stops (default true). */
        public Builder stopAtEos(boolean stop) {
            this.stopAtEos = stop;
            return this;
        }

        public GenerationConfig build() {
            return new GenerationConfig(this);
        }
    }
}
