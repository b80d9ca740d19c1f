package dev.vtprune.pipeline;

import java.util.Collections;
import java.util.Map;

/**
 * Milliseconds per stage of one pipeline run, in order: tiling, preprocess, vision, projector,
 * embed, then probe, select, gather (pruned runs) and prefill.
 */
public record Timings(Map<String, Double> stages) {
    public Timings {
        stages = Collections.unmodifiableMap(stages);
    }

    public double ms(String stage) {
        return stages.getOrDefault(stage, 0.0);
    }

    public double total() {
        return stages.values().stream().mapToDouble(Double::doubleValue).sum();
    }

    /** Time to first token: every stage (the prefill produces the first token's logits). */
    public double ttft() {
        return total();
    }

    /** What pruning adds on top of an unpruned run: the probe, the selection and the gather. */
    public double pruningOverhead() {
        return ms("probe") + ms("select") + ms("gather");
    }
}
