package dev.vtprune.ops;

import dev.vtprune.internal.Closing;
import dev.vtprune.internal.OpScope;
import dev.vtprune.internal.Tensors;
import dev.vtprune.internal.Args;
import dev.vtprune.nativelib.VtNative;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * K1 — region scoring and token budgets (design §3 K1, PTP eq. 1–2).
 *
 * <p>For every image: the cosine similarity of each local tile's CLS embedding with the
 * thumbnail's, a softmax over the local tiles, and integer token budgets: the thumbnail keeps
 * {@code floor(keep * n_g + 0.5)}, the local tiles share {@code K_L = floor(keep * N_L + 0.5)}
 * in proportion to the softmax weights, capped at each tile's size, with the remainder going to
 * the largest fractional parts (ties to the lower tile). Budgets sum to K_L exactly.
 */
public final class RegionBudget {
    private RegionBudget() {}

    /**
     * @param pruneRatio  r, the fraction of visual tokens dropped, in [0, 1]; keep = 1 - r
     * @param temperature of the region softmax, > 0 (1 = the paper's form)
     * @param minPerTile  tokens reserved for every local tile before the proportional split
     *                    (lowered to floor(K_L / T) when the reservation would exceed K_L)
     */
    public record Params(double pruneRatio, double temperature, long minPerTile) {
        public static final Params PAPER = new Params(0.5, 1.0, 0);

        public Params {
            Args.inRange(pruneRatio, "pruneRatio", 0.0, 1.0, true);
            if (!(temperature > 0.0) || Double.isInfinite(temperature)) {
                throw Args.error("temperature", "be finite and > 0", temperature);
            }
            Args.atLeast(minPerTile, "minPerTile", 0);
        }

        public static Params ratio(double pruneRatio) {
            return new Params(pruneRatio, 1.0, 0);
        }

        double keep() {
            return 1.0 - pruneRatio;
        }
    }

    /**
     * Per tile of the layout (thumbnails included, in tile order), on the device of the CLS input.
     *
     * @param scores  float32 cosine of each local tile with its thumbnail; 1 for thumbnails
     * @param weights float32 softmax weight of each local tile; 0 for thumbnails
     * @param budgets int64 tokens to keep per tile
     */
    public static final class Result implements AutoCloseable {
        private final Closing closing = new Closing("RegionBudget.Result");
        private final Tensor scores, weights, budgets;

        Result(Tensor scores, Tensor weights, Tensor budgets) {
            this.scores = scores;
            this.weights = weights;
            this.budgets = budgets;
        }

        public Tensor scores() {
            closing.check();
            return scores;
        }

        public Tensor weights() {
            closing.check();
            return weights;
        }

        public Tensor budgets() {
            closing.check();
            return budgets;
        }

        /** Frees the tensors; a second call does nothing. */
        @Override
        public void close() {
            if (!closing.close()) return;
            Tensors.closeAll(scores, weights, budgets);
        }
    }

    /** The native kernel. */
    public static Result compute(Tensor cls, TileLayout layout, Params params) {
        return compute(cls, layout, params, Backend.NATIVE);
    }

    /**
     * @param cls [tiles, dim] CLS embedding of every tile of the layout (each image's thumbnail
     *            last), float32 / float16 / bfloat16, contiguous, on the CPU or a CUDA device
     */
    public static Result compute(Tensor cls, TileLayout layout, Params params, Backend backend) {
        Args.notNull(layout, "layout");
        Args.notNull(params, "params");
        Args.notNull(backend, "backend");
        Args.rank(cls, "cls", 2, "[tiles, dim]");
        Args.floating(cls, "cls");
        Args.supportedDevice(cls, "cls");
        Args.size(cls, "cls", 0, layout.numTiles(), "tiles of the layout");
        Args.atLeast(cls.size(1), "cls.size(1) (dim)", 1);
        Args.contiguous(cls, "cls");
        return backend == Backend.NATIVE ? nativeKernel(cls, layout, params) : composition(cls, layout, params);
    }

    private static Result nativeKernel(Tensor cls, TileLayout layout, Params p) {
        NativeLibrary.load();
        Exec at = Exec.of(cls, "cls");
        Device device = Tensors.deviceOf(cls);
        long tiles = layout.numTiles();
        Tensor scores = Tensors.output(ScalarType.Float, device, tiles);
        Tensor weights = Tensors.output(ScalarType.Float, device, tiles);
        Tensor budgets = Tensors.output(ScalarType.Long, device, tiles);
        Tensor[] offsets = layout.offsetsOn(device);
        int d = at.device();
        // vt_region_budget_params: keep_ratio, temperature (doubles), min_per_tile (int64).
        NativeViews v = NativeViews.get(6).putDouble(0, p.keep()).putDouble(8, p.temperature()).putLong(16, p.minPerTile());
        NativeLibrary.check(VtNative.vt_region_budget(at.stream(),
                v.view(0, Tensors.address(cls), Tensors.vtDtype(Tensors.scalarType(cls)), d, tiles, cls.size(1)),
                v.view(1, Tensors.address(offsets[0]), VtNative.VT_INT64, d, layout.numImages() + 1L),
                v.view(2, Tensors.address(offsets[1]), VtNative.VT_INT64, d, tiles + 1),
                v.view(3, Tensors.address(scores), VtNative.VT_FLOAT32, d, tiles),
                v.view(4, Tensors.address(weights), VtNative.VT_FLOAT32, d, tiles),
                v.view(5, Tensors.address(budgets), VtNative.VT_INT64, d, tiles), v.params()));
        Result out = new Result(scores, weights, budgets);
        if (!at.isCpu()) rejectNonFinite(out, layout);  // the CPU kernel has already failed the call
        return out;
    }

