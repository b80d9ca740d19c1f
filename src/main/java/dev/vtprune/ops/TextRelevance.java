package dev.vtprune.ops;

import dev.vtprune.internal.OpScope;
import dev.vtprune.internal.Tensors;
import dev.vtprune.internal.Args;
import dev.vtprune.nativelib.VtNative;
import java.util.List;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * K4 — instruction relevance of visual tokens (design §3 K4, PTP eq. 4):
 * {@code c_v = text_q ( head_h P[h, q, pos_v] )}, PTP's default being the mean over heads and
 * the max over instruction tokens. From materialised attention probabilities, or (the
 * flash / SDPA-compatible form) from the layer's queries and keys without ever forming a
 * Q x L matrix. An image without instruction queries gets relevance 0 everywhere.
 */
public final class TextRelevance {
    private TextRelevance() {}

    /** One image, native kernel, PTP reductions (head MEAN, text MAX). */
    public static Tensor fromAttention(Tensor attn) {
        return fromAttention(List.of(attn), Reduce.MEAN, Reduce.MAX, Backend.NATIVE);
    }

    /**
     * @param attnPerImage per image, [heads, Q_b, N_b] instruction rows restricted to the visual
     *                     columns (already softmaxed over all keys); same heads, dtype, device
     * @return float32 [sum N_b]
     */
    public static Tensor fromAttention(List<Tensor> attnPerImage, Reduce headReduce, Reduce textReduce,
                                       Backend backend) {
        Args.notNull(attnPerImage, "attn");
        Args.notNull(headReduce, "headReduce");
        Args.notNull(textReduce, "textReduce");
        Args.notNull(backend, "backend");
        if (attnPerImage.isEmpty()) throw Args.error("attn", "hold at least one image", "an empty list");
        Tensor first = attnPerImage.get(0);
        for (int b = 0; b < attnPerImage.size(); b++) {
            String name = attnPerImage.size() == 1 ? "attn" : "attn[" + b + "]";
            Tensor t = attnPerImage.get(b);
            Args.rank(t, name, 3, "[heads, queries, visual]");
            Args.floating(t, name);
            Args.supportedDevice(t, name);
            Args.contiguous(t, name);
            if (b > 0) {
                Args.size(t, name, 0, first.size(0), "heads of attn[0]");
                Args.sameDtype(first, "attn[0]", t, name);
                Args.sameDevice(first, "attn[0]", t, name);
            }
            Args.atLeast(t.size(0), name + ".size(0) (heads)", 1);
        }
        long queries = 0, visual = 0;
        for (Tensor t : attnPerImage) {
            queries += t.size(1);
            visual += t.size(2);
        }
        // No instruction query at all: relevance 0 everywhere (the rule above), with no kernel to
        // run on empty buffers.
        if (queries == 0) return Tensors.zeros(ScalarType.Float, Tensors.deviceOf(first), visual);
        return backend == Backend.NATIVE ? nativeProbs(attnPerImage, headReduce, textReduce)
                : compositionProbs(attnPerImage, headReduce, textReduce);
    }

    /** Native Q/K form with PTP reductions and scale 1/sqrt(d). */
    public static Tensor fromQk(Tensor q, Tensor k, TextLayout layout) {
        return fromQk(q, k, layout, Double.NaN, Reduce.MEAN, Reduce.MAX, Backend.NATIVE);
    }

