package dev.vtprune.ops;

import dev.vtprune.internal.Closing;
import dev.vtprune.internal.OpScope;
import dev.vtprune.internal.Tensors;
import dev.vtprune.internal.Args;
import dev.vtprune.nativelib.VtNative;
import java.util.List;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * K3 — attention rollout over a group of layers (design §3 K3, IVTP eq. 3–4).
 *
 * <p>IVTP: {@code R = A_l1; R = B_l R} for the later layers, {@code B = rownorm(A + I)}, A the
 * head-averaged attention. ABNAR starts from {@code R = I}. Only the CLS row of R is needed for
 * pruning: the kernels compute it as a chain of vector-matrix products, O(L M^2) instead of
 * O(L M^3), and, from queries and keys, without materialising any M x M matrix.
 *
 * <p>Every input may hold one sequence ({@code [H, M, M]}, {@code [H, M, d]}) or a batch of
 * sequences (tiles) of equal length ({@code [S, H, M, M]}, {@code [S, H, M, d]}); the outputs
 * follow ({@code [M]} or {@code [S, M]}).
 */
public final class Rollout {
    private Rollout() {}

    public enum Mode {
        /** IVTP eq. 3: the first layer of the group enters without the residual identity. */
        IVTP(VtNative.VT_ROLLOUT_IVTP),
        /** Abnar and Zuidema: every layer, the first included, as rownorm(A + I). */
        ABNAR(VtNative.VT_ROLLOUT_ABNAR);

        final int code;

        Mode(int code) {
            this.code = code;
        }
    }

    /**
     * @param clsRow     float32 [S, M] (or [M]) the CLS row of R, index 0 being the CLS itself
     * @param importance float32 [S, M - 1] (or [M - 1]) IVTP eq. 4 over the patch tokens
     */
    public static final class Result implements AutoCloseable {
        private final Closing closing = new Closing("Rollout.Result");
        private final Tensor clsRow, importance;

        Result(Tensor clsRow, Tensor importance) {
            this.clsRow = clsRow;
            this.importance = importance;
        }

        public Tensor clsRow() {
            closing.check();
            return clsRow;
        }

        public Tensor importance() {
            closing.check();
            return importance;
        }

        /** Frees the tensors; a second call does nothing. */
        @Override
        public void close() {
            if (!closing.close()) return;
            Tensors.closeAll(clsRow, importance);
        }
    }

    /** Native CLS-row chain from attention probabilities. */
    public static Result clsRow(List<Tensor> layers, Mode mode, Tensor values) {
        return clsRow(layers, mode, values, Backend.NATIVE);
    }

    /**
     * @param layers attention probabilities of layers l1..l2 (l1 first), each [S, H, M, M] or
     *               [H, M, M], rows softmax-normalised, CLS at index 0; same shape, dtype and
     *               device; contiguous
     * @param values value vectors at layer l2, [S, M, dv] or [M, dv] (all heads concatenated),
     *               of the layers' dtype; or null for S_i = r_i / sum r
     */
    public static Result clsRow(List<Tensor> layers, Mode mode, Tensor values, Backend backend) {
        Args.notNull(mode, "mode");
        Args.notNull(backend, "backend");
        Shape s = checkLayers(layers, "layers");
        Tensor v = checkValues(values, s, layers.get(0));
        rejectNonFiniteValues(v, s, backend);
        return backend == Backend.NATIVE ? nativeChain(layers, s, mode, v) : compositionChain(layers, s, mode, v);
    }

    /** Native CLS-row chain from queries and keys with scale 1/sqrt(d). */
    public static Result clsRowFromQk(List<Tensor> q, List<Tensor> k, Mode mode, Tensor values) {
        return clsRowFromQk(q, k, Double.NaN, mode, values, Backend.NATIVE);
    }

    /**
     * @param q     queries of layers l1..l2 (l1 first), each [S, H, M, d] or [H, M, d] after any
     *              positional encoding; the last axis dense, all layers (and k) with the same
     *              shape, dtype, device and strides
     * @param k     keys, like q
     * @param scale softmax scale; NaN for the default 1/sqrt(d)
     */
    public static Result clsRowFromQk(List<Tensor> q, List<Tensor> k, double scale, Mode mode, Tensor values,
                                      Backend backend) {
        Args.notNull(mode, "mode");
        Args.notNull(backend, "backend");
        Shape s = checkQk(q, k);
        double sc = scale(scale, s.d);
        Tensor v = checkValues(values, s, q.get(0));
        rejectNonFiniteValues(v, s, backend);
        // CPU: VT_ERR_NONFINITE; CUDA and LibTorch: a NaN cls_row. One exception for all three.
        return FiniteAttention.check(() -> backend == Backend.NATIVE ? nativeQk(q, k, s, sc, mode, v)
                : compositionQk(q, k, s, sc, mode, v), Result::clsRow, "q", "k");
    }

