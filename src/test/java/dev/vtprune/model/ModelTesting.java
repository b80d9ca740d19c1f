package dev.vtprune.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.internal.Tensors;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.function.Executable;

/** Shared helpers of the model tests. */
final class ModelTesting {
    private ModelTesting() {}

    static Lvlm load(TestCheckpoint ck, ModelConfig c) {
        return ModelLoader.load(c, new MapTensorSource(ck.hf, "test checkpoint"), ScalarType.Float, null);
    }

    static Lvlm load(TestCheckpoint ck, ModelConfig c, List<String> progress) {
        return ModelLoader.load(c, new MapTensorSource(ck.hf, "test checkpoint"), ScalarType.Float, progress::add);
    }

    static Tensor randn(long seed, long... shape) {
        torch.manual_seed(seed);
        return torch.randn(shape);
    }

    static void assertShape(Tensor t, long... shape) {
        assertArrayEquals(shape, t.shape(), "shape of " + Tensors.describe(t));
    }

    static void assertFinite(Tensor t, String what) {
        assertTrue(t.isfinite().all().item_bool(), what + " has NaN or infinite entries: " + Tensors.describe(t));
    }

    /** Softmax rows [heads, n] of q_cls . k_j / sqrt(d) from q [heads, d] and k [heads, n, d] (flattened). */
    static double[] clsRows(double[] q, double[] k, int heads, int n, int d) {
        double[] rows = new double[heads * n];
        for (int h = 0; h < heads; h++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int e = 0; e < d; e++) s += q[h * d + e] * k[(h * n + j) * d + e];
                rows[h * n + j] = s / Math.sqrt(d);
                max = Math.max(max, rows[h * n + j]);
            }
            double sum = 0;
            for (int j = 0; j < n; j++) sum += rows[h * n + j] = Math.exp(rows[h * n + j] - max);
            for (int j = 0; j < n; j++) rows[h * n + j] /= sum;
        }
        return rows;
    }

    /** Rows [n, width] of a [n, width] slice of x, as a list of double arrays. */
    static List<double[]> rows(double[] x, int n, int width) {
        List<double[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            double[] r = new double[width];
            System.arraycopy(x, i * width, r, 0, width);
            out.add(r);
        }
        return out;
    }

    /** Runs `call`, expecting an IllegalArgumentException whose message contains every fragment. */
    static String assertMessage(Executable call, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message lacks '" + f + "': " + e.getMessage());
        }
        return e.getMessage();
    }
}
