package dev.vtprune.pipeline;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Wall-clock laps of the pipeline's stages, in milliseconds, in order. On a GPU the work of a
 * stage is queued, not done, when the Java code returns: `sync` waits for the device first.
 */
final class Timer {
    private final Map<String, Double> laps = new LinkedHashMap<>();
    private final Runnable sync;
    private long last = System.nanoTime();

    Timer(Runnable sync) {
        this.sync = sync;
    }

    void lap(String stage) {
        sync.run();
        long now = System.nanoTime();
        laps.merge(stage, (now - last) / 1e6, Double::sum);
        last = now;
    }

    Timings done() {
        return new Timings(new LinkedHashMap<>(laps));
    }
}
