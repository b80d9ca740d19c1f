package dev.vtprune.model;

import dev.vtprune.internal.Tensors;
import java.util.Arrays;
import java.util.Locale;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Decode step time over an unpruned vs a pruned KV cache of the demo preset's LM (random
 * weights; the demo's sequence lengths: 2034 tokens unpruned, 1138 with PTP r = 0.5), the two
 * decoders stepped alternately so that a shared machine's load drift hits both alike; prints
 * the median step of each, their ratio, and the analytic multiply-adds of one step. Not a test:
 * run it with the test class path (bench/results/generate-2026-12-03/README.md has the command).
 *
 * <p>Arguments: [steps (default 48)] [unpruned length] [pruned length] [preset] [wall|cpu]. With
 * {@code cpu} LibTorch runs on the calling thread alone and a step is timed by that thread's CPU
 * time, which a loaded machine's waiting does not inflate.
 */
public final class DecodeBench {
    private DecodeBench() {}

    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 48;
        long full = args.length > 1 ? Long.parseLong(args[1]) : 2034, cut = args.length > 2 ? Long.parseLong(args[2]) : 1138;
        ModelConfig config = ModelConfig.preset(args.length > 3 ? args[3] : "demo");
        ModelConfig.Language c = config.language();
        cpu = args.length > 4 && args[4].equals("cpu");
        if (cpu) torch.set_num_threads(1);
        try (PointerScope scope = new PointerScope(); Lvlm m = RandomWeights.create(config, 1, ScalarType.Float)) {
            LanguageModel lm = m.language();
            torch.manual_seed(3);
            Tensor embeds = torch.randn(new long[] {1, full, c.hidden()});
            long[] kept = new long[(int) cut];  // the first and last tokens (text) and an even spread between
            for (int i = 0; i < cut; i++) kept[i] = Math.round((double) i * (full - 1) / (cut - 1));
            Tensor shorter = embeds.index_select(1, Tensors.longs(Tensors.cpu(), kept));
            long t0 = System.nanoTime();
            try (Prefill pf = lm.prefill(embeds, new long[] {full});
                 Prefill pp = lm.prefill(shorter, new long[] {cut})) {
                double prefillMs = (System.nanoTime() - t0) / 1e6;
                try (LanguageModel.Decoder df = lm.decoder(pf.cache(), steps + 4);
                     LanguageModel.Decoder dp = lm.decoder(pp.cache(), steps + 4)) {
                    for (int w = 0; w < 4; w++) {  // warm-up: allocator, thread pool
                        df.step(7);
                        dp.step(7);
                    }
                    double[] a = new double[steps], b = new double[steps];
                    for (int s = 0; s < steps; s++) {
                        long token = 100 + s;
                        boolean fullFirst = s % 2 == 0;  // alternate the order too
                        if (fullFirst) a[s] = time(df, token);
                        b[s] = time(dp, token);
                        if (!fullFirst) a[s] = time(df, token);
                    }
                    double ma = median(a), mb = median(b);
                    long macsFull = macs(c, full + 4 + steps / 2), macsCut = macs(c, cut + 4 + steps / 2);
                    System.out.printf(Locale.ROOT, "preset %s: %d layers, hidden %d, %d/%d heads, vocab %d; prefill of both %.0f ms%n",
                            config.name(), c.layers(), c.hidden(), c.heads(), c.kvHeads(), c.vocab(), prefillMs);
                    System.out.printf(Locale.ROOT, "%s, ", cpu ? "thread CPU time, 1 LibTorch thread" : "wall time, "
                            + torch.get_num_threads() + " LibTorch threads");
                    System.out.printf(Locale.ROOT, "decode step, median of %d alternating steps: unpruned (KV %d) %.2f ms = %.1f tok/s, "
                            + "pruned (KV %d) %.2f ms = %.1f tok/s; pruned is %.2fx faster%n", steps, full, ma, 1e3 / ma, cut, mb,
                            1e3 / mb, ma / mb);
                    System.out.printf(Locale.ROOT, "  quartiles unpruned %.2f..%.2f ms, pruned %.2f..%.2f ms%n", quantile(a, 0.25),
                            quantile(a, 0.75), quantile(b, 0.25), quantile(b, 0.75));
                    System.out.printf(Locale.ROOT, "multiply-adds per step (mid-run): unpruned %.1f M, pruned %.1f M (ratio %.2f); "
                            + "of which attention over the cache %.1f M vs %.1f M%n", macsFull / 1e6, macsCut / 1e6,
                            (double) macsFull / macsCut, attention(c, full + 4 + steps / 2) / 1e6, attention(c, cut + 4 + steps / 2) / 1e6);
                }
            }
        }
    }

    private static boolean cpu;
    private static final java.lang.management.ThreadMXBean THREADS = java.lang.management.ManagementFactory.getThreadMXBean();

    private static double time(LanguageModel.Decoder d, long token) {
        long t = cpu ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
        d.step(token);
        return ((cpu ? THREADS.getCurrentThreadCpuTime() : System.nanoTime()) - t) / 1e6;
    }

    /** Weights (every layer's projections and MLP, the head) plus attention over `cached` keys. */
    static long macs(ModelConfig.Language c, long cached) {
        long h = c.hidden(), d = c.headDim();
        long perLayer = h * (c.heads() + 2L * c.kvHeads()) * d + (long) c.heads() * d * h + 3L * h * c.intermediate();
        return c.layers() * perLayer + (long) c.vocab() * h + attention(c, cached);
    }

    /** q.k and p.v for every query head over the cache, all layers. */
    static long attention(ModelConfig.Language c, long cached) {
        return 2L * c.layers() * c.heads() * c.headDim() * cached;
    }

    private static double median(double[] v) {
        return quantile(v, 0.5);
    }

    private static double quantile(double[] v, double q) {
        double[] s = v.clone();
        Arrays.sort(s);
        double at = q * (s.length - 1);
        int lo = (int) Math.floor(at), hi = (int) Math.ceil(at);
        return s[lo] + (s[hi] - s[lo]) * (at - lo);
    }
}
