package dev.vtprune.task;

import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;

/**
 * Chance level of a split: the accuracy of answering every question with the most frequent
 * answer of its type (a blind model that reads the question, not the image), per type and
 * overall, over the first question of samples 0..n-1 (as the evaluation asks them).
 */
public record Chance(Map<Question.Type, Majority> byType, int questions, double overall) {
    /** The most frequent answer of one type and how often it is right. */
    public record Majority(String answer, int count, int total) {
        public double rate() {
            return total == 0 ? 0 : (double) count / total;
        }
    }

    public static Chance of(long seed, int n) {
        if (n < 1) throw new IllegalArgumentException("argument 'n' must be >= 1, got " + n);
        Map<Question.Type, Map<String, Integer>> counts = new EnumMap<>(Question.Type.class);
        for (long i = 0; i < n; i++) {
            Question q = VqaTask.sample(seed, i, 1).questions().get(0);
            counts.computeIfAbsent(q.type(), t -> new HashMap<>()).merge(q.answer(), 1, Integer::sum);
        }
        Map<Question.Type, Majority> by = new EnumMap<>(Question.Type.class);
        int right = 0;
        for (Map.Entry<Question.Type, Map<String, Integer>> e : counts.entrySet()) {
            int total = e.getValue().values().stream().mapToInt(Integer::intValue).sum();
            // Ties go to the alphabetically first answer, so the figure is reproducible.
            Map.Entry<String, Integer> best = e.getValue().entrySet().stream()
                    .min((a, b) -> a.getValue().equals(b.getValue()) ? a.getKey().compareTo(b.getKey()) : b.getValue() - a.getValue())
                    .orElseThrow();
            by.put(e.getKey(), new Majority(best.getKey(), best.getValue(), total));
            right += best.getValue();
        }
        return new Chance(Collections.unmodifiableMap(by), n, (double) right / n);
    }
}
