package dev.vtprune.testing;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Naive float64 implementations of every op, written straight from docs/design.md §3 (not from the
 * C++), for the tests to check the native kernels and the LibTorch compositions against.
 */
public final class Oracle {
    private Oracle() {}

    // ------------------------------------------------------------------ K1

    public record Budgets(double[] scores, double[] weights, long[] budgets) {}

    /**
     * @param cls [tiles * dim] row-major, each image's thumbnail last
     */
    public static Budgets regionBudget(double[] cls, int dim, long[] tileOffsets, long[] tokenOffsets, double keep,
                                       double temperature, long minPerTile) {
        int tiles = tokenOffsets.length - 1;
        double[] scores = new double[tiles], weights = new double[tiles];
        long[] budgets = new long[tiles];
        for (int b = 0; b + 1 < tileOffsets.length; b++) {
            int first = (int) tileOffsets[b], thumb = (int) tileOffsets[b + 1] - 1, local = thumb - first;
            scores[thumb] = 1.0;
            weights[thumb] = 0.0;
            budgets[thumb] = (long) Math.floor(keep * (tokenOffsets[thumb + 1] - tokenOffsets[thumb]) + 0.5);
            if (local == 0) continue;
            double[] s = new double[local];
            for (int t = 0; t < local; t++) {
                double dot = 0, na = 0, ng = 0;
                for (int e = 0; e < dim; e++) {
                    double x = cls[(first + t) * dim + e], g = cls[thumb * dim + e];
                    dot += x * g;
                    na += x * x;
                    ng += g * g;
                }
                s[t] = dot / Math.max(Math.sqrt(na) * Math.sqrt(ng), 1e-8);
                scores[first + t] = s[t];
            }
            double max = Arrays.stream(s).max().getAsDouble(), sum = 0;
            double[] p = new double[local];
            for (int t = 0; t < local; t++) sum += p[t] = Math.exp(s[t] / temperature - max / temperature);
            long[] n = new long[local];
            long tokens = 0;
            for (int t = 0; t < local; t++) {
                p[t] /= sum;
                weights[first + t] = p[t];
                n[t] = tokenOffsets[first + t + 1] - tokenOffsets[first + t];
                tokens += n[t];
            }
            long kLocal = (long) Math.floor(keep * tokens + 0.5);
            long reserve = Math.min(minPerTile, kLocal / local);
            long[] k = cappedSplit(p, n, kLocal, reserve);
            for (int t = 0; t < local; t++) budgets[first + t] = k[t];
        }
        return new Budgets(scores, weights, budgets);
    }

    /** The capped proportional split of design §3 K1 step 3, with `reserve` tokens first. */
    static long[] cappedSplit(double[] p, long[] n, long total, long reserve) {
        int count = p.length;
        long[] out = new long[count];
        double[] cap = new double[count];
        double remaining = total;
        for (int t = 0; t < count; t++) {
            out[t] = Math.min(reserve, n[t]);
            cap[t] = n[t] - out[t];
            remaining -= out[t];
        }
        boolean[] capped = new boolean[count];
        for (int t = 0; t < count; t++) capped[t] = cap[t] <= 0;
        double[] x = new double[count];
        boolean changed = true;
        while (changed) {
            changed = false;
            double w = 0;
            int active = 0;
            for (int t = 0; t < count; t++) {
                if (!capped[t]) {
                    w += p[t];
                    active++;
                }
            }
            if (active == 0) break;
            for (int t = 0; t < count; t++) {
                if (!capped[t]) x[t] = w > 0 ? p[t] / w * remaining : remaining / active;
            }
            for (int t = 0; t < count; t++) {
                if (!capped[t] && x[t] >= cap[t]) {
                    capped[t] = true;
                    remaining -= cap[t];
                    changed = true;
                }
            }
        }
        long rest = Math.round(remaining);
        List<Integer> open = new ArrayList<>();
        for (int t = 0; t < count; t++) {
            if (capped[t]) {
                out[t] += (long) cap[t];
            } else {
                long f = (long) Math.floor(x[t]);
                out[t] += f;
                rest -= f;
                open.add(t);
            }
        }
        open.sort(Comparator.<Integer>comparingDouble(t -> -(x[t] - Math.floor(x[t]))).thenComparingInt(t -> t));
        for (int i = 0; i < rest && i < open.size(); i++) out[open.get(i)]++;
        return out;
    }

    // ------------------------------------------------------------------ K2

    public record TopK(long[] kept, long[] keptPerTile, double[] fused) {}