    /**
     * NaN / Inf in the CLS rows is the CPU kernel's VT_ERR_INVALID_ARGUMENT. The CUDA kernel
     * cannot fail the call (it returns before the work runs; vtprune.h) and the composition
     * has no such check: both leave a NaN cosine score on each affected local tile. This reads
     * the scores (a device sync on CUDA, the cost FiniteAttention pays for K4 / K5) and throws
     * the CPU's exception, word for word, for the lowest such tile.
     */
    static void rejectNonFinite(Result out, TileLayout layout) {
        long tile;
        try (OpScope scope = new OpScope()) {
            Tensor bad = out.scores().isfinite().logical_not();
            if (!bad.any().item_bool()) return;
            tile = bad.nonzero().flatten().select(0, 0).item_long();
        }
        int image = 0;
        while (layout.thumbnail(image) < tile) image++;
        out.close();
        throw new VtpruneException(VtpruneException.Status.INVALID_ARGUMENT, String.format(
                "vt_region_budget: argument 'cls' holds NaN or infinite values (tile %d or its thumbnail %d)", tile,
                layout.thumbnail(image)));
    }

    /** The same computation as LibTorch ops a user would write, image by image (float64). */
    private static Result composition(Tensor cls, TileLayout layout, Params p) {
        Device device = Tensors.deviceOf(cls);
        try (OpScope scope = new OpScope()) {
            TensorVector scores = new TensorVector(), weights = new TensorVector(), budgets = new TensorVector();
            Tensor x = cls.to(ScalarType.Double);
            for (int b = 0; b < layout.numImages(); b++) {
                int first = layout.firstTile(b), local = layout.localTiles(b), thumb = layout.thumbnail(b);
                long[] n = new long[local];
                for (int t = 0; t < local; t++) n[t] = layout.tokens(first + t);
                Tensor thumbBudget = Tensors.longs(device, Math.round(Math.floor(p.keep() * layout.tokens(thumb) + 0.5)));
                if (local > 0) {
                    Tensor s = torch.cosine_similarity(x.narrow(0, first, local), x.narrow(0, thumb, 1), 1, 1e-8);
                    Tensor w = s.div(new Scalar(p.temperature())).softmax(0);
                    scores.push_back(s.to(ScalarType.Float));
                    weights.push_back(w.to(ScalarType.Float));
                    budgets.push_back(splitBudgets(w, n, p, device));
                }
                scores.push_back(Tensors.full(ScalarType.Float, device, 1.0, 1));
                weights.push_back(Tensors.zeros(ScalarType.Float, device, 1));
                budgets.push_back(thumbBudget);
            }
            Result out = new Result(scope.keep(torch.cat(scores)), scope.keep(torch.cat(weights)), scope.keep(torch.cat(budgets)));
            rejectNonFinite(out, layout);
            return out;
        }
    }

    /** Capped proportional split of K_L over the local tiles with masks and a sort. */
    private static Tensor splitBudgets(Tensor w, long[] n, Params p, Device device) {
        long tokens = 0;
        for (long v : n) tokens += v;
        long kLocal = (long) Math.floor(p.keep() * tokens + 0.5);
        long reserve = Math.min(p.minPerTile(), kLocal / n.length);
        Tensor count = Tensors.longs(device, n);
        Tensor reserved = count.clamp_max(new Scalar(reserve));
        Tensor cap = count.sub(reserved).to(ScalarType.Double);
        double remaining = kLocal - reserved.sum().item_long();
        Tensor capped = cap.le(new Scalar(0.0));
        Tensor x = torch.zeros_like(w);
        while (true) {
            Tensor active = capped.logical_not();
            long activeCount = active.sum().item_long();
            if (activeCount == 0) break;
            Tensor wa = w.mul(active);
            double wSum = wa.sum().item_double();
            x = wSum > 0 ? wa.div(new Scalar(wSum)).mul(new Scalar(remaining))
                         : active.to(ScalarType.Double).mul(new Scalar(remaining / activeCount));
            Tensor newCap = active.logical_and(x.ge(cap));
            if (!newCap.any().item_bool()) break;
            remaining -= cap.mul(newCap).sum().item_double();
            capped = capped.logical_or(newCap);
        }
        Tensor active = capped.logical_not();
        Tensor floor = x.floor().mul(active);
        long rest = Math.round(remaining - floor.sum().item_double());
        Tensor budget = torch.where(capped, cap, floor);
        if (rest > 0) {  // one more token to each of the `rest` largest fractional parts
            Tensor frac = torch.where(active, x.sub(x.floor()), new Scalar(-1.0));
            long give = Math.min(rest, n.length);
            Tensor order = torch.argsort(frac, true, 0, true).narrow(0, 0, give);
            budget = budget.index_add(0, order, Tensors.full(ScalarType.Double, device, 1.0, give));
        }
        return budget.to(ScalarType.Long).add(reserved);
    }
}
