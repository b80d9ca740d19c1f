package dev.vtprune.cli;

import static dev.vtprune.cli.CliTest.assertOneLineError;
import static dev.vtprune.cli.CliTest.doubles;
import static dev.vtprune.cli.CliTest.longs;
import static dev.vtprune.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.io.Safetensors;
import dev.vtprune.internal.Tensors;
import dev.vtprune.testing.Approx;
import dev.vtprune.testing.Data;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code vtprune gtp} against a float64 oracle of the definition (full rollout matrices, eq. 4, sort). */
class GtpCommandTest {
    @TempDir
    Path dir;

    Path write(String name, Map<String, Tensor> t) {
        Path p = dir.resolve(name);
        Safetensors.write(p, t);
        return p;
    }

    record Want(long[] kept, double[] importance, double[] row) {}

    /**
     * @param probs per layer [H][M][M] float64 probabilities
     * @param norms value norms [M] or null
     */
    static Want oracle(double[][][][] probs, boolean abnar, int row, long[] candidates, double[] norms, int keep) {
        int m = probs[0][0].length, heads = probs[0].length;
        double[][] r = null;
        for (int l = 0; l < probs.length; l++) {
            double[][] a = new double[m][m];
            for (double[][] h : probs[l]) for (int i = 0; i < m; i++) for (int j = 0; j < m; j++) a[i][j] += h[i][j] / heads;
            if (l > 0 || abnar) {
                for (int i = 0; i < m; i++) {
                    a[i][i] += 1;
                    double s = Arrays.stream(a[i]).sum();
                    for (int j = 0; j < m; j++) a[i][j] /= s;
                }
            }
            if (r == null) {
                r = a;
                continue;
            }
            double[][] next = new double[m][m];
            for (int i = 0; i < m; i++) for (int k = 0; k < m; k++) for (int j = 0; j < m; j++) next[i][j] += a[i][k] * r[k][j];
            r = next;
        }
        double[] s = new double[candidates.length];
        double sum = 0;
        for (int i = 0; i < s.length; i++) sum += s[i] = r[row][(int) candidates[i]] * (norms == null ? 1 : norms[(int) candidates[i]]);
        for (int i = 0; i < s.length; i++) s[i] /= sum;
        Integer[] order = new Integer[s.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -s[i]).thenComparingLong(i -> candidates[i]));
        long[] kept = new long[keep];
        for (int i = 0; i < keep; i++) kept[i] = candidates[order[i]];
        Arrays.sort(kept);
        return new Want(kept, s, r[row]);
    }

    /** Softmax probabilities [Hq][M][M] of q [Hq, M, d], k [Hkv, M, d] (GQA, optional causal mask). */
    static double[][][] probs(Tensor q, Tensor k, double scale, boolean causal) {
        int hq = (int) q.size(0), hkv = (int) k.size(0), m = (int) q.size(1), d = (int) q.size(2);
        double[] qd = Tensors.toDoubles(q), kd = Tensors.toDoubles(k);
        double[][][] p = new double[hq][m][m];
        for (int h = 0; h < hq; h++) {
            int kh = h / (hq / hkv);
            for (int i = 0; i < m; i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < m; j++) {
                    if (causal && j > i) continue;
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += qd[(h * m + i) * d + e] * kd[(kh * m + j) * d + e];
                    p[h][i][j] = dot * scale;
                    max = Math.max(max, p[h][i][j]);
                }
                double sum = 0;
                for (int j = 0; j < m; j++) sum += p[h][i][j] = causal && j > i ? 0 : Math.exp(p[h][i][j] - max);
                for (int j = 0; j < m; j++) p[h][i][j] /= sum;
            }
        }
        return p;
    }

    static double[] norms(Tensor values) {
        double[] v = Tensors.toDoubles(values);
        int m = (int) values.size(0), dv = (int) values.size(1);
        double[] n = new double[m];
        for (int i = 0; i < m; i++) {
            for (int e = 0; e < dv; e++) n[i] += v[i * dv + e] * v[i * dv + e];
            n[i] = Math.sqrt(n[i]);
        }
        return n;
    }

    void check(Path f, Want want, String... extra) {
        String[] args = new String[4 + extra.length];
        args[0] = "gtp";
        args[1] = "--input";
        args[2] = f.toString();
        args[3] = "--keep=" + want.kept.length;
        System.arraycopy(extra, 0, args, 4, extra.length);
        CliTest.Run r = run(args);
        assertEquals(0, r.code(), r.err());
        // float32 kernels against float64 over 3 layers of probabilities ~1/M: 1e-6 absolute.
        Approx.assertClose(want.row, doubles(r.json().getAsJsonArray("cls_row")), 1e-6, 1e-4, "cls_row");
        Approx.assertClose(want.importance, doubles(r.json().getAsJsonArray("importance")), 1e-6, 1e-4, "importance");
        assertArrayEquals(want.kept, longs(r.json().getAsJsonArray("kept")), "kept");
    }

    @Test
    void queriesAndKeysRowZeroNativePath() {
        Map<String, Tensor> t = new LinkedHashMap<>();
        double[][][][] p = new double[3][][][];
        for (int l = 0; l < 3; l++) {
            t.put("q_" + l, Data.randn(500 + l, "float32", 3, 23, 8));
            t.put("k_" + l, Data.randn(510 + l, "float32", 3, 23, 8));
            p[l] = probs(t.get("q_" + l), t.get("k_" + l), 1 / Math.sqrt(8), false);
        }
        t.put("values", Data.randn(520, "float32", 23, 6));
        long[] cand = new long[22];
        for (int i = 0; i < 22; i++) cand[i] = i + 1;
        Path f = write("qk.safetensors", t);
        check(f, oracle(p, false, 0, cand, norms(t.get("values")), 7));
        check(f, oracle(p, true, 0, cand, norms(t.get("values")), 22), "--mode", "abnar");
        check(f, oracle(p, false, 0, cand, norms(t.get("values")), 0));
    }

    @Test
    void causalGqaPseudoClsRowWithCandidatesAndScale() {
        Map<String, Tensor> t = new LinkedHashMap<>();
        int m = 19, row = 14;
        double scale = 0.21;
        double[][][][] p = new double[2][][][];
        for (int l = 0; l < 2; l++) {
            t.put("q_" + l, Data.randn(600 + l, "float32", 4, m, 8));
            t.put("k_" + l, Data.randn(610 + l, "float32", 2, m, 8));
            p[l] = probs(t.get("q_" + l), t.get("k_" + l), scale, true);
        }
        long[] cand = {11, 3, 4, 5, 6, 7, 8, 9, 10, 2, 12};  // the visual tokens, in any order
        t.put("candidates", Tensor.create(cand));
        t.put("row", Tensor.create(new long[] {row}).reshape());
        t.put("scale", Tensor.create(new float[] {(float) scale}).reshape());
        Path f = write("causal.safetensors", t);
        check(f, oracle(p, false, row, cand, null, 4), "--causal");
        check(f, oracle(p, true, row, cand, null, 5), "--causal", "--mode=abnar");
        // The same probabilities given as attn_i.
        Map<String, Tensor> a = new LinkedHashMap<>();
        for (int l = 0; l < 2; l++) a.put("attn_" + l, tensor(p[l]));
        a.put("candidates", t.get("candidates"));
        a.put("row", t.get("row"));
        check(write("causal-attn.safetensors", a), oracle(p, false, row, cand, null, 4), "--causal");
    }

    @Test
    void attentionRowZeroWithValuesAndTies() {
        Map<String, Tensor> t = new LinkedHashMap<>();
        double[][][][] p = new double[3][][][];
        for (int l = 0; l < 3; l++) {
            Tensor a = Data.softmaxRows(700 + l, "float32", 2.0, 2, 17, 17);
            t.put("attn_" + l, a);
            p[l] = array(a);
        }
        t.put("values", Data.randn(710, "float32", 17, 5));
        long[] cand = new long[16];
        for (int i = 0; i < 16; i++) cand[i] = i + 1;
        check(write("attn.safetensors", t), oracle(p, false, 0, cand, norms(t.get("values")), 9));
        // Uniform attention: every candidate ties; the lower token indices win.
        Map<String, Tensor> u = new LinkedHashMap<>();
        u.put("attn_0", torch.full(new long[] {2, 10, 10}, new Scalar(0.1)));
        u.put("candidates", Tensor.create(new long[] {9, 2, 7, 4}));
        CliTest.Run r = run("gtp", "--input", write("ties.safetensors", u).toString(), "--keep", "2");
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(new long[] {2, 4}, longs(r.json().getAsJsonArray("kept")));
    }

    static Tensor tensor(double[][][] p) {
        int h = p.length, m = p[0].length;
        double[] flat = new double[h * m * m];
        for (int a = 0; a < h; a++) for (int i = 0; i < m; i++) System.arraycopy(p[a][i], 0, flat, (a * m + i) * m, m);
        return Tensor.create(flat, h, m, m).to(org.bytedeco.pytorch.global.torch.ScalarType.Float);
    }

    static double[][][] array(Tensor a) {
        int h = (int) a.size(0), m = (int) a.size(1);
        double[] d = Tensors.toDoubles(a);
        double[][][] p = new double[h][m][m];
        for (int x = 0; x < h; x++) for (int i = 0; i < m; i++) System.arraycopy(d, (x * m + i) * m, p[x][i], 0, m);
        return p;
    }

    @Test
    void badInputsExit2NamingTheTensor() {
        Map<String, Tensor> good = new LinkedHashMap<>();
        good.put("q_0", Data.randn(800, "float32", 4, 9, 8));
        good.put("k_0", Data.randn(801, "float32", 2, 9, 8));
        Path ok = write("ok.safetensors", good);
        assertEquals(0, run("gtp", "--input", ok.toString(), "--keep", "3").code());
        assertOneLineError(run("gtp", "--input", ok.toString(), "--keep", "9"), "argument '--keep' must be in [0, 8] (the candidates), got 9");
        assertOneLineError(run("gtp", "--input", ok.toString(), "--keep", "1", "--mode", "max"), "argument '--mode' must be ivtp or abnar");
        assertOneLineError(run("gtp", "--input", ok.toString()), "Missing required option: '--keep");
        Map<String, Tensor> m = new LinkedHashMap<>(good);
        m.remove("q_0");
        assertOneLineError(run("gtp", "--input", write("noq.safetensors", m).toString(), "--keep", "1"), "tensor 'q_0' is missing");
        assertOneLineError(run("gtp", "--input", write("empty.safetensors", Map.of("x", torch.zeros(1))).toString(), "--keep", "1"),
                "tensor 'attn_0' is missing");
        m = new LinkedHashMap<>(good);
        m.put("q_1", Data.randn(802, "float32", 4, 9, 8));
        m.put("k_1", Data.randn(803, "float32", 2, 8, 8));
        assertOneLineError(run("gtp", "--input", write("k1.safetensors", m).toString(), "--keep", "1"),
                "tensor 'k_1' in " + dir.resolve("k1.safetensors") + " must be [2, 9, 8] like k_0, got [2, 8, 8]");
        m = new LinkedHashMap<>(good);
        m.put("k_0", Data.randn(804, "float32", 3, 9, 8));
        assertOneLineError(run("gtp", "--input", write("gqa.safetensors", m).toString(), "--keep", "1"),
                "tensor 'k_0' in " + dir.resolve("gqa.safetensors") + " must be [kv_heads, 9, 8] with kv_heads dividing 4");
        m = new LinkedHashMap<>(good);
        m.put("row", Tensor.create(new long[] {9}).reshape());
        assertOneLineError(run("gtp", "--input", write("row.safetensors", m).toString(), "--keep", "1"), "tensor 'row'");
        m = new LinkedHashMap<>(good);
        m.put("candidates", Tensor.create(new long[] {1, 3, 1}));
        assertOneLineError(run("gtp", "--input", write("dup.safetensors", m).toString(), "--keep", "1"),
                "tensor 'candidates' in " + dir.resolve("dup.safetensors") + " must hold distinct indices, got 1 twice");
        m.put("candidates", Tensor.create(new long[] {1, 30}));
        assertOneLineError(run("gtp", "--input", write("range.safetensors", m).toString(), "--keep", "1"),
                "must hold token indices in [0, 8], got candidates[1] = 30");
        m = new LinkedHashMap<>(good);
        m.put("values", Data.randn(805, "float32", 8, 3));
        assertOneLineError(run("gtp", "--input", write("values.safetensors", m).toString(), "--keep", "1"),
                "tensor 'values' in " + dir.resolve("values.safetensors") + " must have M = 9 rows, got [8, 3]");
        m = new LinkedHashMap<>(good);
        m.put("scale", Tensor.create(new float[] {-1f}).reshape());
        assertOneLineError(run("gtp", "--input", write("scale.safetensors", m).toString(), "--keep", "1"),
                "tensor 'scale' in " + dir.resolve("scale.safetensors") + " must be finite and > 0");
        m = new LinkedHashMap<>(good);
        Tensor nan = good.get("q_0").clone();
        nan.select(0, 1).select(0, 2).fill_(new Scalar(Double.NaN));
        m.put("q_0", nan);
        assertOneLineError(run("gtp", "--input", write("nan.safetensors", m).toString(), "--keep", "1"),
                "tensor 'q_0' in " + dir.resolve("nan.safetensors") + " must hold finite values only");
        Map<String, Tensor> a = new LinkedHashMap<>();
        a.put("attn_0", Data.softmaxRows(806, "float32", 1.0, 2, 6, 6));
        Path attn = write("attn.safetensors", a);
        assertOneLineError(run("gtp", "--input", attn.toString(), "--keep", "1", "--causal"),
                "tensor 'attn_0' in " + attn + " must be causal with --causal");
        a.put("q_0", good.get("q_0"));
        CliTest.Run both = run("gtp", "--input", write("both.safetensors", a).toString(), "--keep", "1");
        assertOneLineError(both, "holds both q_0/k_0 and attn_0");
        assertTrue(both.err().contains("give one form"));
    }
}
