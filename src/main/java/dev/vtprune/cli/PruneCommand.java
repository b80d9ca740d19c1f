package dev.vtprune.cli;

import dev.vtprune.ops.Backend;
import dev.vtprune.ops.Reduce;
import dev.vtprune.ops.RegionBudget;
import dev.vtprune.ops.TextLayout;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.ops.Tensors;
import dev.vtprune.prune.PruneInputs;
import dev.vtprune.prune.Pruners;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.Selection;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
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

    @Option(names = "--ratio", defaultValue = "0.5", description = "Fraction of tokens dropped, in [0, 1). Default: ${DEFAULT-VALUE}.")
    double ratio;

    @Option(names = "--alpha", defaultValue = "0.5", description = "PTP weight of the instruction scores, in [0, 1]. Default: ${DEFAULT-VALUE}.")
    double alpha;

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
        if (!(ratio >= 0 && ratio < 1)) throw new IllegalArgumentException("argument '--ratio' must be in [0, 1), got " + ratio);
        if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("argument '--alpha' must be in [0, 1], got " + alpha);
        if (merge < 1) throw new IllegalArgumentException("argument '--patch-merge' must be >= 1, got " + merge);
        if (!List.of("ptp", "cls-topk", "random", "spatial", "fastv").contains(method)) {
            throw new IllegalArgumentException("argument '--method' must be one of ptp, cls-topk, random, spatial, fastv, got '"
                    + method + "'");
        }
        PyramidTokenPruner.Config config = new PyramidTokenPruner.Config(ratio, alpha, 11, 1,
                reduce(headReduce, "--head-reduce"), reduce(textReduce, "--text-reduce"), temperature, minPerTile,
                backend(backend));
        try (PointerScope scope = new PointerScope(); InputFile in = InputFile.open(input)) {
            Tensor vit = in.floating("vit_attn", 3, "[T+1, heads, patches]");
            long tiles = vit.size(0), rowLen = vit.size(2);
            if (tiles < 1) throw in.error("vit_attn", "must hold at least the thumbnail's row (T+1 >= 1)", in.shapeOf(vit));
            boolean withCls = !isSquare(rowLen) && isSquare(rowLen - 1);
            long grid = Math.round(Math.sqrt(withCls ? rowLen - 1 : rowLen));
            if (grid * grid != (withCls ? rowLen - 1 : rowLen) || grid == 0) {
                throw in.error("vit_attn", "must have g*g (or 1 + g*g) entries per row (a square patch grid)", in.shapeOf(vit));
            }
            if (grid % merge != 0) {
                throw new IllegalArgumentException("argument '--patch-merge' (" + merge + ") must divide the patch grid side "
                        + grid + " of vit_attn");
            }
            long tokens = (grid / merge) * (grid / merge);
            long[] perTile = new long[(int) tiles];
            Arrays.fill(perTile, tokens);
            try (TileLayout layout = TileLayout.of(new long[] {tiles}, perTile)) {
                PruneInputs.Builder inputs = PruneInputs.builder(layout).vitAttention(vit, withCls).patchMerge(merge);
                Tensor cls = cls(in, tiles - 1);
                if (cls != null) inputs.tileCls(cls);
                TextLayout text = instruction(in, inputs, layout.numTokens());
                try {
                    Selection s = Pruners.byName(method, config, seed).select(inputs.build());
                    RegionBudget.Result regions = s.regionScores() != null || cls == null ? null
                            : RegionBudget.compute(cls, layout, RegionBudget.Params.ratio(ratio));
                    Tensor scores = s.regionScores() != null ? s.regionScores() : regions == null ? null : regions.scores();
                    Tensor weights = s.regionWeights() != null ? s.regionWeights() : regions == null ? null : regions.weights();
                    int local = (int) tiles - 1;
                    JsonOut json = new JsonOut()
                            .put("kept", s.keptIndices())
                            .put("budgets", Tensors.toLongs(s.budgets() != null ? s.budgets() : s.keptPerTile()))
                            .put("region_scores", scores == null ? new double[0] : Arrays.copyOf(Tensors.toDoubles(scores), local))
                            .put("region_weights", weights == null ? new double[0] : Arrays.copyOf(Tensors.toDoubles(weights), local));
                    main.spec.commandLine().getOut().println(json);
                } finally {
                    if (text != null) text.close();
                }
            }
        }
        return 0;
    }

    /** [T+1, D]: tile_cls rows then global_cls, or null when the file has neither. */
    private static Tensor cls(InputFile in, long local) {
        if (!in.has("global_cls") && !in.has("tile_cls")) return null;
        Tensor global = in.floating("global_cls", 1, "[D]");
        if (local == 0 && !in.has("tile_cls")) return global.unsqueeze(0);
        Tensor tileCls = in.floating("tile_cls", 2, "[T, D]");
        if (tileCls.size(0) != local || tileCls.size(1) != global.size(0)) {
            throw in.error("tile_cls", "must be [" + local + ", " + global.size(0) + "] (T local tiles from vit_attn, D from global_cls)",
                    in.shapeOf(tileCls));
        }
        if (Tensors.scalarType(tileCls) != Tensors.scalarType(global)) {
            throw in.error("tile_cls", "must have the dtype of global_cls (" + Tensors.dtypeName(Tensors.scalarType(global)) + ")",
                    Tensors.describe(tileCls));
        }
        return torch.cat(new TensorVector(tileCls, global.unsqueeze(0)));
    }

    /** Adds llm_attn or llm_q/llm_k (+ positions) to the inputs; returns the layout to close, if any. */
    private static TextLayout instruction(InputFile in, PruneInputs.Builder inputs, long visual) {
        if (in.has("llm_attn")) {
            Tensor attn = in.floating("llm_attn", 3, "[heads, queries, N]");
            if (attn.size(2) != visual) {
                throw in.error("llm_attn", "must have N = " + visual + " visual columns ((T+1) x tokens per tile; check --patch-merge)",
                        in.shapeOf(attn));
            }
            inputs.lmAttention(List.of(attn));
            return null;
        }
        if (!in.has("llm_q") && !in.has("llm_k")) return null;
        Tensor q = in.floating("llm_q", 3, "[Hq, Q, d]");
        Tensor k = in.floating("llm_k", 3, "[Hkv, L, d]");
        long[] queryPos = Tensors.toLongs(in.integers("query_pos", 1, "[Q]"));
        long[] visualPos = Tensors.toLongs(in.integers("visual_pos", 1, "[N]"));
        if (queryPos.length != q.size(1)) throw in.error("query_pos", "must have one entry per query of llm_q (" + q.size(1) + ")", queryPos.length + " entries");
        if (visualPos.length != visual) {
            throw in.error("visual_pos", "must have N = " + visual + " entries ((T+1) x tokens per tile; check --patch-merge)",
                    visualPos.length + " entries");
        }
        TextLayout text = TextLayout.single(k.size(1), queryPos, visualPos);
        inputs.lmQk(q, k, text, Double.NaN);
        return text;
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
