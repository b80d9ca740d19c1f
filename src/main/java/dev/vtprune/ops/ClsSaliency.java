package dev.vtprune.ops;

import dev.vtprune.internal.OpScope;
import dev.vtprune.internal.Tensors;
import dev.vtprune.internal.Args;
import dev.vtprune.nativelib.VtNative;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * K5 — ViT token saliency from the CLS attention of one layer (design §3 K5, PTP eq. 3): the
 * CLS row, reduced over heads (mean by default), CLS column excluded, and, when the model merges
 * m x m patches into one token (InternVL pixel shuffle, m = 2), summed over each token's patches.
 * From materialised CLS rows, or from q_cls and K without forming the attention matrix.
 */
public final class ClsSaliency {
    private ClsSaliency() {}

    /** Native, heads averaged; rows of patches only ([tiles, heads, g*g]). */
    public static Tensor fromAttention(Tensor attn, int merge) {
        return fromAttention(attn, false, merge, Reduce.MEAN, Backend.NATIVE);
    }

    /**
     * @param attn           [tiles, heads, P] CLS-to-patch attention rows, or [tiles, heads, 1 + P]
     *                       with the CLS column first when rowsIncludeCls; P = g * g
     * @param merge          m, the patch-merge factor (1 = none), dividing g
     * @return float32 [tiles, (g/m)^2]
     */
    public static Tensor fromAttention(Tensor attn, boolean rowsIncludeCls, int merge, Reduce headReduce,
                                       Backend backend) {
        Args.notNull(headReduce, "headReduce");
        Args.notNull(backend, "backend");
        Args.rank(attn, "attn", 3, "[tiles, heads, patches]");
        Args.floating(attn, "attn");
        Args.supportedDevice(attn, "attn");
        Args.contiguous(attn, "attn");
        Args.atLeast(attn.size(0), "attn.size(0) (tiles)", 1);
        Args.atLeast(attn.size(1), "attn.size(1) (heads)", 1);
        int first = rowsIncludeCls ? 1 : 0;
        long grid = grid(attn.size(2) - first, merge, "attn", rowsIncludeCls ? "1 + g*g entries (CLS first)" : "g*g entries");
        return backend == Backend.NATIVE ? nativeRows(attn, first, grid, merge, headReduce)
                : composition(attn.narrow(2, first, grid * grid), grid, merge, headReduce);
    }

    /** Native Q/K form with scale 1/sqrt(d), heads averaged. */
    public static Tensor fromQk(Tensor qCls, Tensor k, int merge) {
        return fromQk(qCls, k, merge, Double.NaN, Reduce.MEAN, Backend.NATIVE);
    }

    /**
     * @param qCls  [tiles, heads, d] the CLS query of the layer
     * @param k     [tiles, heads, M, d] its keys, CLS first then g*g patches (M = 1 + g*g)
     * @param scale softmax scale, NaN for 1/sqrt(d)
     * @return float32 [tiles, (g/m)^2]
     */
    public static Tensor fromQk(Tensor qCls, Tensor k, int merge, double scale, Reduce headReduce, Backend backend) {
        Args.notNull(headReduce, "headReduce");
        Args.notNull(backend, "backend");
        Args.rank(qCls, "qCls", 3, "[tiles, heads, head_dim]");
        Args.rank(k, "k", 4, "[tiles, heads, keys, head_dim]");
        Args.floating(qCls, "qCls");
        Args.supportedDevice(qCls, "qCls");
        Args.sameDtype(qCls, "qCls", k, "k");
        Args.sameDevice(qCls, "qCls", k, "k");
        Args.atLeast(qCls.size(0), "qCls.size(0) (tiles)", 1);
        Args.atLeast(qCls.size(1), "qCls.size(1) (heads)", 1);
        Args.atLeast(qCls.size(2), "qCls.size(2) (head_dim)", 1);
        Args.size(k, "k", 0, qCls.size(0), "tiles of qCls");
        Args.size(k, "k", 1, qCls.size(1), "heads of qCls");
        Args.size(k, "k", 3, qCls.size(2), "head_dim of qCls");
        Args.innerContiguous(qCls, "qCls");
        Args.innerContiguous(k, "k");
        long grid = grid(k.size(2) - 1, merge, "k", "1 + g*g keys (CLS first) on axis 2");
        double sc = Rollout.scale(scale, qCls.size(2));
        return FiniteAttention.check(() -> {
            if (backend == Backend.NATIVE) return nativeQk(qCls, k, grid, merge, sc, headReduce);
            try (OpScope scope = new OpScope()) {
                Tensor logits = qCls.to(ScalarType.Float).unsqueeze(2).matmul(k.to(ScalarType.Float).transpose(2, 3)).squeeze(2);
                Tensor rows = logits.mul(new Scalar(sc)).softmax(2);
                return scope.keep(composition(rows.narrow(2, 1, grid * grid), grid, merge, headReduce));
            }
        }, "qCls", "k");
    }

