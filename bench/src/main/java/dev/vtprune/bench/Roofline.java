package dev.vtprune.bench;

/**
 * The least work each benchmarked op must do at a {@link Shape}: the bytes it must move (fp32
 * inputs read once, outputs written once) and the FLOPs it must compute (a multiply-add is 2).
 * With the machine's measured limits ({@link Limits}) that gives the fastest time any
 * implementation could reach, {@code max(bytes / read bandwidth, flops / GEMM rate)}, and an op's
 * achieved fraction of it. The formulas are in bench/README.md ("Roofline"); they count what the
 * computation needs, not what our kernels happen to do (a kernel that makes two passes over K
 * still has a bound of one).
 *
 * <p>Notation as in {@link Shape}: T tiles, H ViT heads, P = g² patches, M = P + 1 ViT tokens,
 * d ViT head dim, D CLS width, N visual tokens, Hq / Hkv LM heads, dl LM head dim, Q instruction
 * tokens, L keys, and S = the summed causal key counts of the instruction queries.
 */
public record Roofline(double bytes, double flops) {

    /** Keys of {@link Limits}' GEMM rates at the shapes of the ViT's and the LM's Q/K products. */
    static String vitGemm(Shape s) {
        return "VIT_" + s.name();
    }

    static String lmGemm(Shape s) {
        return "LM_" + s.name();
    }

    /** Width of the projected visual tokens the PTP benchmarks gather (InternLM2-1.8B). */
    static final int GATHER_WIDTH = 2048;

    static Roofline of(String op, Shape s) {
        double t = s.tiles(), h = s.vitHeads, p = (double) s.grid * s.grid, m = s.vitTokens(), d = s.vitDim;
        double n = s.visual(), hq = s.lmHeads, hkv = s.lmKvHeads, dl = s.lmDim, q = s.text, l = s.keys();
        // causal: query i sits at position system + N + i and sees keys 0 .. that position
        double causalKeys = q * (s.system + n) + q * (q + 1) / 2;
        Roofline k1 = new Roofline(4 * t * s.clsDim, 4 * t * s.clsDim);    // 2 dot products per tile
        Roofline k2 = new Roofline(4 * n * 2 + 4 * n + 8 * n, 6 * n);     // b, c in; fused, kept out
        Roofline k5 = new Roofline(4 * t * h * p, t * h * p);              // CLS rows in, head sum
        Roofline k5qk = new Roofline(4 * t * h * (m + 1) * d, 2 * t * h * m * d);
        Roofline k4 = new Roofline(4 * hq * q * n, hq * q * n);
        Roofline k4qk = new Roofline(4 * (hq * q * dl + hkv * l * dl), 2 * hq * causalKeys * dl);
        // Rollout over 3 layers, r = e0' B3 B2 A1: of the top layer only its CLS row is needed,
        // the two layers below it are needed whole (every row's normaliser enters the chain).
        Roofline k3 = new Roofline(4 * t * h * (2 * m * m + m), t * h * (2 * m * m + m) + 2 * 2 * t * m * m);
        Roofline k3qk = new Roofline(4 * t * h * d * (2 * 2 * m + m + 1), 2 * t * h * d * (2 * m * m + m));
        // PTP at r = 0.5 gathers half of the [N, 2048] visual tokens: read and write them once.
        Roofline gather = new Roofline(2 * 4 * (n / 2) * GATHER_WIDTH, 0);
        return switch (op) {
            case "K1RegionBudget" -> k1;
            case "K2SegmentedTopK" -> k2;
            case "K5ClsSaliency" -> k5;
            case "K5ClsSaliencyQk" -> k5qk;
            case "K4TextRelevance" -> k4;
            case "K4TextRelevanceQk" -> k4qk;
            case "K3Rollout" -> k3;
            case "K3RolloutQk" -> k3qk;
            case "PtpSelection" -> sum(k1, k5, k4, k2, gather);
            case "PtpSelectionQk" -> sum(k1, k5qk, k4qk, k2, gather);
            default -> throw new IllegalArgumentException("no roofline for op " + op);
        };
    }

    /** A composite op: bytes and FLOPs add. */
    private static Roofline sum(Roofline... parts) {
        double bytes = 0, flops = 0;
        for (Roofline r : parts) {
            bytes += r.bytes;
            flops += r.flops;
        }
        return new Roofline(bytes, flops);
    }

    /** The fastest time any implementation could take (microseconds) at these limits. */
    double boundMicros(double readGbs, double gflops) {
        return Math.max(bytes / (readGbs * 1e3), flops / (gflops * 1e3));
    }

    /** Whether memory (rather than arithmetic) sets the bound. */
    boolean memoryBound(double readGbs, double gflops) {
        return bytes / readGbs >= flops / gflops;
    }
}
