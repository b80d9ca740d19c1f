package dev.vtprune.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.ops.Backend;
import dev.vtprune.ops.Rollout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class IvtpPrunerTest {

    static String assertMessage(Executable call, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "message lacks '" + f + "': " + e.getMessage());
        return e.getMessage();
    }

    /** A float64 geometric schedule written from its definition, without the clamps (they never bind here). */
    static long[] geometric(long n, long f, int points) {
        long[] k = new long[points];
        for (int i = 1; i <= points; i++) k[i - 1] = Math.round(n * Math.exp(Math.log((double) f / n) * i / points));
        return k;
    }

    @Test
    void paperDefaults() {
        IvtpPruner.Config c = IvtpPruner.Config.PAPER;
        assertEquals(3, c.groupSize());
        assertEquals(12, c.lmLayers());
        assertEquals(64, c.finalKeep());
        assertEquals(0.2, c.tau());
        assertTrue(c.valueWeighting());
        assertEquals(Rollout.Mode.IVTP, c.mode());
        // LLaVA-1.5: 23 ViT layers that run -> 8 points; 12 LM layers -> 4; 576 -> 64 over 12.
        long[] vit = new IvtpPruner(c).vitKeepCounts(23, 576);
        long[] all = IvtpPruner.schedule(c, 576, 12);
        assertArrayEquals(all, new IvtpPruner(c).schedule(23, 576));
        assertArrayEquals(java.util.Arrays.copyOf(all, 8), vit);
        assertEquals(64, all[11]);
    }

    @ParameterizedTest(name = "N {0} -> {1} over {2} points")
    @CsvSource({"576, 64, 12", "576, 64, 8", "256, 28, 2", "256, 256, 3", "100, 1, 5", "7, 3, 1", "576, 575, 12"})
    void geometricScheduleIsMonotoneAndEndsExactly(long n, long f, int points) {
        IvtpPruner.Config c = IvtpPruner.Config.PAPER.withFinalKeep(f);
        long[] k = IvtpPruner.schedule(c, n, points);
        assertEquals(points, k.length);
        assertEquals(f, k[points - 1], "final count exact");
        long previous = n;
        for (long x : k) {
            assertTrue(x <= previous && x >= f, "counts never rise and never go below the final: " + java.util.Arrays.toString(k));
            previous = x;
        }
        if (f * 2 < n) assertArrayEquals(geometric(n, f, points), k, "geometric from N to F");
    }

    @Test
    void scheduleSums() {
        // Tokens dropped at each point sum to N - F.
        long[] k = IvtpPruner.schedule(IvtpPruner.Config.PAPER, 576, 12);
        long dropped = 576 - k[0];
        for (int i = 1; i < k.length; i++) dropped += k[i - 1] - k[i];
        assertEquals(576 - 64, dropped);
        assertArrayEquals(new long[] {480, 399, 333, 277, 231, 192, 160, 133, 111, 92, 77, 64}, k);
        // A ratio: round(0.25 * 256) = 64 per tile.
        assertEquals(64, IvtpPruner.schedule(IvtpPruner.Config.PAPER.withFinalRatio(0.25), 256, 3)[2]);
        // Given counts are used as they are.
        IvtpPruner.Config given = IvtpPruner.Config.PAPER.withKeepCounts(new long[] {300, 200, 100});
        assertArrayEquals(new long[] {300, 200, 100}, IvtpPruner.schedule(given, 576, 3));
        assertEquals(100, given.finalKeep());
    }

    @Test
    void badConfigsGiveClearErrors() {
        IvtpPruner.Config p = IvtpPruner.Config.PAPER;
        assertMessage(() -> p.withGroupSize(0), "'groupSize' must be >= 1", "got 0");
        assertMessage(() -> new IvtpPruner.Config(3, 12, 64, Double.NaN, null, Double.NaN, true, Rollout.Mode.IVTP,
                Backend.NATIVE), "'tau' must be finite and in [0, 1]", "got NaN");
        assertMessage(() -> new IvtpPruner.Config(3, 12, 64, Double.NaN, null, 1.5, true, Rollout.Mode.IVTP,
                Backend.NATIVE), "'tau'", "got 1.5");
        assertMessage(() -> IvtpPruner.schedule(p.withFinalKeep(600), 576, 12), "'finalKeep' must be <= N = 576", "got 600");
        assertMessage(() -> new IvtpPruner(p.withFinalKeep(600)).vitKeepCounts(23, 576), "'finalKeep' must be <= N = 576");
        assertMessage(() -> p.withFinalRatio(0.0), "'finalRatio' must be in (0, 1]", "got 0.0");
        assertMessage(() -> p.withFinalRatio(Double.NaN), "'finalRatio' must be in (0, 1]", "got NaN");
        assertMessage(() -> p.withLmLayers(-1), "'lmLayers' must be >= 0");
        assertMessage(() -> p.withKeepCounts(new long[] {10, 20}), "'keepCounts[1]' must be <= keepCounts[0] = 10", "got 20");
        assertMessage(() -> p.withKeepCounts(new long[] {10, 0}), "'keepCounts[1]' must be >= 1");
        assertMessage(() -> IvtpPruner.schedule(p.withKeepCounts(new long[] {10, 5}), 576, 3),
                "'keepCounts' must hold one count per pruning point (3)", "got 2");
        assertMessage(() -> IvtpPruner.schedule(p.withKeepCounts(new long[] {700, 5}), 576, 2), "'keepCounts[0]' must be <= N = 576");
        assertMessage(() -> new IvtpPruner.Config(3, 12, 64, Double.NaN, new long[] {100, 50}, 0.2, true, Rollout.Mode.IVTP,
                Backend.NATIVE), "'keepCounts' must end at finalKeep = 64", "[100, 50]");
        assertMessage(() -> p.withMode(null), "'mode' must not be null");
        assertMessage(() -> new IvtpPruner(p).select(null), "IVTP prunes inside the vision encoder's forward");
    }

    @Test
    void pruningPointsIncludeAShortLastGroup() {
        assertEquals(8, IvtpPruner.points(23, 3));
        assertEquals(8, IvtpPruner.points(24, 3));
        assertEquals(2, IvtpPruner.points(6, 3));
        assertEquals(1, IvtpPruner.points(2, 3));
        assertEquals(0, IvtpPruner.points(0, 3));
        assertEquals(4, IvtpPruner.points(12, 3));
    }
}
