package dev.vtprune.bench;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * This machine's own limits, measured in the same run as the op benchmarks so that every op's
 * time can be read as a fraction of them (the roofline column of {@link Summary}):
 *
 * <ul>
 *   <li>sustained memory bandwidth: a STREAM-style triad {@code a = b + s c} and a read-only sum,
 *       over fp32 buffers of 128 MiB each (far beyond any last-level cache, so every byte comes
 *       from DRAM), with all cores and with one;
 *   <li>the fp32 GEMM rate of LibTorch's batched matmul at the shapes of the Q/K ops' inner
 *       products: per-tile ViT attention logits ({@code [H, M, d] x [H, d, M]}) and the LM
 *       instruction logits ({@code [Hq, Q, d] x [Hq, d, L]}), for each {@link Shape}, and a
 *       1536-square matmul; the best of them is the compute roof ({@code gemm_peak_gflops}): the
 *       small Q/K shapes run below the library's peak, and a kernel that does the same inner
 *       products can reach the peak, so a roof taken at the small shapes alone could be beaten.
 * </ul>
 *
 * <p>Each figure is the best of several repetitions (STREAM's convention: the best run is the one
 * least disturbed by the rest of the machine). The triad counts 3 x 4 bytes per element (two
 * reads, one write; write-allocate traffic is not counted, as in STREAM).
 *
 * <p>Usage: {@code Limits OUT.json quick|full}. Writes {@code {"threads": n, "triad_gbs": ...,
 * "read_gbs": ..., "triad_gbs_1core": ..., "read_gbs_1core": ..., "gemm_gflops": {"VIT_LLAVA":
 * ..., ...}, "gemm_peak_gflops": ...}}.
 */
public final class Limits {
    private Limits() {}

    private static final long ELEMENTS = 32L << 20;  // 32 Mi floats = 128 MiB per buffer

    public static void main(String[] args) throws IOException {
        int reps = "full".equals(args[1]) ? 10 : 4;
        int threads = torch.get_num_threads();
        JsonObject out = new JsonObject();
        out.addProperty("threads", threads);  // LibTorch's intra-op threads: the pool the limits use
        dev.vtprune.ops.NativeLibrary.load();
        out.addProperty("vtprune_threads", dev.vtprune.ops.NativeLibrary.threads());  // our kernels' pool
        out.addProperty("cores", Runtime.getRuntime().availableProcessors());
        try (PointerScope scope = new PointerScope()) {
            Tensor a = torch.zeros(ELEMENTS), b = torch.rand(ELEMENTS), c = torch.rand(ELEMENTS);
            for (int t : new int[] {threads, 1}) {
                torch.set_num_threads(t);
                String suffix = t == threads ? "" : "_1core";
                out.addProperty("triad_gbs" + suffix, round(bandwidth(reps, 3, () -> torch.add_out(a, b, c, new Scalar(3.0)))));
                out.addProperty("read_gbs" + suffix, round(bandwidth(reps, 1, () -> b.sum())));
            }
            torch.set_num_threads(threads);
            JsonObject gemm = new JsonObject();
            for (Shape s : Shape.values()) {
                gemm.addProperty(Roofline.vitGemm(s), round(gemmRate(reps, s.vitHeads, s.vitTokens(), s.vitDim, s.vitTokens())));
                gemm.addProperty(Roofline.lmGemm(s), round(gemmRate(reps, s.lmHeads, s.text, s.lmDim, s.keys())));
            }
            double square = gemmRate(reps, 1, 1536, 1536, 1536);
            gemm.addProperty("SQUARE_1536", round(square));
            double peak = gemm.entrySet().stream().mapToDouble(e -> e.getValue().getAsDouble()).max().orElseThrow();
            out.add("gemm_gflops", gemm);
            out.addProperty("gemm_peak_gflops", round(peak));
        }
        Files.writeString(Path.of(args[0]), new GsonBuilder().setPrettyPrinting().create().toJson(out) + "\n");
        System.err.printf(Locale.ROOT, "limits: %s%n", out);
    }

    /** GB/s of the best of {@code reps} runs of an op that streams {@code buffers} buffers. */
    private static double bandwidth(int reps, int buffers, Runnable op) {
        double best = bestSeconds(reps, op);
        return buffers * ELEMENTS * 4.0 / best / 1e9;
    }

    /** GFLOP/s of {@code [batch, m, k] x [batch, k, n]} in fp32 (2 FLOPs per multiply-add). */
    private static double gemmRate(int reps, int batch, int m, int k, int n) {
        try (PointerScope scope = new PointerScope()) {
            Tensor x = torch.randn(batch, m, k), y = torch.randn(batch, k, n), z = torch.empty(batch, m, n);
            double best = bestSeconds(reps, () -> torch.bmm_out(z, x, y));
            return 2.0 * batch * m * k * n / best / 1e9;
        }
    }

    private static double bestSeconds(int reps, Runnable op) {
        double best = Double.MAX_VALUE;
        for (int i = 0; i <= reps; i++) {  // the first run warms caches, pages and threads
            try (PointerScope scope = new PointerScope()) {
                long t0 = System.nanoTime();
                op.run();
                double s = (System.nanoTime() - t0) / 1e9;
                if (i > 0) best = Math.min(best, s);
            }
        }
        return best;
    }

    private static double round(double v) {
        return Math.round(v * 100.0) / 100.0;
    }
}
