package dev.vtprune;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from float32 logits on the host, in float64: greedy is the first index
 * of the largest logit; sampling draws from softmax(logits / temperature) restricted to the
 * nucleus, the fewest most-probable tokens whose mass reaches top-p (ties in probability taken
 * by ascending id, as a stable descending sort orders them). One SplittableRandom per
 * generation, seeded by the config, gives one uniform per token: the same seed and logits give
 * the same tokens on any JVM.
 */
final class Sampler {
    private final double temperature, topP;
    private final SplittableRandom random;

    Sampler(GenerationConfig config) {
        this.temperature = config.temperature();
        this.topP = config.topP();
        this.random = new SplittableRandom(config.seed());
    }

    long next(float[] logits) {
        int best = 0;
        for (int i = 0; i < logits.length; i++) {
            if (!Float.isFinite(logits[i])) {
                throw new IllegalStateException("the LM's logits hold " + logits[i] + " at token id " + i
                        + ": no token can be chosen (are the weights finite?)");
            }
            if (logits[i] > logits[best]) best = i;
        }
        if (temperature == 0) return best;
        double max = logits[best];
        double[] p = new double[logits.length];
        double total = 0;
        for (int i = 0; i < p.length; i++) total += p[i] = Math.exp((logits[i] - max) / temperature);
        boolean[] member = topP >= 1 ? null : nucleus(p, topP * total);
        double mass = 0;
        for (int i = 0; i < p.length; i++) if (member == null || member[i]) mass += p[i];
        double u = random.nextDouble() * mass, cum = 0;
        int last = best;
        for (int i = 0; i < p.length; i++) {
            if (member != null && !member[i]) continue;
            cum += p[i];
            last = i;
            if (u < cum) return i;
        }
        return last;  // u within rounding of the mass
    }

    /** The tokens of the nucleus: every p above the threshold value, and its ties by ascending id. */
    private static boolean[] nucleus(double[] p, double target) {
        double[] sorted = p.clone();
        Arrays.sort(sorted);
        int n = sorted.length, k = n - 1;
        double cum = 0;
        for (; k > 0; k--) {
            cum += sorted[k];
            if (cum >= target) break;
        }
        double threshold = sorted[k];
        int ties = 0;
        for (int j = k; j < n && sorted[j] == threshold; j++) ties++;
        boolean[] member = new boolean[n];
        for (int i = 0; i < n; i++) {
            if (p[i] > threshold) member[i] = true;
            else if (p[i] == threshold && ties > 0) {
                member[i] = true;
                ties--;
            }
        }
        return member;
    }
}