    /**
     * @param q      [q_heads, total_queries, d] instruction queries of every image, stacked
     *               image by image along axis 1 (post-RoPE); last axis dense
     * @param k      [kv_heads, total_keys, d] keys of every image's whole sequence at that
     *               layer, stacked likewise; q_heads % kv_heads == 0 (GQA)
     * @param layout positions of the queries and visual tokens in each image's sequence
     * @param scale  softmax scale, NaN for 1/sqrt(d)
     * @return float32 [total visual tokens]
     */
    public static Tensor fromQk(Tensor q, Tensor k, TextLayout layout, double scale, Reduce headReduce,
                                Reduce textReduce, Backend backend) {
        Args.notNull(layout, "layout");
        Args.notNull(headReduce, "headReduce");
        Args.notNull(textReduce, "textReduce");
        Args.notNull(backend, "backend");
        Args.rank(q, "q", 3, "[q_heads, queries, head_dim]");
        Args.rank(k, "k", 3, "[kv_heads, keys, head_dim]");
        Args.floating(q, "q");
        Args.supportedDevice(q, "q");
        Args.sameDtype(q, "q", k, "k");
        Args.sameDevice(q, "q", k, "k");
        Args.size(q, "q", 1, layout.totalQueries(), "queries of the layout");
        Args.size(k, "k", 1, layout.totalKeys(), "keys of the layout");
        Args.size(k, "k", 2, q.size(2), "head_dim of q");
        Args.atLeast(q.size(2), "q.size(2) (head_dim)", 1);
        Args.atLeast(k.size(0), "k.size(0) (kv_heads)", 1);
        if (q.size(0) % k.size(0) != 0) {
            throw Args.error("k", "have a number of kv heads dividing q's " + q.size(0) + " heads", Tensors.describe(k));
        }
        Args.innerContiguous(q, "q");
        Args.innerContiguous(k, "k");
        double sc = Rollout.scale(scale, q.size(2));
        if (layout.totalQueries() == 0) return Tensors.zeros(ScalarType.Float, Tensors.deviceOf(q), layout.totalVisual());
        return FiniteAttention.check(() -> backend == Backend.NATIVE ? nativeQk(q, k, layout, sc, headReduce, textReduce)
                : compositionQk(q, k, layout, sc, headReduce, textReduce), "q", "k");
    }

    // ---------------------------------------------------------------- native

    private static Tensor nativeProbs(List<Tensor> attn, Reduce head, Reduce text) {
        NativeLibrary.load();
        Tensor first = attn.get(0);
        Exec at = Exec.of(first, "attn");
        Device device = Tensors.deviceOf(first);
        int images = attn.size();
        long[] queryOffsets = new long[images + 1], visualOffsets = new long[images + 1];
        for (int b = 0; b < images; b++) {
            queryOffsets[b + 1] = queryOffsets[b] + attn.get(b).size(1);
            visualOffsets[b + 1] = visualOffsets[b] + attn.get(b).size(2);
        }
        Tensor out = Tensors.output(ScalarType.Float, device, visualOffsets[images]);
        try (OpScope scope = new OpScope(); KernelArrays offsets = new KernelArrays(queryOffsets, visualOffsets)) {
            Tensor flat = images == 1 ? first : flatten(attn);
            Tensor[] off = offsets.on(device);
            int d = at.device();
            long elements = 0;
            for (Tensor t : attn) elements += t.size(0) * t.size(1) * t.size(2);
            // vt_text_relevance_params: heads (int64), head_reduce, text_reduce (int32).
            NativeViews v = NativeViews.get(4).putLong(0, first.size(0)).putInt(8, head.code).putInt(12, text.code);
            NativeLibrary.check(VtNative.vt_text_relevance(at.stream(),
                    v.view(0, Tensors.address(flat), Tensors.vtDtype(Tensors.scalarType(first)), d, elements),
                    v.view(1, Tensors.address(off[0]), VtNative.VT_INT64, d, images + 1L),
                    v.view(2, Tensors.address(off[1]), VtNative.VT_INT64, d, images + 1L),
                    v.view(3, Tensors.address(out), VtNative.VT_FLOAT32, d, visualOffsets[images]), v.params()));
            // Freeing the offsets (and flat) here is safe on CUDA too: LibTorch's caching
            // allocator reuses a freed block only for work queued later on the same stream.
        }
        return out;
    }

    private static Tensor flatten(List<Tensor> parts) {
        TensorVector flat = new TensorVector();
        for (Tensor t : parts) flat.push_back(t.flatten());
        return torch.cat(flat);
    }