    /** The full rollout matrix R, [S, M, M] or [M, M] (for visualisation; O(L M^3)). */
    public static Tensor matrix(List<Tensor> layers, Mode mode, Backend backend) {
        Args.notNull(mode, "mode");
        Args.notNull(backend, "backend");
        Shape s = checkLayers(layers, "layers");
        return backend == Backend.NATIVE ? nativeMatrix(layers, s, mode) : compositionMatrix(layers, s, mode);
    }

    // ---------------------------------------------------------------- checks

    /** Sequences, heads, tokens, head dim (0 for probabilities), and whether inputs were batched. */
    private record Shape(long seqs, long heads, long m, long d, boolean batched) {}

    private static Shape checkLayers(List<Tensor> layers, String name) {
        Args.notNull(layers, name);
        if (layers.isEmpty()) throw Args.error(name, "hold at least one layer", "an empty list");
        Tensor first = layers.get(0);
        String arg0 = name + "[0]";
        Args.defined(first, arg0);
        if (first.dim() != 3 && first.dim() != 4) {
            throw Args.error(arg0, "have rank 3 [heads, M, M] or 4 [seqs, heads, M, M]", Tensors.describe(first));
        }
        boolean batched = first.dim() == 4;
        long m = first.size(-1);
        if (first.size(-2) != m) throw Args.error(arg0, "be square in its last two axes", Tensors.describe(first));
        if (m < 2) throw Args.error(arg0, "hold at least 2 tokens (CLS + patches)", Tensors.describe(first));
        Args.floating(first, arg0);
        Args.supportedDevice(first, arg0);
        nonEmpty(first, arg0);
        for (int l = 0; l < layers.size(); l++) {
            Tensor t = Args.defined(layers.get(l), name + "[" + l + "]");
            if (!java.util.Arrays.equals(t.shape(), first.shape())) {
                throw Args.error(name + "[" + l + "]", "have the shape of " + arg0 + " "
                        + java.util.Arrays.toString(first.shape()), Tensors.describe(t));
            }
            Args.sameDtype(first, arg0, t, name + "[" + l + "]");
            Args.sameDevice(first, arg0, t, name + "[" + l + "]");
            Args.contiguous(t, name + "[" + l + "]");
        }
        return new Shape(batched ? first.size(0) : 1, first.size(-3), m, 0, batched);
    }

    /** M >= 2 is checked apart: an empty tensor then has no sequences, heads or head_dim. */
    private static void nonEmpty(Tensor t, String name) {
        if (t.numel() == 0) throw Args.error(name, "have at least one sequence, head and head_dim entry", Tensors.describe(t));
    }

    private static Shape checkQk(List<Tensor> q, List<Tensor> k) {
        Args.notNull(q, "q");
        Args.notNull(k, "k");
        if (q.isEmpty()) throw Args.error("q", "hold at least one layer", "an empty list");
        if (k.size() != q.size()) throw Args.error("k", "hold one tensor per layer of q (" + q.size() + ")", k.size());
        Tensor first = Args.defined(q.get(0), "q[0]");
        if (first.dim() != 3 && first.dim() != 4) {
            throw Args.error("q[0]", "have rank 3 [heads, M, d] or 4 [seqs, heads, M, d]", Tensors.describe(first));
        }
        Args.floating(first, "q[0]");
        Args.supportedDevice(first, "q[0]");
        Args.innerContiguous(first, "q[0]");
        if (first.size(-2) < 2) throw Args.error("q[0]", "hold at least 2 tokens (CLS + patches)", Tensors.describe(first));
        nonEmpty(first, "q[0]");
        long[] strides = Args.strides(first);
        for (int l = 0; l < q.size(); l++) {
            for (String side : new String[] {"q", "k"}) {
                String name = side + "[" + l + "]";
                Tensor t = Args.defined((side.equals("q") ? q : k).get(l), name);
                if (!java.util.Arrays.equals(t.shape(), first.shape())) {
                    throw Args.error(name, "have the shape of q[0] " + java.util.Arrays.toString(first.shape()),
                            Tensors.describe(t));
                }
                Args.sameDtype(first, "q[0]", t, name);
                Args.sameDevice(first, "q[0]", t, name);
                if (!java.util.Arrays.equals(Args.strides(t), strides)) {
                    throw Args.error(name, "have the strides of q[0] " + java.util.Arrays.toString(strides)
                            + " (the kernel takes one layout; call .contiguous() on both)",
                            java.util.Arrays.toString(Args.strides(t)));
                }
            }
        }
        boolean batched = first.dim() == 4;
        return new Shape(batched ? first.size(0) : 1, first.size(-3), first.size(-2), first.size(-1), batched);
    }

