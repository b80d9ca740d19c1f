package dev.vtprune.pipeline;

import java.util.LinkedHashMap;
import java.util.Map;

/** Wall-clock laps of the pipeline's stages, in milliseconds, in order. */
final class Timer {
    private final Map<String, Double> laps = new LinkedHashMap<>();
    private long last = System.nanoTime();

    void lap(String stage) {
        long now = System.nanoTime();
        laps.merge(stage, (now - last) / 1e6, Double::sum);
        last = now;
    }

    Timings done() {
        return new Timings(new LinkedHashMap<>(laps));
    }
}
