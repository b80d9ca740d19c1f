package dev.vtprune.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class AccuracyTest {
    /** Wilson 95% intervals; 81/100 is the textbook example (0.7222, 0.8749). */
    @Test
    void wilsonIntervals() {
        check(81, 100, 0.722212, 0.874852);
        check(0, 10, 0.0, 0.277533);
        check(10, 10, 0.722467, 1.0);
        check(450, 1000, 0.419415, 0.480967);
    }

    private static void check(int k, int n, double lo, double hi) {
        Accuracy a = Accuracy.of(k, n);
        assertEquals(lo, a.low(), 1e-6, k + "/" + n);
        assertEquals(hi, a.high(), 1e-6, k + "/" + n);
        assertEquals((double) k / n, a.value(), 0);
    }

    /** The interval always holds the proportion, exactly at its ends (0 of 3 once gave a low end of 5.6e-17). */
    @Test
    void theIntervalHoldsTheProportion() {
        for (int n = 1; n <= 200; n++) {
            for (int k = 0; k <= n; k++) {
                Accuracy a = Accuracy.of(k, n);
                assertTrue(a.low() <= a.value() && a.value() <= a.high(), k + "/" + n + ": " + a);
            }
            assertEquals(0.0, Accuracy.of(0, n).low(), 0, "0/" + n);
            assertEquals(1.0, Accuracy.of(n, n).high(), 0, n + "/" + n);
        }
    }

    @Test
    void badCounts() {
        assertThrows(IllegalArgumentException.class, () -> Accuracy.of(1, 0));
        assertThrows(IllegalArgumentException.class, () -> Accuracy.of(3, 2));
    }
}
