package dev.vtprune.cli;

import dev.vtprune.ops.Rollout;
import dev.vtprune.internal.Tensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vtprune gtp}: one group-wise token pruning decision of IVTP, offline, from a dump.
 * Tensors: {@code q_0 .. q_{L-1}} [Hq, M, d] and {@code k_0 .. k_{L-1}} [Hkv, M, d] (post-RoPE;
 * query head h reads kv head h / (Hq / Hkv)), or {@code attn_0 .. attn_{L-1}} [H, M, M]
 * (probabilities); optional {@code values} [M, dv], {@code scale} (float32 scalar, default
 * 1/sqrt(d)), {@code row} (int64 scalar, default 0: the query whose rollout row scores),
 * {@code candidates} (int64 [C], default 1 .. M-1).
 *
 * <p>Softmax over keys (with --causal keys j <= i only), head mean, the rollout row chain of
 * design §3 K3 ({@code r = e_row^T B_L-1 ... B_1 A_0}, ABNAR: {@code ... B_0}), importance over
 * the candidates {@code r_c |V_c| / sum} (or {@code r_c / sum}), the K highest kept, ties to the
 * lower token index. The native K3 kernel computes the row when it can (row 0, no mask, no GQA);
 * other cases use the same chain as LibTorch ops (M x M per layer: an offline tool).
 */
@Command(name = "gtp", mixinStandardHelpOptions = true,
        description = "One IVTP group-wise pruning decision from q_i/k_i or attn_i in a safetensors file (JSON out).")