    private static Tensor checkValues(Tensor values, Shape s, Tensor ref) {
        if (values == null) return null;
        int rank = s.batched ? 3 : 2;
        Args.rank(values, "values", rank, s.batched ? "[seqs, M, value_dim]" : "[M, value_dim]");
        if (s.batched) Args.size(values, "values", 0, s.seqs, "sequences");
        Args.size(values, "values", rank - 2, s.m, "tokens");
        Args.atLeast(values.size(rank - 1), "values.size(-1) (value_dim)", 1);
        Args.sameDtype(ref, "the attention inputs", values, "values");
        Args.sameDevice(ref, "the attention inputs", values, "values");
        Args.contiguous(values, "values");
        return values;
    }

    /**
     * Non-finite values are the CPU kernel's VT_ERR_INVALID_ARGUMENT; the CUDA kernel (which
     * cannot fail the call) and the composition would turn them into NaN importances. So those
     * paths check the input first (one device sync on CUDA) and throw the CPU's exception, word
     * for word, for the first such (sequence, token) row, the one the CPU kernel reports.
     */
    private static void rejectNonFiniteValues(Tensor values, Shape s, Backend backend) {
        if (values == null || (backend == Backend.NATIVE && values.is_cpu())) return;
        long row;
        try (OpScope scope = new OpScope()) {
            Tensor bad = values.reshape(s.seqs * s.m, values.size(-1)).isfinite().logical_not().any(1);
            if (!bad.any().item_bool()) return;
            row = bad.nonzero().flatten().select(0, 0).item_long();
        }
        throw new VtpruneException(VtpruneException.Status.INVALID_ARGUMENT, String.format(
                "vt_rollout: argument 'values' holds a non-finite value (sequence %d, token %d)", row / s.m, row % s.m));
    }

    static double scale(double scale, long d) {
        if (Double.isNaN(scale)) return 1.0 / Math.sqrt(d);
        if (!(scale > 0) || Double.isInfinite(scale)) throw Args.error("scale", "be finite and > 0", scale);
        return scale;
    }

    // ---------------------------------------------------------------- native

    /**
     * Writes one contiguous [S, H, M, last] view per layer into consecutive slots from
     * {@code slot} (the host array of views the C ABI takes); returns the first one's address.
     * Strides are the row-major ones, or {@code strides} (a strided layout every layer shares,
     * checked by checkQk) when given.
     */
    private static long layerViews(NativeViews v, int slot, List<Tensor> layers, int dtype, int device, Shape s,
                                   long last, long[] strides) {
        for (int l = 0; l < layers.size(); l++) {
            long data = Tensors.address(layers.get(l));
            if (strides == null) v.view(slot + l, data, dtype, device, s.seqs, s.heads, s.m, last);
            else v.strided(slot + l, data, dtype, device, new long[] {s.seqs, s.heads, s.m, last}, strides);
        }
        return v.address(slot);
    }

    /** values [S, M, value_dim] (unbatched values [M, value_dim] as S = 1), or 0 for none. */
    private static long valuesView(NativeViews v, int slot, Tensor values, int dtype, int device, Shape s) {
        return values == null ? 0L : v.view(slot, Tensors.address(values), dtype, device, s.seqs, s.m, values.size(-1));
    }

    private static Tensor workspace(Device device, long bytes) {
        return Tensors.empty(ScalarType.Byte, device, Math.max(bytes, 1));
    }

    private static Result outputs(Shape s, Device device) {
        return new Result(Tensors.output(ScalarType.Float, device, s.seqs, s.m),
                Tensors.output(ScalarType.Float, device, s.seqs, s.m - 1));
    }

