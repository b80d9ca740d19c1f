package dev.vtprune.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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

    @Test
    void badCounts() {
        assertThrows(IllegalArgumentException.class, () -> Accuracy.of(1, 0));
        assertThrows(IllegalArgumentException.class, () -> Accuracy.of(3, 2));
    }
}