    public static TopK fusedTopK(double[] b, double[] c, long[] tokenOffsets, long[] budgets, double alpha,
                                 boolean normalize) {
        int tiles = tokenOffsets.length - 1;
        double[] f = new double[b.length];
        List<Long> kept = new ArrayList<>();
        long[] perTile = new long[tiles];
        for (int t = 0; t < tiles; t++) {
            int lo = (int) tokenOffsets[t], hi = (int) tokenOffsets[t + 1];
            double[] nb = normalize ? minMax(b, lo, hi) : Arrays.copyOfRange(b, lo, hi);
            double[] nc = c == null ? new double[hi - lo] : normalize ? minMax(c, lo, hi) : Arrays.copyOfRange(c, lo, hi);
            Integer[] order = new Integer[hi - lo];
            for (int i = lo; i < hi; i++) {
                f[i] = (1 - alpha) * nb[i - lo] + alpha * nc[i - lo];
                order[i - lo] = i;
            }
            Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -f[i]).thenComparingInt(i -> i));
            int k = (int) Math.min(budgets[t], hi - lo);
            perTile[t] = k;
            long[] mine = new long[k];
            for (int i = 0; i < k; i++) mine[i] = order[i];
            Arrays.sort(mine);
            for (long i : mine) kept.add(i);
        }
        return new TopK(kept.stream().mapToLong(Long::longValue).toArray(), perTile, f);
    }

    static double[] minMax(double[] x, int lo, int hi) {
        double mn = Double.POSITIVE_INFINITY, mx = Double.NEGATIVE_INFINITY;
        for (int i = lo; i < hi; i++) {
            mn = Math.min(mn, x[i]);
            mx = Math.max(mx, x[i]);
        }
        double[] out = new double[hi - lo];
        if (mx - mn > 1e-12) {
            for (int i = lo; i < hi; i++) out[i - lo] = (x[i] - mn) / (mx - mn);
        }
        return out;
    }

    // ------------------------------------------------------------------ K3

    /** Head mean of one sequence's [H, M, M] attention (offset into a flat [S, H, M, M]). */
    static double[][] headMean(double[] attn, int seq, int heads, int m) {
        double[][] a = new double[m][m];
        for (int h = 0; h < heads; h++) {
            int base = (seq * heads + h) * m * m;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < m; j++) a[i][j] += attn[base + i * m + j] / heads;
            }
        }
        return a;
    }

    static double[][] residual(double[][] a) {
        int m = a.length;
        double[][] b = new double[m][m];
        for (int i = 0; i < m; i++) {
            double sum = 0;
            for (int j = 0; j < m; j++) sum += a[i][j] + (i == j ? 1 : 0);
            for (int j = 0; j < m; j++) b[i][j] = (a[i][j] + (i == j ? 1 : 0)) / sum;
        }
        return b;
    }

    static double[][] matmul(double[][] x, double[][] y) {
        int m = x.length;
        double[][] z = new double[m][m];
        for (int i = 0; i < m; i++) {
            for (int k = 0; k < m; k++) {
                for (int j = 0; j < m; j++) z[i][j] += x[i][k] * y[k][j];
            }
        }
        return z;
    }

    /**
     * Full rollout matrix of one sequence from head-averaged layers (layer l1 first):
     * IVTP: R = A_l1, R = B_l R; ABNAR: R = I, R = B_l R.
     */
    public static double[][] rolloutMatrix(List<double[][]> meanLayers, boolean abnar) {
        double[][] r = abnar ? residual(meanLayers.get(0)) : meanLayers.get(0);
        for (int l = 1; l < meanLayers.size(); l++) r = matmul(residual(meanLayers.get(l)), r);
        return r;
    }

    /** Per sequence: the head-averaged attention of each layer, from flat [S, H, M, M] arrays. */
    public static List<double[][]> meanLayers(List<double[]> layers, int seq, int heads, int m) {
        List<double[][]> out = new ArrayList<>();
        for (double[] layer : layers) out.add(headMean(layer, seq, heads, m));
        return out;
    }

    /** Softmax attention probabilities [S, H, M, M] from q, k [S, H, M, d] (flat, dense). */
    public static double[] attentionFromQk(double[] q, double[] k, int seqs, int heads, int m, int d, double scale) {
        double[] out = new double[seqs * heads * m * m];
        for (int s = 0; s < seqs; s++) {
            for (int h = 0; h < heads; h++) {
                int base = (s * heads + h) * m;
                for (int i = 0; i < m; i++) {
                    double[] logits = new double[m];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < m; j++) {
                        double dot = 0;
                        for (int e = 0; e < d; e++) dot += q[(base + i) * d + e] * k[(base + j) * d + e];
                        logits[j] = dot * scale;
                        max = Math.max(max, logits[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < m; j++) sum += logits[j] = Math.exp(logits[j] - max);
                    for (int j = 0; j < m; j++) out[(base + i) * m + j] = logits[j] / sum;
                }
            }
        }
        return out;
    }

    /** IVTP eq. 4 from a CLS row r [M] and value norms (null: all 1). */
    public static double[] importance(double[] r, double[] valueNorms) {
        int m = r.length;
        double[] out = new double[m - 1];
        double total = 0;
        for (int i = 1; i < m; i++) total += r[i] * (valueNorms == null ? 1 : valueNorms[i]);
        for (int i = 1; i < m; i++) out[i - 1] = total > 0 ? r[i] * (valueNorms == null ? 1 : valueNorms[i]) / total : 0;
        return out;
    }

    public static double[] rowNorms(double[] values, int seq, int m, int dv) {
        double[] out = new double[m];
        for (int i = 0; i < m; i++) {
            double sq = 0;
            for (int e = 0; e < dv; e++) {
                double v = values[(seq * m + i) * dv + e];
                sq += v * v;
            }
            out[i] = Math.sqrt(sq);
        }
        return out;
    }

    // ------------------------------------------------------------------ K4

    /** c_v from one image's probabilities attn [H, Q, N] (flat). */
    public static double[] textRelevance(double[] attn, int heads, int q, int n, boolean headMax, boolean textMax) {
        double[] out = new double[n];
        for (int v = 0; v < n; v++) {
            double text = textMax ? Double.NEGATIVE_INFINITY : 0;
            for (int i = 0; i < q; i++) {
                double head = headMax ? Double.NEGATIVE_INFINITY : 0;
                for (int h = 0; h < heads; h++) {
                    double p = attn[(h * q + i) * n + v];
                    head = headMax ? Math.max(head, p) : head + p / heads;
                }
                text = textMax ? Math.max(text, head) : text + head / q;
            }
            out[v] = q == 0 ? 0 : text;
        }
        return out;
    }

    /**
     * One image's instruction-to-visual probabilities [Hq, Q, N] from q [Hq, Q, d], k [Hkv, L, d]
     * (flat, dense): causal softmax over keys j <= queryPos, read at visualPos.
     */
    public static double[] textAttentionFromQk(double[] q, double[] k, int qHeads, int kvHeads, int queries, int keys,
                                               int d, long[] queryPos, long[] visualPos, double scale) {
        int n = visualPos.length, group = qHeads / kvHeads;
        double[] out = new double[qHeads * queries * n];
        for (int h = 0; h < qHeads; h++) {
            int kv = h / group;
            for (int i = 0; i < queries; i++) {
                int pos = (int) queryPos[i];
                double[] logits = new double[pos + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= pos; j++) {
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += q[(h * queries + i) * d + e] * k[(kv * keys + j) * d + e];
                    logits[j] = dot * scale;
                    max = Math.max(max, logits[j]);
                }
                double sum = 0;
                for (int j = 0; j <= pos; j++) sum += Math.exp(logits[j] - max);
                for (int v = 0; v < n; v++) {
                    int p = (int) visualPos[v];
                    out[(h * queries + i) * n + v] = p <= pos ? Math.exp(logits[p] - max) / sum : 0;
                }
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ K5

    /** Saliency per merged token of every tile from CLS rows attn [T, H, rowLen] (flat). */
    public static double[] clsSaliency(double[] attn, int tiles, int heads, int rowLen, int firstPatch, int grid,
                                       int merge, boolean headMax) {
        int g = grid / merge;
        double[] out = new double[tiles * g * g];
        for (int t = 0; t < tiles; t++) {
            for (int i = 0; i < g; i++) {
                for (int j = 0; j < g; j++) {
                    double sum = 0;
                    for (int a = 0; a < merge; a++) {
                        for (int b = 0; b < merge; b++) {
                            int patch = (merge * i + a) * grid + merge * j + b;
                            double head = headMax ? Double.NEGATIVE_INFINITY : 0;
                            for (int h = 0; h < heads; h++) {
                                double p = attn[(t * heads + h) * rowLen + firstPatch + patch];
                                head = headMax ? Math.max(head, p) : head + p / heads;
                            }
                            sum += head;
                        }
                    }
                    out[t * g * g + i * g + j] = sum;
                }
            }
        }
        return out;
    }

    /** CLS attention rows [T, H, M] from q_cls [T, H, d] and k [T, H, M, d] (flat, dense). */
    public static double[] clsRowsFromQk(double[] qCls, double[] k, int tiles, int heads, int keys, int d, double scale) {
        double[] out = new double[tiles * heads * keys];
        for (int t = 0; t < tiles; t++) {
            for (int h = 0; h < heads; h++) {
                double[] logits = new double[keys];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < keys; j++) {
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += qCls[(t * heads + h) * d + e] * k[((t * heads + h) * keys + j) * d + e];
                    logits[j] = dot * scale;
                    max = Math.max(max, logits[j]);
                }
                double sum = 0;
                for (int j = 0; j < keys; j++) sum += logits[j] = Math.exp(logits[j] - max);
                for (int j = 0; j < keys; j++) out[(t * heads + h) * keys + j] = logits[j] / sum;
            }
        }
        return out;
    }
}
