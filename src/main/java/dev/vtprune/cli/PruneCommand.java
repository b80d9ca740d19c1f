package dev.vtprune.cli;

import dev.vtprune.ops.Backend;
import dev.vtprune.ops.Reduce;
import dev.vtprune.ops.RegionBudget;
import dev.vtprune.ops.TextLayout;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import dev.vtprune.prune.PruneInputs;
import dev.vtprune.prune.Pruners;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.Selection;
import dev.vtprune.prune.TokenPruner;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vtprune prune}: selects the visual tokens of one image from tensors dumped to a
 * safetensors file (design §6):
 * <pre>
 *   tile_cls   [T, D]        CLS embedding of each local tile (T may be 0)
 *   global_cls [D]           CLS embedding of the thumbnail (the whole image)
 *   vit_attn   [T+1, H, P]   CLS-to-patch attention rows of the chosen ViT layer per tile,
 *                            thumbnail last (P = g*g patches; a row of 1 + g*g entries is
 *                            taken to start with the CLS column)
 *   llm_attn   [H, Q, N]     instruction rows restricted to the N visual columns, softmaxed
 *                            over all keys — or, instead:
 *   llm_q [Hq, Q, d], llm_k [Hkv, L, d], query_pos int64 [Q], visual_pos int64 [N]
 * </pre>
 * N = (T+1) (g/m)^2 with m = --patch-merge. Output: kept (ascending global indices), budgets
 * (per tile, thumbnail last), region_scores and region_weights (per local tile).
 */
@Command(name = "prune", mixinStandardHelpOptions = true,
        description = "Select the visual tokens of one image from tensors in a safetensors file (JSON out).")
