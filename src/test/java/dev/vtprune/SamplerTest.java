package dev.vtprune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The sampler on given logits: greedy, the distribution it draws from, the nucleus, the seed. */
class SamplerTest {
    private static float[] randomLogits(long seed, int n, double scale) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] l = new float[n];
        for (int i = 0; i < n; i++) l[i] = (float) (r.nextGaussian() * scale);
        return l;
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    private static Sampler sampler(double t, double p, long seed) {
        return new Sampler(GenerationConfig.builder().temperature(t).topP(p).seed(seed).build());
    }

    @Test
    void temperatureZeroAndTinyTopPAreGreedy() {
        for (int k = 0; k < 50; k++) {
            float[] l = randomLogits(k, 500, 2);
            assertEquals(argmax(l), sampler(0, 1, k).next(l), "temperature 0");
            assertEquals(argmax(l), sampler(1, 1e-9, k).next(l), "top-p 1e-9 at temperature 1");
            assertEquals(argmax(l), sampler(0.7, 1e-6, k + 100).next(l), "top-p 1e-6 at temperature 0.7");
        }
        float[] ties = {1, 3, 3, 2};
        assertEquals(1, sampler(0, 1, 0).next(ties), "greedy ties go to the lower id");
        assertEquals(1, sampler(1, 1e-9, 0).next(ties), "the nucleus takes ties by ascending id");
    }

    /** softmax([ln .5, ln .3, ln .2]) is (.5, .3, .2); top-p 0.75 keeps the first two, renormalised to (.625, .375). */
    @Test
    void drawsFollowTheSoftmaxAndTheNucleus() {
        float[] l = {(float) Math.log(0.5), (float) Math.log(0.3), (float) Math.log(0.2)};
        int n = 20000;
        double[] full = frequencies(sampler(1, 1, 3), l, n), nucleus = frequencies(sampler(1, 0.75, 4), l, n);
        // binomial sd at n = 20000 is <= 0.0036: 0.015 is > 4 sd
        assertArrayEquals(new double[] {0.5, 0.3, 0.2}, full, 0.015, "top-p 1");
        assertArrayEquals(new double[] {0.625, 0.375, 0}, nucleus, 0.015, "top-p 0.75");
        assertEquals(0, nucleus[2], "outside the nucleus: never drawn");
        // temperature 2 flattens: p ~ sqrt(p) renormalised
        double z = Math.sqrt(.5) + Math.sqrt(.3) + Math.sqrt(.2);
        assertArrayEquals(new double[] {Math.sqrt(.5) / z, Math.sqrt(.3) / z, Math.sqrt(.2) / z},
                frequencies(sampler(2, 1, 5), l, n), 0.015, "temperature 2");
    }

    private static double[] frequencies(Sampler s, float[] l, int n) {
        double[] f = new double[l.length];
        for (int i = 0; i < n; i++) f[(int) s.next(l)] += 1.0 / n;
        return f;
    }

    @Test
    void theSeedReproducesTheDraws() {
        float[] l = randomLogits(9, 1000, 0.5);
        long[] a = new long[40], b = new long[40], c = new long[40];
        Sampler sa = sampler(1, 0.9, 42), sb = sampler(1, 0.9, 42), sc = sampler(1, 0.9, 43);
        for (int i = 0; i < a.length; i++) {
            a[i] = sa.next(l);
            b[i] = sb.next(l);
            c[i] = sc.next(l);
        }
        assertArrayEquals(a, b, "same seed");
        assertFalse(java.util.Arrays.equals(a, c), "another seed should draw otherwise");
    }

    @Test
    void nonFiniteLogitsAreRefused() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> sampler(0, 1, 0).next(new float[] {0, Float.NaN}));
        assertTrue(e.getMessage().contains("NaN at token id 1"), e.getMessage());
    }
}