final class GtpCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--input", required = true, paramLabel = "F.safetensors", description = "The input tensors.")
    Path input;

    @Option(names = "--keep", required = true, paramLabel = "K", description = "Candidates to keep.")
    long keep;

    @Option(names = "--mode", defaultValue = "ivtp", description = "ivtp (first layer without the residual) or abnar. Default: ${DEFAULT-VALUE}.")
    String mode;

    @Option(names = "--causal", description = "Causal softmax over keys j <= i (the LM stage); with attn_i, checks they are causal.")
    boolean causal;

    @Override
    public Integer call() {
        main.setUp();
        Rollout.Mode m = RolloutCommand.mode(mode);
        try (PointerScope scope = new PointerScope(); InputFile in = InputFile.open(input)) {
            boolean qk = in.has("q_0") || in.has("k_0");
            if (qk && in.has("attn_0")) {
                throw new IllegalArgumentException("input " + input + " holds both q_0/k_0 and attn_0: give one form");
            }
            List<Tensor> q = new ArrayList<>(), k = new ArrayList<>(), attn = new ArrayList<>();
            long tokens;
            double scale = Double.NaN;
            if (qk) {
                for (int l = 0; in.has("q_" + l) || l == 0; l++) {
                    q.add(in.floating("q_" + l, 3, "[query_heads, M, head_dim]").to(ScalarType.Float));
                    k.add(in.floating("k_" + l, 3, "[kv_heads, M, head_dim]").to(ScalarType.Float));
                }
                if (in.has("k_" + q.size())) {
                    throw in.error("k_" + q.size(), "must come with q_" + q.size(), "no q_" + q.size());
                }
                Tensor q0 = q.get(0), k0 = k.get(0);
                tokens = q0.size(1);
                if (k0.size(1) != tokens || k0.size(2) != q0.size(2) || k0.size(0) < 1 || q0.size(0) % k0.size(0) != 0) {
                    throw in.error("k_0", "must be [kv_heads, " + tokens + ", " + q0.size(2) + "] with kv_heads dividing "
                            + q0.size(0) + " (the query heads)", in.shapeOf(k0));
                }
                for (int l = 0; l < q.size(); l++) {
                    if (!Arrays.equals(q.get(l).shape(), q0.shape())) {
                        throw in.error("q_" + l, "must be " + in.shapeOf(q0) + " like q_0", in.shapeOf(q.get(l)));
                    }
                    if (!Arrays.equals(k.get(l).shape(), k0.shape())) {
                        throw in.error("k_" + l, "must be " + in.shapeOf(k0) + " like k_0", in.shapeOf(k.get(l)));
                    }
                }
                if (in.has("scale")) {
                    scale = in.floating("scale", 0, "(a scalar)").item_double();
                    if (!(scale > 0) || Double.isInfinite(scale)) throw in.error("scale", "must be finite and > 0", scale + "");
                } else {
                    scale = 1.0 / Math.sqrt(q0.size(2));
                }
            } else {
                for (int l = 0; in.has("attn_" + l) || l == 0; l++) {
                    attn.add(in.floating("attn_" + l, 3, "[heads, M, M]").to(ScalarType.Float));
                }
                Tensor a0 = attn.get(0);
                tokens = a0.size(1);
                for (int l = 0; l < attn.size(); l++) {
                    Tensor a = attn.get(l);
                    if (a.size(0) != a0.size(0) || a.size(1) != tokens || a.size(2) != tokens) {
                        throw in.error("attn_" + l, "must be [" + a0.size(0) + ", " + tokens + ", " + tokens + "] like attn_0",
                                in.shapeOf(a));
                    }
                    if (causal && a.to(ScalarType.Float).triu(1).abs().max().item_double() != 0) {
                        throw in.error("attn_" + l, "must be causal with --causal (zero above the diagonal)",
                                "non-zero entries above it");
                    }
                }
                if (in.has("scale")) throw in.error("scale", "applies to q_i/k_i only", "attn_i inputs");
            }
            if (tokens < 2) throw new IllegalArgumentException("the inputs hold M = " + tokens + " tokens; need at least 2");
            long row = 0;
            if (in.has("row")) {
                row = in.integers("row", 0, "(a scalar)")[0];
                if (row < 0 || row >= tokens) throw in.error("row", "must be in [0, " + (tokens - 1) + "]", row + "");
            }
            long[] candidates;
            if (in.has("candidates")) {
                candidates = in.integers("candidates", 1, "[C]");
                boolean[] seen = new boolean[(int) tokens];
                for (int i = 0; i < candidates.length; i++) {
                    long c = candidates[i];
                    if (c < 0 || c >= tokens) throw in.error("candidates", "must hold token indices in [0, " + (tokens - 1) + "]",
                            "candidates[" + i + "] = " + c);
                    if (seen[(int) c]) throw in.error("candidates", "must hold distinct indices", c + " twice");
                    seen[(int) c] = true;
                }
            } else {
                candidates = new long[(int) tokens - 1];
                for (int i = 0; i < candidates.length; i++) candidates[i] = i + 1;
            }
            if (keep < 0 || keep > candidates.length) {
                throw new IllegalArgumentException("argument '--keep' must be in [0, " + candidates.length
                        + "] (the candidates), got " + keep);
            }
            Tensor values = null;
            if (in.has("values")) {
                values = in.floating("values", 2, "[M, value_dim]");
                if (values.size(0) != tokens) throw in.error("values", "must have M = " + tokens + " rows", in.shapeOf(values));
            }
            double[] clsRow = qk ? rowFromQk(q, k, scale, m, row) : rowFromAttention(attn, m, row);
            double[] importance = importance(clsRow, values, candidates);
            main.spec.commandLine().getOut().println(new JsonOut()
                    .put("kept", top(importance, candidates, (int) keep))
                    .put("importance", importance)
                    .put("cls_row", clsRow));
        }
        return 0;
    }

    /** The rollout row from q/k: native K3 for row 0 without mask or GQA, else the LibTorch chain. */
    private double[] rowFromQk(List<Tensor> q, List<Tensor> k, double scale, Rollout.Mode mode, long row) {
        long group = q.get(0).size(0) / k.get(0).size(0);
        if (row == 0 && !causal && group == 1) {
            try (Rollout.Result r = Rollout.clsRowFromQk(q, k, scale, mode, null, dev.vtprune.ops.Backend.NATIVE)) {
                return Tensors.toDoubles(r.clsRow());
            }
        }
        List<Tensor> probs = new ArrayList<>();
        for (int l = 0; l < q.size(); l++) {
            Tensor ql = q.get(l).to(ScalarType.Float);
            Tensor kl = k.get(l).to(ScalarType.Float).repeat_interleave(group, new org.bytedeco.pytorch.LongOptional(0),
                    new org.bytedeco.pytorch.LongOptional());
            Tensor s = ql.matmul(kl.transpose(1, 2)).mul(new Scalar(scale));
            if (causal) {
                long mm = s.size(1);
                Tensor mask = torch.ones(new long[] {mm, mm}, Tensors.options(ScalarType.Bool, Tensors.cpu())).triu(1);
                s = s.masked_fill(mask, new Scalar(Double.NEGATIVE_INFINITY));
            }
            probs.add(s.softmax(-1));
        }
        return chain(probs, mode, row);
    }

    /** From probabilities: native K3 for row 0, else the LibTorch chain. */
    private static double[] rowFromAttention(List<Tensor> attn, Rollout.Mode mode, long row) {
        if (row == 0) {
            try (Rollout.Result r = Rollout.clsRow(attn, mode, null)) {
                return Tensors.toDoubles(r.clsRow());
            }
        }
        return chain(attn, mode, row);
    }

    /** v = e_row, v <- v B_l from the top layer down, then v A_0 (IVTP) or v B_0 (ABNAR); float32. */
    private static double[] chain(List<Tensor> probs, Rollout.Mode mode, long row) {
        long mm = probs.get(0).size(1);
        Tensor v = torch.zeros(new long[] {1, mm}, Tensors.options(ScalarType.Float, Tensors.cpu()));
        v.select(1, row).fill_(new Scalar(1.0));
        Tensor eye = torch.eye(mm, Tensors.options(ScalarType.Float, Tensors.cpu()));
        for (int l = probs.size() - 1; l >= 0; l--) {
            Tensor a = probs.get(l).to(ScalarType.Float).mean(new long[] {0}, false, new ScalarTypeOptional());
            if (l > 0 || mode == Rollout.Mode.ABNAR) {
                Tensor b = a.add(eye);
                a = b.div(b.sum(new long[] {-1}, true, new ScalarTypeOptional()));
            }
            v = v.matmul(a);
        }
        return Tensors.toDoubles(v);
    }

    /** Eq. 4 over the candidates: r_c |V_c| (or r_c), normalised to sum 1 (all 0 when the sum is 0). */
    static double[] importance(double[] row, Tensor values, long[] candidates) {
        double[] norms = values == null ? null : Tensors.toDoubles(values.to(ScalarType.Float).norm(
                new org.bytedeco.pytorch.ScalarOptional(new Scalar(2.0)), new long[] {1}, false));
        double[] s = new double[candidates.length];
        double sum = 0;
        for (int i = 0; i < s.length; i++) {
            int c = (int) candidates[i];
            sum += s[i] = row[c] * (norms == null ? 1 : norms[c]);
        }
        if (sum > 0) for (int i = 0; i < s.length; i++) s[i] /= sum;
        else Arrays.fill(s, 0);
        return s;
    }

    /** The K candidates of highest importance (ties to the lower token index), ascending. */
    static long[] top(double[] importance, long[] candidates, int keep) {
        Integer[] order = new Integer[candidates.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -importance[i]).thenComparingLong(i -> candidates[i]));
        long[] kept = new long[keep];
        for (int i = 0; i < keep; i++) kept[i] = candidates[order[i]];
        Arrays.sort(kept);
        return kept;
    }
}