final class PruneCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--input", required = true, paramLabel = "F.safetensors", description = "The input tensors.")
    Path input;

    @Option(names = "--method", defaultValue = "ptp",
            description = "ptp, cls-topk, random, spatial (or fastv, from llm_q/llm_k). Default: ${DEFAULT-VALUE}.")
    String method;

    @Mixin
    final PtpOptions ptp = new PtpOptions();

    @Option(names = "--patch-merge", defaultValue = "1", description = "m: m x m patches form one token. Default: ${DEFAULT-VALUE}.")
    int merge;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the random method. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--head-reduce", defaultValue = "mean", description = "mean or max over heads. Default: ${DEFAULT-VALUE}.")
    String headReduce;

    @Option(names = "--text-reduce", defaultValue = "max", description = "max or mean over instruction tokens. Default: ${DEFAULT-VALUE}.")
    String textReduce;

    @Option(names = "--temperature", defaultValue = "1.0", description = "Region softmax temperature. Default: ${DEFAULT-VALUE}.")
    double temperature;

    @Option(names = "--min-per-tile", defaultValue = "0", description = "Tokens reserved per local tile. Default: ${DEFAULT-VALUE}.")
    long minPerTile;

    @Option(names = "--backend", defaultValue = "native",
            description = "native (our kernels) or libtorch (the same math as LibTorch ops). Default: ${DEFAULT-VALUE}.")
    String backend;

    @Override
    public Integer call() {
        main.setUp();
        ptp.check();
        if (merge < 1) throw new IllegalArgumentException("argument '--patch-merge' must be >= 1, got " + merge);
        if (!Pruners.NAMES.contains(method)) {
            throw new IllegalArgumentException("argument '--method' must be one of " + String.join(", ", Pruners.NAMES) + ", got '"
                    + method + "'");
        }
        if (!(temperature > 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("argument '--temperature' must be finite and > 0, got " + temperature);
        }
        if (minPerTile < 0) throw new IllegalArgumentException("argument '--min-per-tile' must be >= 0, got " + minPerTile);
        PyramidTokenPruner.Config config = new PyramidTokenPruner.Config(ptp.ratio, ptp.alpha, 11, 1,
                reduce(headReduce, "--head-reduce"), reduce(textReduce, "--text-reduce"), temperature, minPerTile,
                backend(backend));
        try (PointerScope scope = new PointerScope(); InputFile in = InputFile.open(input)) {
            // Every shape is checked from the header before any tensor is read.
            long[] vs = in.shape("vit_attn", 3, "[T+1, heads, patches]");
            in.atLeast("vit_attn", vs, 0, 1, "T+1 rows (the thumbnail's at least)");
            in.atLeast("vit_attn", vs, 1, 1, "heads");
            long tiles = vs[0], rowLen = vs[2];
            boolean withCls = !isSquare(rowLen) && isSquare(rowLen - 1);
            long grid = Math.round(Math.sqrt(withCls ? rowLen - 1 : rowLen));
            if (grid * grid != (withCls ? rowLen - 1 : rowLen) || grid == 0) {
                throw in.error("vit_attn", "must have g*g (or 1 + g*g) entries per row (a square patch grid)", Arrays.toString(vs));
            }
            if (grid % merge != 0) {
                throw new IllegalArgumentException("argument '--patch-merge' (" + merge + ") must divide the patch grid side "
                        + grid + " of vit_attn");
            }
            long tokens = (grid / merge) * (grid / merge);
            checkMinPerTile(tiles - 1, tokens);
            Instruction instruction = Instruction.check(in, tiles * tokens);
            if (instruction == null && method.equals("ptp") && ptp.alpha > 0) {
                throw new IllegalArgumentException("argument '--alpha' (" + ptp.alpha + ") needs the instruction attention: tensor "
                        + "'llm_attn', or 'llm_q', 'llm_k', 'query_pos' and 'visual_pos', in " + input + " (or --alpha 0)");
            }
            if (method.equals("fastv") && (instruction == null || !instruction.qk)) {
                throw new IllegalArgumentException("argument '--method fastv' needs tensors 'llm_q', 'llm_k', 'query_pos' and "
                        + "'visual_pos' in " + input);
            }
            long[] perTile = new long[(int) tiles];
            Arrays.fill(perTile, tokens);
            try (TileLayout layout = TileLayout.of(new long[] {tiles}, perTile)) {
                PruneInputs.Builder inputs = PruneInputs.builder(layout).patchMerge(merge)
                        .vitAttention(in.probabilities("vit_attn", 3, "[T+1, heads, patches]"), withCls);
                Tensor cls = cls(in, tiles - 1);
                if (cls != null) inputs.tileCls(cls);
                try (TextLayout text = instruction == null ? null : instruction.load(in, inputs)) {
                    Selection s = select(Pruners.byName(method, config, seed), inputs.build());
                    RegionBudget.Result regions = s.regionScores() != null || cls == null ? null
                            : RegionBudget.compute(cls, layout, RegionBudget.Params.ratio(ptp.ratio));
                    Tensor scores = s.regionScores() != null ? s.regionScores() : regions == null ? null : regions.scores();
                    Tensor weights = s.regionWeights() != null ? s.regionWeights() : regions == null ? null : regions.weights();
                    int local = (int) tiles - 1;
                    JsonOut json = new JsonOut()
                            .put("kept", s.keptIndices())
                            .put("budgets", Tensors.toLongs(s.budgets() != null ? s.budgets() : s.keptPerTile()))
                            .put("region_scores", scores == null ? new double[0] : Arrays.copyOf(Tensors.toDoubles(scores), local))
                            .put("region_weights", weights == null ? new double[0] : Arrays.copyOf(Tensors.toDoubles(weights), local));
                    main.spec.commandLine().getOut().println(json);
                }
            }
        }
        return 0;
    }

    /** The selection, with the API's argument names in its errors turned into this command's flags. */
    private static Selection select(TokenPruner pruner, PruneInputs inputs) {
        try {
            return pruner.select(inputs);
        } catch (IllegalArgumentException e) {
            throw Main.renamed(e, "argument 'ratio'", "argument '--ratio'");
        }
    }

    /**
     * --min-per-tile is a reservation K1 would silently lower when it cannot be met (to what the
     * ratio leaves per local tile, and to the tile's size): here that is an error instead.
     */
    private void checkMinPerTile(long local, long tokens) {
        if (minPerTile == 0 || local == 0) return;
        long kLocal = (long) Math.floor((1 - ptp.ratio) * local * tokens + 0.5);
        long most = Math.min(tokens, kLocal / local);
        if (minPerTile > most) {
            throw new IllegalArgumentException("argument '--min-per-tile' must be at most " + most + " here (the " + kLocal
                    + " tokens --ratio " + ptp.ratio + " leaves the " + local + " local tiles of " + tokens + " tokens, per tile), got "
                    + minPerTile);
        }
    }

    /** [T+1, D]: tile_cls rows then global_cls, or null when the file has neither. */
    private static Tensor cls(InputFile in, long local) {
        if (!in.has("global_cls") && !in.has("tile_cls")) return null;
        long[] gs = in.shape("global_cls", 1, "[D]");
        in.atLeast("global_cls", gs, 0, 1, "D entries");
        if (local > 0 || in.has("tile_cls")) {
            long[] ts = in.shape("tile_cls", 2, "[T, D]");
            if (ts[0] != local || ts[1] != gs[0]) {
                throw in.error("tile_cls", "must be [" + local + ", " + gs[0] + "] (T local tiles from vit_attn, D from global_cls)",
                        Arrays.toString(ts));
            }
        }
        Tensor global = in.floating("global_cls", 1, "[D]");
        if (local == 0 && !in.has("tile_cls")) return global.unsqueeze(0);
        Tensor tileCls = in.floating("tile_cls", 2, "[T, D]");
        if (Tensors.scalarType(tileCls) != Tensors.scalarType(global)) {
            throw in.error("tile_cls", "must have the dtype of global_cls (" + Tensors.dtypeName(Tensors.scalarType(global)) + ")",
                    Tensors.describe(tileCls));
        }
        return torch.cat(new TensorVector(tileCls, global.unsqueeze(0)));
    }

    /** The instruction tensors of the file, checked from the header: llm_attn, or llm_q / llm_k with positions. */
    private record Instruction(boolean qk, long keys) {
        /** Null when the file has no instruction tensors. */
        static Instruction check(InputFile in, long visual) {
            if (in.has("llm_attn")) {
                long[] a = in.shape("llm_attn", 3, "[heads, queries, N]");
                in.atLeast("llm_attn", a, 0, 1, "heads");
                in.atLeast("llm_attn", a, 1, 1, "instruction queries");
                if (a[2] != visual) {
                    throw in.error("llm_attn", "must have N = " + visual + " visual columns ((T+1) x tokens per tile; check "
                            + "--patch-merge)", Arrays.toString(a));
                }
                return new Instruction(false, 0);
            }
            if (!in.has("llm_q") && !in.has("llm_k")) return null;
            long[] q = in.shape("llm_q", 3, "[Hq, Q, d]"), k = in.shape("llm_k", 3, "[Hkv, L, d]");
            in.atLeast("llm_q", q, 0, 1, "heads");
            in.atLeast("llm_q", q, 1, 1, "instruction queries");
            in.atLeast("llm_q", q, 2, 1, "head_dim");
            in.atLeast("llm_k", k, 0, 1, "kv heads");
            if (k[2] != q[2]) throw in.error("llm_k", "must have the head_dim of llm_q (" + q[2] + ") on axis 2", Arrays.toString(k));
            if (q[0] % k[0] != 0) {
                throw in.error("llm_k", "must have a number of kv heads dividing llm_q's " + q[0] + " heads", Arrays.toString(k));
            }
            long[] qp = in.shape("query_pos", 1, "[Q]"), vp = in.shape("visual_pos", 1, "[N]");
            if (qp[0] != q[1]) throw in.error("query_pos", "must have one entry per query of llm_q (" + q[1] + ")", qp[0] + " entries");
            if (vp[0] != visual) {
                throw in.error("visual_pos", "must have N = " + visual + " entries ((T+1) x tokens per tile; check --patch-merge)",
                        vp[0] + " entries");
            }
            return new Instruction(true, k[1]);
        }

        /** Loads and checks the values; returns the text layout to close (null for llm_attn). */
        TextLayout load(InputFile in, PruneInputs.Builder inputs) {
            if (!qk) {
                inputs.lmAttention(List.of(in.probabilities("llm_attn", 3, "[heads, queries, N]")));
                return null;
            }
            long[] visualPos = positions(in, "visual_pos", 0);
            long[] queryPos = positions(in, "query_pos", visualPos[visualPos.length - 1] + 1);
            Tensor q = in.floating("llm_q", 3, "[Hq, Q, d]"), k = in.floating("llm_k", 3, "[Hkv, L, d]");
            checkLogits(q, k);
            TextLayout text = TextLayout.single(keys, queryPos, visualPos);
            inputs.lmQk(q, k, text, Double.NaN);
            return text;
        }

        /** Strictly ascending positions in [from, L): visual tokens in sequence order, queries after them. */
        private long[] positions(InputFile in, String name, long from) {
            long[] p = in.integers(name, 1, "[" + (name.equals("query_pos") ? "Q" : "N") + "]");
            for (int i = 0; i < p.length; i++) {
                if (p[i] < from || p[i] >= keys) {
                    throw in.error(name, "must hold positions in [" + from + ", " + keys + ") (L = " + keys + " keys of llm_k"
                            + (from > 0 ? "; instruction queries come after the last visual token" : "") + ")",
                            name + "[" + i + "] = " + p[i]);
                }
                if (i > 0 && p[i] <= p[i - 1]) {
                    throw in.error(name, "must be strictly ascending (each token once, in sequence order)",
                            name + "[" + (i - 1) + "] = " + p[i - 1] + ", " + name + "[" + i + "] = " + p[i]);
                }
            }
            return p;
        }

        /**
         * Refuses Q/K whose logits q.k / sqrt(d) could pass half of float32's range (so that logit
         * differences stay finite too), by Cauchy-Schwarz on the largest row norms: the same
         * error on both backends, before either runs.
         */
        private static void checkLogits(Tensor q, Tensor k) {
            try (PointerScope scope = new PointerScope()) {
                double bound = Math.sqrt(maxSquaredNorm(q) * maxSquaredNorm(k)) / Math.sqrt(q.size(2));
                if (!(bound <= Float.MAX_VALUE / 2)) {
                    throw new IllegalArgumentException(String.format(Locale.ROOT, "tensors 'llm_q' and 'llm_k' must give attention "
                            + "logits q.k / sqrt(d) within float32's range, got |q| |k| / sqrt(d) up to %.3g (> %.3g); scale them down",
                            bound, Float.MAX_VALUE / 2));
                }
            }
        }

        private static double maxSquaredNorm(Tensor rows) {
            Tensor x = rows.to(ScalarType.Double);
            return x.mul(x).sum(new long[] {2}, false, new ScalarTypeOptional()).max().item_double();
        }
    }

    private static boolean isSquare(long n) {
        long r = Math.round(Math.sqrt(Math.max(n, 0)));
        return n > 0 && r * r == n;
    }

    static Reduce reduce(String value, String option) {
        switch (value.toLowerCase(Locale.ROOT)) {
            case "mean": return Reduce.MEAN;
            case "max": return Reduce.MAX;
            default: throw new IllegalArgumentException("argument '" + option + "' must be mean or max, got '" + value + "'");
        }
    }

    static Backend backend(String value) {
        switch (value.toLowerCase(Locale.ROOT)) {
            case "native": return Backend.NATIVE;
            case "libtorch": return Backend.LIBTORCH;
            default: throw new IllegalArgumentException("argument '--backend' must be native or libtorch, got '" + value + "'");
        }
    }
}
