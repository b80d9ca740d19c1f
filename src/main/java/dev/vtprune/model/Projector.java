package dev.vtprune.model;

import dev.vtprune.model.ParamSpec.Init;
import dev.vtprune.internal.Args;
import dev.vtprune.internal.Tensors;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * Vision-to-LM projector, inference only.
 * <ul>
 * <li>InternVL: {@link #pixelShuffle} with m = 2 (InternVL's {@code pixel_shuffle(x, 0.5)},
 *     ps_version v2), then {@code mlp1} = LayerNorm(m²C, eps 1e-5) → Linear → GELU → Linear.</li>
 * <li>LLaVA: {@code multi_modal_projector} = Linear → GELU → Linear on each patch.</li>
 * </ul>
 */
public final class Projector extends WeightOwner {
    static final String PREFIX = "projector.";
    private static final double NORM_EPS = 1e-5;  // torch.nn.LayerNorm's default, as mlp1.0 uses

    private final ModelConfig config;
    private final LayerNorm norm;
    private final Mlp mlp;

    Projector(ModelConfig config, Params params) {
        super("Projector", params);
        this.config = config;
        norm = config.projector().layerNorm() ? LayerNorm.of(params, PREFIX + "norm", NORM_EPS) : null;
        mlp = new Mlp(Linear.of(params, PREFIX + "fc1", true), Activation.GELU,
                Linear.of(params, PREFIX + "fc2", true));
    }

    static List<ParamSpec> params(ModelConfig config) {
        ModelConfig.Projector p = config.projector();
        int merged = config.vision().hidden() * config.vision().merge() * config.vision().merge();
        if (p.in() != merged) {
            throw new IllegalArgumentException("model config '" + config.name()
                    + "': projector.in must be vision hidden * merge^2 = " + merged + ", got " + p.in());
        }
        List<ParamSpec> s = new ArrayList<>();
        if (p.layerNorm()) {
            s.add(spec(PREFIX + "norm.weight", Init.NORM_WEIGHT, p.in()));
            s.add(spec(PREFIX + "norm.bias", Init.NORM_BIAS, p.in()));
        }
        s.add(spec(PREFIX + "fc1.weight", Init.LINEAR, p.hidden(), p.in()));
        s.add(spec(PREFIX + "fc1.bias", Init.BIAS, p.hidden()));
        s.add(spec(PREFIX + "fc2.weight", Init.LINEAR, p.out(), p.hidden()));
        s.add(spec(PREFIX + "fc2.bias", Init.BIAS, p.out()));
        return s;
    }

    private static ParamSpec spec(String name, Init init, long... shape) {
        return new ParamSpec(name, shape, init, "projector", -1);
    }

    /**
     * @param patches [T, P, visionHidden] final-layer patch states without CLS
     *                ({@link VisionOutput#patches()}), P = g * g
     * @return [T, tokensPerTile, lmHidden] visual tokens in the model's dtype
     */
    public Tensor forward(Tensor patches) {
        closing.check();
        ModelConfig.Vision v = config.vision();
        Args.rank(patches, "patches", 3, "[tiles, patches, hidden]");
        Args.atLeast(patches.size(0), "patches.size(0) (tiles)", 1);
        Checks.shape(patches, "patches", "[tiles, patches, hidden]", patches.size(0), v.patches(), v.hidden());
        Tensor w = mlp.fc1().weight();
        try (Scope scope = Scope.noGrad()) {
            Tensor x = patches.to(w.device(), Tensors.scalarType(w));
            if (v.merge() > 1) x = pixelShuffle(x, v.merge());
            if (norm != null) x = norm.apply(x);
            return scope.keep(mlp.apply(x));
        }
    }