    private static Result shaped(Result r, Shape s) {
        if (s.batched) return r;
        Result out = new Result(r.clsRow().squeeze(0), r.importance().squeeze(0));
        r.close();
        return out;
    }

    private static Result nativeChain(List<Tensor> layers, Shape s, Mode mode, Tensor values) {
        NativeLibrary.load();
        Tensor first = layers.get(0);
        Exec at = Exec.of(first, "layers[0]");
        Device device = Tensors.deviceOf(first);
        Result out = outputs(s, device);
        int d = at.device(), dtype = Tensors.vtDtype(Tensors.scalarType(first)), n = layers.size();
        try (OpScope scope = new OpScope()) {
            // vt_rollout_params: num_layers (int64), mode (int32).
            NativeViews v = NativeViews.get(n + 3).putLong(0, n).putInt(8, mode.code);
            long views = layerViews(v, 0, layers, dtype, d, s, s.m, null);
            long bytes = VtNative.vt_rollout_workspace_bytes(views);
            Tensor ws = workspace(device, bytes);
            NativeLibrary.check(VtNative.vt_rollout(at.stream(), views, valuesView(v, n, values, dtype, d, s),
                    v.view(n + 1, Tensors.address(out.clsRow()), VtNative.VT_FLOAT32, d, s.seqs, s.m),
                    v.view(n + 2, Tensors.address(out.importance()), VtNative.VT_FLOAT32, d, s.seqs, s.m - 1),
                    v.params(), Tensors.address(ws), bytes));
        }
        return shaped(out, s);
    }

    private static Result nativeQk(List<Tensor> q, List<Tensor> k, Shape s, double scale, Mode mode, Tensor values) {
        NativeLibrary.load();
        Tensor first = q.get(0);
        Exec at = Exec.of(first, "q[0]");
        Device device = Tensors.deviceOf(first);
        Result out = outputs(s, device);
        // One layout for every layer of q and k (checkQk); an unbatched layer is one sequence.
        long[] strides = {s.batched ? first.stride(0) : 0, first.stride(-3), first.stride(-2), first.stride(-1)};
        int d = at.device(), dtype = Tensors.vtDtype(Tensors.scalarType(first)), n = q.size();
        try (OpScope scope = new OpScope()) {
            // vt_rollout_qk_params: num_layers (int64), scale (float), mode (int32).
            NativeViews v = NativeViews.get(2 * n + 3).putLong(0, n).putFloat(8, (float) scale).putInt(12, mode.code);
            long qViews = layerViews(v, 0, q, dtype, d, s, s.d, strides);
            long kViews = layerViews(v, n, k, dtype, d, s, s.d, strides);
            long bytes = VtNative.vt_rollout_qk_workspace_bytes(qViews);
            Tensor ws = workspace(device, bytes);
            NativeLibrary.check(VtNative.vt_rollout_qk(at.stream(), qViews, kViews,
                    valuesView(v, 2 * n, values, dtype, d, s),
                    v.view(2 * n + 1, Tensors.address(out.clsRow()), VtNative.VT_FLOAT32, d, s.seqs, s.m),
                    v.view(2 * n + 2, Tensors.address(out.importance()), VtNative.VT_FLOAT32, d, s.seqs, s.m - 1),
                    v.params(), Tensors.address(ws), bytes));
        }
        return shaped(out, s);
    }

    private static Tensor nativeMatrix(List<Tensor> layers, Shape s, Mode mode) {
        NativeLibrary.load();
        Tensor first = layers.get(0);
        Exec at = Exec.of(first, "layers[0]");
        Device device = Tensors.deviceOf(first);
        Tensor out = Tensors.output(ScalarType.Float, device, s.seqs, s.m, s.m);
        int d = at.device(), dtype = Tensors.vtDtype(Tensors.scalarType(first)), n = layers.size();
        try (OpScope scope = new OpScope()) {
            NativeViews v = NativeViews.get(n + 1).putLong(0, n).putInt(8, mode.code);
            long views = layerViews(v, 0, layers, dtype, d, s, s.m, null);
            long bytes = VtNative.vt_rollout_matrix_workspace_bytes(views);
            Tensor ws = workspace(device, bytes);
            NativeLibrary.check(VtNative.vt_rollout_matrix(at.stream(), views,
                    v.view(n, Tensors.address(out), VtNative.VT_FLOAT32, d, s.seqs, s.m, s.m), v.params(),
                    Tensors.address(ws), bytes));
        }
        if (s.batched) return out;
        Tensor squeezed = out.squeeze(0);
        out.close();
        return squeezed;
    }

