package dev.vtprune.testing;

import java.util.ArrayList;
import java.util.List;

/**
 * IVTP eq. 6-8 in float64, written from the paper (§3.3) independently of
 * {@code dev.vtprune.prune.PseudoCls}: the CLIP tokens covering each LM token come from the
 * caller (e.g. {@code Encoding.overlaps}), an LM token with none has relevance NaN and is never
 * selected.
 */
public final class PseudoClsOracle {
    private PseudoClsOracle() {}

    public record Result(double[] clipRelevance, double[] relevance, int[] selected, double[] embedding) {}

    /**
     * @param features [Tc][E] CLIP text features; cls [E] visual CLS (same space)
     * @param cover    for each LM token, the CLIP tokens whose spans overlap it
     * @param lm       [Tl][D] LM embeddings; fallback [D]
     */
    public static Result compute(double[][] features, double[] cls, int[][] cover, double[][] lm, double[] fallback,
                                 double tau) {
        double[] c = new double[features.length];
        for (int k = 0; k < c.length; k++) c[k] = dot(features[k], cls) / (norm(features[k]) * norm(cls));
        double[] rel = new double[lm.length];
        List<Integer> sel = new ArrayList<>();
        for (int i = 0; i < lm.length; i++) {
            if (cover[i].length == 0) {
                rel[i] = Double.NaN;
                continue;
            }
            double s = 0;
            for (int k : cover[i]) s += c[k];
            rel[i] = s / cover[i].length;
            if (rel[i] >= tau) sel.add(i);
        }
        double[] emb = sel.isEmpty() ? fallback.clone() : new double[fallback.length];
        for (int i : sel) for (int j = 0; j < emb.length; j++) emb[j] += lm[i][j] / sel.size();
        return new Result(c, rel, sel.stream().mapToInt(Integer::intValue).toArray(), emb);
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    private static double norm(double[] a) {
        return Math.sqrt(dot(a, a));
    }
}