    /**
     * The visual tokens of the patches a group-wise pruned ViT kept ({@link VitPruning}): for
     * LLaVA each kept patch is projected; for InternVL the kept patches form whole m x m blocks,
     * so they are put back on the patch grid (zeros elsewhere), pixel-shuffled exactly as in
     * {@link #forward}, and only the merged tokens of kept blocks go on (a merged token reads its
     * own block only, so the zeros never reach a kept token).
     *
     * @param patches     [T, n, visionHidden] kept patch states ({@link VisionOutput#patches()})
     * @param keptPatches int64 [T, n] their original patch ids ({@link VisionOutput#keptPatches()})
     * @param tokens      [T][n / m^2] the merged-token ids of the kept blocks, ascending
     *                    ({@link VitPruning.Trace#tokens()})
     * @return [T, n / m^2, lmHidden] in the order of {@code tokens}
     */
    public Tensor forwardKept(Tensor patches, Tensor keptPatches, long[][] tokens) {
        closing.check();
        ModelConfig.Vision v = config.vision();
        Args.rank(patches, "patches", 3, "[tiles, kept patches, hidden]");
        long tiles = patches.size(0), n = patches.size(1);
        Args.atLeast(tiles, "patches.size(0) (tiles)", 1);
        Checks.shape(patches, "patches", "[tiles, kept patches, hidden]", tiles, n, v.hidden());
        Args.rank(keptPatches, "keptPatches", 2, "[tiles, kept patches]");
        Args.size(keptPatches, "keptPatches", 1, n, "kept patches");
        Args.notNull(tokens, "tokens");
        long units = n / ((long) v.merge() * v.merge());
        if (tokens.length != tiles || tokens[0].length != units) {
            throw Args.error("tokens", "hold " + units + " merged-token ids for each of " + tiles + " tiles",
                    tokens.length + " rows");
        }
        Tensor w = mlp.fc1().weight();
        try (Scope scope = Scope.noGrad()) {
            Tensor x = patches.to(w.device(), Tensors.scalarType(w));
            if (v.merge() > 1) {
                Tensor idx = keptPatches.to(w.device(), org.bytedeco.pytorch.global.torch.ScalarType.Long);
                Tensor grid = Tensors.zeros(Tensors.scalarType(w), w.device(), tiles, v.patches(), v.hidden());
                grid.scatter_(1, idx.unsqueeze(2).expand(tiles, n, v.hidden()), x);
                Tensor merged = pixelShuffle(grid, v.merge());
                long[] flat = new long[(int) (tiles * units)];
                for (int t = 0; t < tiles; t++) System.arraycopy(tokens[t], 0, flat, (int) (t * units), (int) units);
                Tensor ti = Tensor.create(flat, tiles, units).to(w.device(),
                        org.bytedeco.pytorch.global.torch.ScalarType.Long);
                x = merged.gather(1, ti.unsqueeze(2).expand(tiles, units, merged.size(2)));
            }
            if (norm != null) x = norm.apply(x);
            return scope.keep(mlp.apply(x));
        }
    }

    /**
     * InternVL's {@code pixel_shuffle(x, scale_factor = 1/m)} with ps_version v2, on patch states
     * in row-major grid order: with x viewed as [T, g, g, C] ({@code x[t, i, j]} = patch at row i,
     * column j), {@code view(T, g, g/m, mC)}, {@code permute(0, 2, 1, 3)},
     * {@code view(T, g/m, g/m, m²C)}, {@code permute(0, 2, 1, 3)}, flattened to [T, (g/m)², m²C].
     * Hence merged token {@code p * (g/m) + q} holds patches {@code (m p + a, m q + b)},
     * {@code a, b < m}, with channels ordered (a, b, C): channel {@code (a m + b) C + c} is channel
     * c of patch {@code (m p + a, m q + b)}. This is the token order that
     * {@code ClsSaliency}'s patch pooling assumes (design §3 K5).
     *
     * @param patches [T, g * g, C]
     * @param merge   m, dividing g
     * @return [T, (g/m)², m² C], contiguous
     */
    public static Tensor pixelShuffle(Tensor patches, int merge) {
        Args.rank(patches, "patches", 3, "[tiles, patches, channels]");
        if (merge < 1) throw Args.error("merge", "be >= 1", merge);
        long tiles = patches.size(0), c = patches.size(2), g = Math.round(Math.sqrt(patches.size(1)));
        if (g * g != patches.size(1)) {
            throw Args.error("patches", "hold a square patch grid on axis 1", Tensors.describe(patches));
        }
        if (g % merge != 0) throw Args.error("merge", "divide the patch grid side " + g, merge);
        long s = g / merge;
        try (Scope scope = new Scope()) {
            Tensor x = patches.reshape(tiles, g, s, merge * c)      // [T, i, q, (b, C)]
                    .permute(0, 2, 1, 3)                               // [T, q, i, (b, C)]
                    .reshape(tiles, s, s, merge * merge * c)           // [T, q, p, (a, b, C)]
                    .permute(0, 2, 1, 3)                               // [T, p, q, (a, b, C)]
                    .reshape(tiles, s * s, merge * merge * c);
            return scope.keep(x.contiguous());
        }
    }
}