    // ---------------------------------------------------------------- LibTorch composition

    /** [S, M, M] head-averaged attention (float32) of one layer. */
    private static Tensor headMean(Tensor layer, Shape s) {
        Tensor a = s.batched ? layer : layer.unsqueeze(0);
        return a.to(ScalarType.Float).mean(new long[] {1}, false, new ScalarTypeOptional());
    }

    /** rownorm(A + I) for a batch of [S, M, M] matrices. */
    private static Tensor residual(Tensor a, long m) {
        Tensor b = a.add(torch.eye(m, Tensors.options(ScalarType.Float, Tensors.deviceOf(a))));
        return b.div(b.sum(new long[] {-1}, true, new ScalarTypeOptional()));
    }

    /** The chain v = e_0, v <- v B_l (top layer first), r = v A_l1, with matrices from `layer`. */
    private static Result chainComposition(int layers, java.util.function.IntFunction<Tensor> meanLayer, Shape s,
                                           Mode mode, Tensor values, Device device) {
        try (OpScope scope = new OpScope()) {
            Tensor v = Tensors.zeros(ScalarType.Float, device, s.seqs, 1, s.m);
            v.select(2, 0).fill_(new Scalar(1.0));
            for (int l = layers - 1; l >= 0; l--) {
                Tensor a = meanLayer.apply(l);
                v = v.bmm(l > 0 || mode == Mode.ABNAR ? residual(a, s.m) : a);
            }
            Tensor r = v.squeeze(1);
            Tensor patches = r.narrow(1, 1, s.m - 1);
            if (values != null) {
                Tensor vals = s.batched ? values : values.unsqueeze(0);
                Tensor f = vals.to(ScalarType.Float);
                Tensor norms = f.mul(f).sum(new long[] {-1}, false, new ScalarTypeOptional()).sqrt();
                patches = patches.mul(norms.narrow(1, 1, s.m - 1));
            }
            Tensor total = patches.sum(new long[] {1}, true, new ScalarTypeOptional());
            Tensor importance = torch.where(total.gt(new Scalar(0.0)), patches.div(total), new Scalar(0.0));
            Result out = new Result(scope.keep(s.batched ? r.contiguous() : r.squeeze(0).contiguous()),
                    scope.keep(s.batched ? importance.contiguous() : importance.squeeze(0).contiguous()));
            return out;
        }
    }

    private static Result compositionChain(List<Tensor> layers, Shape s, Mode mode, Tensor values) {
        return chainComposition(layers.size(), l -> headMean(layers.get(l), s), s, mode, values,
                layers.get(0).device());
    }

    private static Result compositionQk(List<Tensor> q, List<Tensor> k, Shape s, double scale, Mode mode,
                                        Tensor values) {
        return chainComposition(q.size(), l -> {
            Tensor ql = q.get(l).to(ScalarType.Float), kl = k.get(l).to(ScalarType.Float);
            Tensor attn = ql.matmul(kl.transpose(-2, -1)).mul(new Scalar(scale)).softmax(-1);
            return headMean(attn, s);
        }, s, mode, values, q.get(0).device());
    }

    private static Tensor compositionMatrix(List<Tensor> layers, Shape s, Mode mode) {
        try (OpScope scope = new OpScope()) {
            Tensor r = headMean(layers.get(0), s);
            if (mode == Mode.ABNAR) r = residual(r, s.m);
            for (int l = 1; l < layers.size(); l++) r = residual(headMean(layers.get(l), s), s.m).bmm(r);
            return scope.keep(s.batched ? r.contiguous() : r.squeeze(0).contiguous());
        }
    }

    /** Query rows per block of {@link #causalRowFromQk}: bounds its scores to Hq x 128 x M floats. */
    private static final long CAUSAL_ROW_BLOCK = 128;

