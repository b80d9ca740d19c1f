package dev.vtprune.ops;

import dev.vtprune.internal.Closing;
import dev.vtprune.internal.OpScope;
import dev.vtprune.internal.Tensors;
import dev.vtprune.internal.Args;
import dev.vtprune.nativelib.VtNative;
import java.nio.LongBuffer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * K2 — segmented top-k per tile with fused min-max normalisation and alpha fusion (design §3
 * K2, PTP eq. 5).
 *
 * <p>Per tile: {@code b^, c^} = min-max normalised scores (0 for a flat tile),
 * {@code f = (1 - alpha) b^ + alpha c^}, and the {@code K_t} tokens with the largest f are kept,
 * ties going to the lower index. The kept global indices come out in ascending order. NaN or
 * infinite scores are an error, never a silent pick.
 */
public final class SegmentedTopK {
    private SegmentedTopK() {}

    /**
     * @param kept        int64 [sum_t min(K_t, n_t)] kept global token indices, ascending
     * @param keptPerTile int64 [tiles] tokens kept per tile
     * @param fused       float32 [N] the fused score of every token
     */
    public static final class Result implements AutoCloseable {
        private final Closing closing = new Closing("SegmentedTopK.Result");
        private final Tensor kept, keptPerTile, fused;

        Result(Tensor kept, Tensor keptPerTile, Tensor fused) {
            this.kept = kept;
            this.keptPerTile = keptPerTile;
            this.fused = fused;
        }

        public Tensor kept() {
            closing.check();
            return kept;
        }

        public Tensor keptPerTile() {
            closing.check();
            return keptPerTile;
        }

        public Tensor fused() {
            closing.check();
            return fused;
        }

        /** Frees the tensors; a second call does nothing. */
        @Override
        public void close() {
            if (!closing.close()) return;
            Tensors.closeAll(kept, keptPerTile, fused);
        }
    }

    /** The plain form: the `budgets` largest `scores` per tile, no normalisation (native). */
    public static Result select(Tensor scores, TileLayout layout, Tensor budgets) {
        return select(scores, null, layout, budgets, 0.0, false, Backend.NATIVE);
    }

    /** The fused form with PTP's normalisation (native). */
    public static Result select(Tensor bottomUp, Tensor instruction, TileLayout layout, Tensor budgets, double alpha) {
        return select(bottomUp, instruction, layout, budgets, alpha, true, Backend.NATIVE);
    }

    /**
     * @param bottomUp    [N] per-token scores (float32 / float16 / bfloat16, contiguous)
     * @param instruction [N] per-token scores of the same dtype and device, or null (then alpha must be 0)
     * @param layout      the tiles; N = layout.numTokens()
     * @param budgets     int64 [tiles] tokens to keep per tile (>= 0), on the device of the scores
     * @param alpha       weight of the instruction scores, in [0, 1]
     * @param normalize   min-max normalise each tile's scores first
     */
    public static Result select(Tensor bottomUp, Tensor instruction, TileLayout layout, Tensor budgets, double alpha,
                                boolean normalize, Backend backend) {
        Args.notNull(layout, "layout");
        Args.notNull(backend, "backend");
        Args.rank(bottomUp, "bottomUp", 1, "[tokens]");
        Args.floating(bottomUp, "bottomUp");
        Args.supportedDevice(bottomUp, "bottomUp");
        Args.size(bottomUp, "bottomUp", 0, layout.numTokens(), "tokens of the layout");
        Args.contiguous(bottomUp, "bottomUp");
        if (instruction != null) {
            Args.rank(instruction, "instruction", 1, "[tokens]");
            Args.sameDtype(bottomUp, "bottomUp", instruction, "instruction");
            Args.sameDevice(bottomUp, "bottomUp", instruction, "instruction");
            Args.size(instruction, "instruction", 0, layout.numTokens(), "tokens of the layout");
            Args.contiguous(instruction, "instruction");
        }
        Args.inRange(alpha, "alpha", 0.0, 1.0, true);
        if (instruction == null && alpha != 0.0) {
            throw Args.error("instruction", "be given when alpha != 0 (alpha = " + alpha + ")", "null");
        }
        Args.rank(budgets, "budgets", 1, "[tiles]");
        Args.dtype(budgets, "budgets", ScalarType.Long);
        Args.sameDevice(bottomUp, "bottomUp", budgets, "budgets");
        Args.size(budgets, "budgets", 0, layout.numTiles(), "tiles of the layout");
        Args.contiguous(budgets, "budgets");
        return backend == Backend.NATIVE
                ? nativeKernel(bottomUp, instruction, layout, budgets, (float) alpha, normalize)
                : composition(bottomUp, instruction, layout, budgets, alpha, normalize);
    }