    /** g with patches = g * g and merge | g. */
    private static long grid(long patches, int merge, String name, String expected) {
        if (merge < 1) throw Args.error("merge", "be >= 1", merge);
        long g = Math.round(Math.sqrt(Math.max(patches, 0)));
        if (patches < 1 || g * g != patches) throw Args.error(name, "hold " + expected + " (a square patch grid)", patches + " patches");
        if (g % merge != 0) throw Args.error("merge", "divide the patch grid side " + g, merge);
        return g;
    }

    private static Tensor nativeRows(Tensor attn, int first, long grid, int merge, Reduce head) {
        NativeLibrary.load();
        Exec at = Exec.of(attn, "attn");
        long g = grid / merge;
        Tensor out = Tensors.output(ScalarType.Float, Tensors.deviceOf(attn), attn.size(0), g * g);
        int d = at.device();
        NativeViews v = patchParams(first, grid, merge, head);
        NativeLibrary.check(VtNative.vt_cls_saliency(at.stream(),
                v.view(0, Tensors.address(attn), Tensors.vtDtype(Tensors.scalarType(attn)), d, attn.size(0), attn.size(1),
                        attn.size(2)),
                v.view(1, Tensors.address(out), VtNative.VT_FLOAT32, d, attn.size(0), g * g), v.params()));
        return out;
    }

    private static Tensor nativeQk(Tensor q, Tensor k, long grid, int merge, double scale, Reduce head) {
        NativeLibrary.load();
        Exec at = Exec.of(q, "qCls");
        long g = grid / merge;
        Device device = Tensors.deviceOf(q);
        Tensor out = Tensors.output(ScalarType.Float, device, q.size(0), g * g);
        int d = at.device(), dtype = Tensors.vtDtype(Tensors.scalarType(q));
        long tiles = q.size(0), heads = q.size(1), dim = q.size(2);
        // q and k may be strided (slices of a fused projection): their real strides go in the views.
        NativeViews v = patchParams(1, grid, merge, head).putFloat(28, (float) scale);
        NativeLibrary.check(VtNative.vt_cls_saliency_qk(at.stream(),
                v.strided(0, Tensors.address(q), dtype, d, new long[] {tiles, heads, dim},
                        new long[] {q.stride(0), q.stride(1), q.stride(2)}),
                v.strided(1, Tensors.address(k), dtype, d, new long[] {tiles, heads, k.size(2), dim},
                        new long[] {k.stride(0), k.stride(1), k.stride(2), k.stride(3)}),
                v.view(2, Tensors.address(out), VtNative.VT_FLOAT32, d, tiles, g * g), v.params()));
        return out;
    }

    /**
     * This thread's view block with the fields both K5 params structs share (vtprune.h):
     * first_patch, grid, merge (int64 at 0, 8, 16), head_reduce (int32 at 24); the Q/K form adds
     * scale (float at 28).
     */
    private static NativeViews patchParams(long first, long grid, int merge, Reduce head) {
        return NativeViews.get(3).putLong(0, first).putLong(8, grid).putLong(16, merge).putInt(24, head.code);
    }

    /** Head reduction, then m x m sum pooling on the g x g grid. */
    private static Tensor composition(Tensor patchRows, long grid, int merge, Reduce head) {
        try (OpScope scope = new OpScope()) {
            Tensor p = patchRows.to(ScalarType.Float);
            Tensor h = head == Reduce.MEAN ? p.mean(new long[] {1}, false, new ScalarTypeOptional())
                    : p.amax(new long[] {1}, false);
            long tiles = h.size(0), g = grid / merge;
            Tensor pooled = h.reshape(tiles, g, merge, g, merge).sum(new long[] {2, 4}, false, new ScalarTypeOptional());
            return scope.keep(pooled.reshape(tiles, g * g));
        }
    }
}