    /**
     * The rollout row of query `row` under causal attention with grouped-query heads, from each
     * layer's queries and keys (IVTP's LM stage: the row of the pseudo-CLS token). Same chain as
     * {@link #clsRowFromQk} ({@code r = e_row^T B_L-1 ... B_1 A_0}, ABNAR: {@code ... B_0},
     * {@code B = rownorm(A + I) = (A + I) / 2}), but softmax over keys {@code j <= i} only and
     * query head h reading kv head {@code h / (Hq / Hkv)}. Only rows {@code <= row} can carry
     * weight under a causal mask, so only they are computed, in blocks of 128 query rows: memory
     * {@code O(Hq * 128 * M)}, never an {@code M x M} matrix.
     *
     * <p>A LibTorch composition in float32 (the native K3 kernel has no causal or GQA form yet);
     * it runs on the device of its inputs.
     *
     * @param q     per layer (first layer of the group first) [Hq, M, d] after RoPE
     * @param k     per layer [Hkv, M, d] after RoPE, Hq a multiple of Hkv; all layers alike
     * @param row   the query whose row is rolled out, in [0, M)
     * @param scale softmax scale; NaN for 1/sqrt(d)
     * @return float32 [M]: the row (entries after `row` are 0), summing to 1
     */
    public static Tensor causalRowFromQk(List<Tensor> q, List<Tensor> k, long row, double scale, Mode mode) {
        Args.notNull(q, "q");
        Args.notNull(k, "k");
        Args.notNull(mode, "mode");
        if (q.isEmpty() || q.size() != k.size()) {
            throw Args.error("q", "hold one tensor per layer, as many as k (" + k.size() + "), at least one", q.size());
        }
        Tensor q0 = Args.defined(q.get(0), "q[0]"), k0 = Args.defined(k.get(0), "k[0]");
        Args.rank(q0, "q[0]", 3, "[heads, M, d]");
        Args.rank(k0, "k[0]", 3, "[kvHeads, M, d]");
        long hq = q0.size(0), m = q0.size(1), d = q0.size(2), hkv = k0.size(0);
        if (hkv < 1 || hq % hkv != 0 || k0.size(1) != m || k0.size(2) != d) {
            throw Args.error("k[0]", "be [kvHeads, " + m + ", " + d + "] with " + hq + " % kvHeads == 0",
                    Tensors.describe(k0));
        }
        for (int l = 0; l < q.size(); l++) {
            Tensor ql = Args.defined(q.get(l), "q[" + l + "]"), kl = Args.defined(k.get(l), "k[" + l + "]");
            if (!java.util.Arrays.equals(ql.shape(), q0.shape())) {
                throw Args.error("q[" + l + "]", "have the shape of q[0]", Tensors.describe(ql));
            }
            if (!java.util.Arrays.equals(kl.shape(), k0.shape())) {
                throw Args.error("k[" + l + "]", "have the shape of k[0]", Tensors.describe(kl));
            }
        }
        if (row < 0 || row >= m) throw Args.error("row", "be in [0, " + m + ")", row);
        double sc = scale(scale, d);
        long group = hq / hkv, rows = row + 1;
        try (OpScope scope = new OpScope()) {
            Device device = Tensors.deviceOf(q0);
            Tensor keyIndex = torch.arange(new Scalar(m), Tensors.options(ScalarType.Long, device)).unsqueeze(0);
            Tensor r = torch.zeros(new long[] {m}, Tensors.options(ScalarType.Float, device));
            r.select(0, row).fill_(new Scalar(1.0));
            for (int l = q.size() - 1; l >= 0; l--) {
                Tensor ql = q.get(l).to(ScalarType.Float).view(hkv, group, m, d);
                Tensor kt = k.get(l).to(ScalarType.Float).transpose(1, 2).unsqueeze(1);      // [Hkv, 1, d, M]
                Tensor next = torch.zeros(new long[] {m}, Tensors.options(ScalarType.Float, device));
                for (long c0 = 0; c0 < rows; c0 += CAUSAL_ROW_BLOCK) {
                    long c = Math.min(CAUSAL_ROW_BLOCK, rows - c0);
                    Tensor s = ql.narrow(2, c0, c).matmul(kt).mul(new Scalar(sc));           // [Hkv, g, c, M]
                    Tensor queryIndex = torch.arange(new Scalar(c0), new Scalar(c0 + c),
                            Tensors.options(ScalarType.Long, device)).unsqueeze(1);
                    s = s.masked_fill(keyIndex.gt(queryIndex), new Scalar(Double.NEGATIVE_INFINITY));
                    Tensor a = s.softmax(-1).mean(new long[] {0, 1}, false, new ScalarTypeOptional());  // [c, M]
                    next = next.add(r.narrow(0, c0, c).unsqueeze(0).matmul(a).squeeze(0));
                }
                r = l > 0 || mode == Mode.ABNAR ? next.add(r).mul(new Scalar(0.5)) : next;
            }
            return scope.keep(r.contiguous());
        }
    }
}
