package dev.vtprune.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Element-wise comparison with |actual - expected| <= atol + rtol * |expected|. NaN never
 * passes (on either side), so a kernel that left an output unwritten (poisoned with NaN) fails.
 */
public final class Approx {
    private Approx() {}

    public static void assertClose(double[] expected, double[] actual, double atol, double rtol, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i], a = actual[i];
            if (Double.isNaN(e) || Double.isNaN(a)) fail(what + "[" + i + "]: NaN (expected " + e + ", got " + a + ")");
            double excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
            if (excess > worstExcess) {
                worstExcess = excess;
                worst = i;
            }
        }
        if (worst >= 0) {
            fail(String.format("%s[%d]: expected %.9g, got %.9g (|diff| %.3g > atol %.1g + rtol %.1g * |expected|)",
                    what, worst, expected[worst], actual[worst], Math.abs(actual[worst] - expected[worst]), atol, rtol));
        }
    }

    public static void assertClose(double[] expected, float[] actual, double atol, double rtol, String what) {
        double[] a = new double[actual.length];
        for (int i = 0; i < a.length; i++) a[i] = actual[i];
        assertClose(expected, a, atol, rtol, what);
    }

    /** Tolerances by input dtype: the inputs' own rounding bounds what fp32 accumulation can match. */
    public static double rtolFor(String dtype) {
        switch (dtype) {
            case "float32": return 2e-5;
            case "float16": return 2e-3;
            case "bfloat16": return 1.6e-2;
            default: throw new IllegalArgumentException(dtype);
        }
    }
}