    private static Result nativeKernel(Tensor b, Tensor c, TileLayout layout, Tensor budgets, float alpha,
                                      boolean normalize) {
        NativeLibrary.load();
        Exec at = Exec.of(b, "bottomUp");
        Device device = Tensors.deviceOf(b);
        long n = layout.numTokens(), tiles = layout.numTiles();
        Tensor fused = Tensors.output(ScalarType.Float, device, n);
        Tensor keptPerTile = Tensors.output(ScalarType.Long, device, tiles);
        try (OpScope scope = new OpScope()) {
            Tensor kept = Tensors.output(ScalarType.Long, device, n);
            int d = at.device(), dtype = Tensors.vtDtype(Tensors.scalarType(b));
            // vt_fused_topk_params: alpha (float), normalize (int32).
            NativeViews v = NativeViews.get(7).putFloat(0, alpha).putInt(4, normalize ? 1 : 0);
            NativeLibrary.check(VtNative.vt_fused_topk(at.stream(), v.view(0, Tensors.address(b), dtype, d, n),
                    c == null ? 0L : v.view(1, Tensors.address(c), dtype, d, n),
                    v.view(2, Tensors.address(layout.offsetsOn(device)[1]), VtNative.VT_INT64, d, tiles + 1),
                    v.view(3, Tensors.address(budgets), VtNative.VT_INT64, d, tiles),
                    v.view(4, Tensors.address(fused), VtNative.VT_FLOAT32, d, n),
                    v.view(5, Tensors.address(kept), VtNative.VT_INT64, d, n),
                    v.view(6, Tensors.address(keptPerTile), VtNative.VT_INT64, d, tiles), v.params()));
            long total = at.isCpu() ? hostSum(keptPerTile, tiles) : deviceTotal(keptPerTile);
            return new Result(scope.keep(kept.narrow(0, 0, total)), keptPerTile, fused);
        }
    }

    /** Sum of a CPU int64 vector read in place (no LibTorch dispatch). */
    private static long hostSum(Tensor t, long count) {
        LongBuffer values = new LongPointer(t.data_ptr()).capacity(count).asBuffer();
        long total = 0;
        for (int i = 0; i < count; i++) total += values.get(i);
        return total;
    }

    /** The CUDA kernel flags a tile with non-finite scores by a count of -1: check, then total. */
    private static long deviceTotal(Tensor keptPerTile) {
        if (keptPerTile.numel() == 0) return 0;
        if (keptPerTile.min().item_long() < 0) {
            throw new VtpruneException(VtpruneException.Status.INVALID_ARGUMENT, "vt_fused_topk: argument "
                    + "'bottomUp' or 'instruction' holds a NaN or infinite score, or 'budgets' a negative budget, in tile "
                    + keptPerTile.lt(new Scalar(0)).nonzero().flatten().select(0, 0).item_long());
        }
        return keptPerTile.sum().item_long();
    }

    /** Tile by tile with LibTorch ops: normalise, fuse, stable descending sort, sort the kept. */
    private static Result composition(Tensor b, Tensor c, TileLayout layout, Tensor budgets, double alpha,
                                      boolean normalize) {
        if (!b.isfinite().all().item_bool()) throw Args.error("bottomUp", "hold finite values only", "NaN or infinity");
        if (c != null && !c.isfinite().all().item_bool()) {
            throw Args.error("instruction", "hold finite values only", "NaN or infinity");
        }
        long[] k = Tensors.toLongs(budgets);
        Device device = Tensors.deviceOf(b);
        try (OpScope scope = new OpScope()) {
            TensorVector kept = new TensorVector(), fused = new TensorVector();
            long[] counts = new long[layout.numTiles()];
            for (int t = 0; t < layout.numTiles(); t++) {
                if (k[t] < 0) throw Args.error("budgets[" + t + "]", "be >= 0", k[t]);
                long off = layout.tokenOffset(t), n = layout.tokens(t);
                Tensor f = fuse(b.narrow(0, off, n).to(ScalarType.Float),
                        c == null ? null : c.narrow(0, off, n).to(ScalarType.Float), alpha, normalize);
                fused.push_back(f);
                counts[t] = Math.min(k[t], n);
                if (counts[t] > 0) {
                    Tensor top = torch.argsort(f, true, 0, true).narrow(0, 0, counts[t]);
                    kept.push_back(top.sort(0, false).get0().add(new Scalar(off)));
                }
            }
            Tensor keptAll = kept.size() == 0 ? Tensors.empty(ScalarType.Long, device, 0) : torch.cat(kept);
            Tensor fusedAll = fused.size() == 0 ? Tensors.empty(ScalarType.Float, device, 0) : torch.cat(fused);
            return new Result(scope.keep(keptAll), scope.keep(Tensors.longs(device, counts)), scope.keep(fusedAll));
        }
    }

    private static Tensor fuse(Tensor b, Tensor c, double alpha, boolean normalize) {
        Tensor nb = normalize ? minMax(b) : b;
        Tensor f = nb.mul(new Scalar(1.0 - alpha));
        if (c != null) f = f.add(normalize ? minMax(c).mul(new Scalar(alpha)) : c.mul(new Scalar(alpha)));
        return f;
    }

    private static Tensor minMax(Tensor x) {
        if (x.numel() == 0) return x;
        double lo = x.min().item_double(), hi = x.max().item_double();
        float range = (float) hi - (float) lo;
        return range > 1e-12f ? x.sub(new Scalar(lo)).div(new Scalar(range)) : torch.zeros_like(x);
    }
}