    private static Tensor nativeQk(Tensor q, Tensor k, TextLayout layout, double scale, Reduce head, Reduce text) {
        NativeLibrary.load();
        Exec at = Exec.of(q, "q");
        Device device = Tensors.deviceOf(q);
        Tensor out = Tensors.output(ScalarType.Float, device, layout.totalVisual());
        Tensor[] a = layout.arraysOn(device);
        try (OpScope scope = new OpScope()) {
            int d = at.device(), dtype = Tensors.vtDtype(Tensors.scalarType(q));
            long heads = q.size(0), dim = q.size(2), queries = layout.totalQueries(), images = layout.numImages() + 1L;
            long visual = layout.totalVisual();
            // vt_text_relevance_qk_params: scale (float), head_reduce, text_reduce (int32).
            NativeViews v = NativeViews.get(8).putFloat(0, (float) scale).putInt(4, head.code).putInt(8, text.code);
            // q and k may be strided (slices of a fused projection): their real strides go in the views.
            long qv = v.strided(0, Tensors.address(q), dtype, d, new long[] {heads, queries, dim},
                    new long[] {q.stride(0), q.stride(1), q.stride(2)});
            long bytes = VtNative.vt_text_relevance_qk_workspace_bytes(qv);
            Tensor ws = Tensors.empty(ScalarType.Byte, device, Math.max(bytes, 1));
            NativeLibrary.check(VtNative.vt_text_relevance_qk(at.stream(), qv,
                    v.strided(1, Tensors.address(k), dtype, d, new long[] {k.size(0), layout.totalKeys(), dim},
                            new long[] {k.stride(0), k.stride(1), k.stride(2)}),
                    v.view(2, Tensors.address(a[0]), VtNative.VT_INT64, d, images),
                    v.view(3, Tensors.address(a[1]), VtNative.VT_INT64, d, images),
                    v.view(4, Tensors.address(a[3]), VtNative.VT_INT64, d, queries),
                    v.view(5, Tensors.address(a[2]), VtNative.VT_INT64, d, images),
                    v.view(6, Tensors.address(a[4]), VtNative.VT_INT64, d, visual),
                    v.view(7, Tensors.address(out), VtNative.VT_FLOAT32, d, visual), v.params(), Tensors.address(ws),
                    bytes));
        }
        return out;
    }

    // ---------------------------------------------------------------- LibTorch composition

    /** head reduction over axis 0 of [H, Q, N], then text reduction over the queries. */
    private static Tensor reduce(Tensor p, Reduce head, Reduce text) {
        if (p.size(1) == 0) return Tensors.zeros(ScalarType.Float, Tensors.deviceOf(p), p.size(2));
        Tensor h = head == Reduce.MEAN ? p.mean(new long[] {0}, false, new ScalarTypeOptional())
                : p.amax(new long[] {0}, false);
        return text == Reduce.MAX ? h.amax(new long[] {0}, false) : h.mean(new long[] {0}, false, new ScalarTypeOptional());
    }

    private static Tensor compositionProbs(List<Tensor> attn, Reduce head, Reduce text) {
        try (OpScope scope = new OpScope()) {
            TensorVector parts = new TensorVector();
            for (Tensor t : attn) parts.push_back(reduce(t.to(ScalarType.Float), head, text));
            return scope.keep(torch.cat(parts));
        }
    }

    private static Tensor compositionQk(Tensor q, Tensor k, TextLayout layout, double scale, Reduce head,
                                        Reduce text) {
        Device device = Tensors.deviceOf(q);
        long group = q.size(0) / k.size(0);
        try (OpScope scope = new OpScope()) {
            TensorVector parts = new TensorVector();
            for (int b = 0; b < layout.numImages(); b++) {
                long nq = layout.queries(b), nk = layout.keys(b);
                Tensor qb = q.narrow(1, layout.queryOffset(b), nq).to(ScalarType.Float);
                Tensor kb = k.narrow(1, layout.keyOffset(b), nk).to(ScalarType.Float).repeat_interleave(group, new org.bytedeco.pytorch.LongOptional(0), new org.bytedeco.pytorch.LongOptional());
                Tensor scores = qb.matmul(kb.transpose(1, 2)).mul(new Scalar(scale));  // [Hq, Q, L]
                Tensor keyIndex = torch.arange(new Scalar(nk), Tensors.options(ScalarType.Long, device)).unsqueeze(0);
                Tensor queryPos = Tensors.longs(device, layout.queryPos(b)).unsqueeze(1);
                Tensor masked = scores.masked_fill(keyIndex.gt(queryPos).unsqueeze(0), new Scalar(Double.NEGATIVE_INFINITY));
                Tensor p = masked.softmax(2).index_select(2, Tensors.longs(device, layout.visualPos(b)));
                parts.push_back(reduce(p, head, text));
            }
            return scope.keep(torch.cat(parts));
        }
    }
}
