package dev.vtprune.model;

import dev.vtprune.model.ParamSpec.Init;
import dev.vtprune.internal.Args;
import dev.vtprune.ops.Rollout;
import dev.vtprune.ops.SegmentedTopK;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The pre-norm ViT of both families, inference only, attention through SDPA (no M x M matrix).
 * <ul>
 * <li>InternViT-300M-448px (InternVL2): conv patch embedding with bias, class embedding, position
 *     embedding; per layer {@code x += ls1 * attn(norm1(x)); x += ls2 * mlp(norm2(x))}, LayerNorm
 *     eps 1e-6, exact GELU; InternVL takes the last layer's states, no final norm.</li>
 * <li>CLIP ViT-L/14-336 (LLaVA-1.5): conv without bias, {@code pre_layrnorm} before the layers, no
 *     layer scale, eps 1e-5, quick-GELU; LLaVA takes the states of layer -2, so
 *     {@code config.vision().layers()} = 23 layers are built and run.</li>
 * </ul>
 * The two differ only in these switches; q, k and v are one packed Linear in both (CLIP's
 * separate projections are concatenated at load time, q rows first).
 *
 * <p>Owns its weights ({@link #close()}). Not thread-safe to close while a forward runs;
 * concurrent forwards are fine (weights are read-only).
 */
public final class VisionEncoder extends WeightOwner {
    static final String PREFIX = "vision.";

    private final ModelConfig.Vision cfg;
    private final Tensor patchWeight, patchBias, classEmbedding, positionEmbedding;
    private final LayerNorm preNorm;
    private final Layer[] layers;

    VisionEncoder(ModelConfig config, Params params) {
        super("VisionEncoder", params);
        this.cfg = config.vision();
        double eps = eps(config);
        patchWeight = params.get(PREFIX + "patch.weight");
        patchBias = patchBias(config) ? params.get(PREFIX + "patch.bias") : null;
        classEmbedding = params.get(PREFIX + "cls");
        positionEmbedding = params.get(PREFIX + "pos");
        preNorm = cfg.preNorm() ? LayerNorm.of(params, PREFIX + "pre_norm", eps) : null;
        Activation act = cfg.quickGelu() ? Activation.QUICK_GELU : Activation.GELU;
        layers = new Layer[cfg.layers()];
        for (int i = 0; i < layers.length; i++) {
            String l = layer(i);
            layers[i] = new Layer(LayerNorm.of(params, l + "norm1", eps), Linear.of(params, l + "attn.qkv", true),
                    Linear.of(params, l + "attn.proj", true), cfg.layerScale() ? params.get(l + "ls1") : null,
                    LayerNorm.of(params, l + "norm2", eps),
                    new Mlp(Linear.of(params, l + "mlp.fc1", true), act, Linear.of(params, l + "mlp.fc2", true)),
                    cfg.layerScale() ? params.get(l + "ls2") : null, cfg.heads(), cfg.headDim());
        }
    }

    /** LayerNorm epsilon: InternViT 1e-6, CLIP 1e-5 (neither is in ModelConfig). */
    static double eps(ModelConfig config) {
        return config.family() == ModelConfig.Family.LLAVA ? 1e-5 : 1e-6;
    }

    /** InternViT's patch convolution has a bias, CLIP's has none. */
    static boolean patchBias(ModelConfig config) {
        return config.family() != ModelConfig.Family.LLAVA;
    }

    static String layer(int i) {
        return PREFIX + "layers." + i + ".";
    }

    /** The weights this encoder needs for `config`, in load order. */
    static List<ParamSpec> params(ModelConfig config) {
        ModelConfig.Vision v = config.vision();
        long h = v.hidden(), p = v.patchSize();
        List<ParamSpec> s = new ArrayList<>();
        s.add(spec(PREFIX + "patch.weight", Init.CONV, -1, h, 3, p, p));
        if (patchBias(config)) s.add(spec(PREFIX + "patch.bias", Init.BIAS, -1, h));
        s.add(spec(PREFIX + "cls", Init.EMBEDDING, -1, h));
        s.add(spec(PREFIX + "pos", Init.EMBEDDING, -1, 1 + v.patches(), h));
        if (v.preNorm()) {
            s.add(spec(PREFIX + "pre_norm.weight", Init.NORM_WEIGHT, -1, h));
            s.add(spec(PREFIX + "pre_norm.bias", Init.NORM_BIAS, -1, h));
        }
        for (int i = 0; i < v.layers(); i++) {
            String l = layer(i);
            s.add(spec(l + "norm1.weight", Init.NORM_WEIGHT, i, h));
            s.add(spec(l + "norm1.bias", Init.NORM_BIAS, i, h));
            s.add(spec(l + "attn.qkv.weight", Init.LINEAR, i, 3 * h, h));
            s.add(spec(l + "attn.qkv.bias", Init.BIAS, i, 3 * h));
            s.add(spec(l + "attn.proj.weight", Init.LINEAR, i, h, h));
            s.add(spec(l + "attn.proj.bias", Init.BIAS, i, h));
            if (v.layerScale()) s.add(spec(l + "ls1", Init.LAYER_SCALE, i, h));
            s.add(spec(l + "norm2.weight", Init.NORM_WEIGHT, i, h));
            s.add(spec(l + "norm2.bias", Init.NORM_BIAS, i, h));
            s.add(spec(l + "mlp.fc1.weight", Init.LINEAR, i, v.mlp(), h));
            s.add(spec(l + "mlp.fc1.bias", Init.BIAS, i, v.mlp()));
            s.add(spec(l + "mlp.fc2.weight", Init.LINEAR, i, h, v.mlp()));
            s.add(spec(l + "mlp.fc2.bias", Init.BIAS, i, h));
            if (v.layerScale()) s.add(spec(l + "ls2", Init.LAYER_SCALE, i, h));
        }
        return s;
    }

    private static ParamSpec spec(String name, Init init, int layer, long... shape) {
        return new ParamSpec(name, shape, init, "vision", layer);
    }

    /** Runs every layer, no probe. */
    public VisionOutput forward(Tensor pixels) {
        closing.check();
        return forward(pixels, -1);
    }

    /**
     * @param pixels     [T, 3, S, S] normalised tiles (any floating dtype; cast to the model's)
     * @param probeLayer 0-based layer whose CLS query and keys to return, -1 for none
     */
    public VisionOutput forward(Tensor pixels, int probeLayer) {
        closing.check();
        Args.rank(pixels, "pixels", 4, "[tiles, 3, size, size]");
        long tiles = pixels.size(0);
        Args.atLeast(tiles, "pixels.size(0) (tiles)", 1);
        Checks.shape(pixels, "pixels", "[tiles, 3, size, size]", tiles, 3, cfg.imageSize(), cfg.imageSize());
        Checks.layer(probeLayer, "probeLayer", -1, layers.length);
        try (Scope scope = Scope.noGrad()) {
            Tensor x = embed(pixels.to(patchWeight.device(), Tensors.scalarType(patchWeight)));
            Tensor[] probe = new Tensor[2];
            for (int i = 0; i < layers.length; i++) {
                Tensor previous = x;
                try (Scope step = new Scope()) {
                    Tensor[] p = i == probeLayer ? new Tensor[2] : null;
                    x = step.keep(layers[i].forward(x, p, null));
                    if (p != null) {
                        probe[0] = step.keep(p[0]);
                        probe[1] = step.keep(p[1]);
                    }
                }
                previous.close();  // a hidden state of this forward: free it now, not at the end
            }
            long patches = cfg.patches();
            Tensor out = scope.keep(x.narrow(1, 1, patches).contiguous());
            Tensor cls = scope.keep(x.select(1, 0).contiguous());
            return new VisionOutput(out, cls, probe[0] == null ? null : scope.keep(probe[0]),
                    probe[1] == null ? null : scope.keep(probe[1]));
        }
    }

    /**
     * The forward with group-wise token pruning (IVTP's ViT stage, see {@link VitPruning}): at
     * the top layer of each group, one rollout call over the group's layers for all tiles at
     * once (from the Q/K the layers computed; SDPA stays the attention), eq. 4 importance, the
     * lowest blocks dropped, and the next group runs on the kept tokens only.
     *
     * @param pixels [T, 3, S, S] normalised tiles
     * @param plan   groups and keep counts; one count per group of this encoder
     * @return patches [T, n, hidden] of the kept patches (ascending original order), their ids
     *         in {@link VisionOutput#keptPatches()}, and the trace of every pruning point
     */
    public VisionOutput forward(Tensor pixels, VitPruning plan) {
        closing.check();
        Args.notNull(plan, "plan");
        Args.rank(pixels, "pixels", 4, "[tiles, 3, size, size]");
        long tiles = pixels.size(0);
        Args.atLeast(tiles, "pixels.size(0) (tiles)", 1);
        Checks.shape(pixels, "pixels", "[tiles, 3, size, size]", tiles, 3, cfg.imageSize(), cfg.imageSize());
        int groups = plan.groups(layers.length);
        if (plan.keep().length != groups) {
            throw Args.error("plan.keep", "hold one count per group (" + layers.length + " layers in groups of "
                    + plan.groupSize() + " = " + groups + ")", plan.keep().length);
        }
        if (plan.merge() != cfg.merge()) {
            throw Args.error("plan.merge", "be the model's pixel-shuffle factor " + cfg.merge(), plan.merge());
        }
        GroupPruner pruner = new GroupPruner(plan, cfg.grid(), (int) tiles);
        try (Scope scope = Scope.noGrad()) {
            Tensor x = embed(pixels.to(patchWeight.device(), Tensors.scalarType(patchWeight)));
            List<Tensor> qs = new ArrayList<>(), ks = new ArrayList<>();
            int point = 0;
            for (int i = 0; i < layers.length; i++) {
                Tensor previous = x;
                Tensor[] qkv = new Tensor[3];
                boolean top = plan.isTop(i, layers.length);
                try (Scope step = new Scope()) {
                    x = step.keep(layers[i].forward(x, null, qkv));
                    qs.add(step.keep(qkv[0]));
                    ks.add(step.keep(qkv[1]));
                    if (top) step.keep(qkv[2]);
                }
                previous.close();
                if (top) {
                    Tensor pruned;
                    try (Scope step = new Scope()) {
                        pruned = step.keep(pruner.prune(i, x, qs, ks, qkv[2], plan.keep()[point++]));
                    }
                    for (Tensor t : qs) t.close();
                    for (Tensor t : ks) t.close();
                    qkv[2].close();
                    qs.clear();
                    ks.clear();
                    x.close();
                    x = pruned;
                }
            }
            long n = x.size(1) - 1;
            Tensor out = scope.keep(x.narrow(1, 1, n).contiguous());
            Tensor cls = scope.keep(x.select(1, 0).contiguous());
            Tensor kept = scope.keep(Tensor.create(pruner.flatPatches(), tiles, n).to(x.device(), ScalarType.Long));
            return new VisionOutput(out, cls, null, null, kept, pruner.trace());
        }
    }

    /**
     * The bookkeeping of one pruned forward: which original patches each tile still holds
     * (ascending: the sequence order after the CLS), and the decision at each pruning point.
     */
    private static final class GroupPruner {
        private final VitPruning plan;
        private final int grid, merge, tiles;
        private long[][] patches;
        private final List<VitPruning.Step> steps = new ArrayList<>();

        GroupPruner(VitPruning plan, int grid, int tiles) {
            this.plan = plan;
            this.grid = grid;
            this.merge = plan.merge();
            this.tiles = tiles;
            patches = new long[tiles][grid * grid];
            for (long[] row : patches) for (int p = 0; p < row.length; p++) row[p] = p;
        }

        /** Block (merged token) id of patch p: (row / m) (g / m) + col / m. */
        long block(long p) {
            int side = grid / merge;
            return (p / grid / merge) * side + (p % grid) / merge;
        }

        /**
         * Scores the patches of x [T, 1 + n, h] by the rollout of the group's q/k (and the top
         * layer's v), keeps the `keep` best blocks of each tile, returns x [T, 1 + n', h].
         */
        Tensor prune(int layer, Tensor x, List<Tensor> q, List<Tensor> k, Tensor v, long keep) {
            long t0 = System.nanoTime();
            int n = (int) x.size(1) - 1, units = n / (merge * merge);  // only whole blocks are present
            Tensor values = plan.valueWeighting()
                    ? v.transpose(1, 2).reshape(tiles, n + 1, v.size(1) * v.size(3)).contiguous() : null;
            double[] importance;
            try (Rollout.Result r = Rollout.clsRowFromQk(q, k, Double.NaN, plan.mode(), values, plan.backend())) {
                importance = Tensors.toDoubles(r.importance());                      // [T, n]
            }
            // Each tile's blocks, ascending, scored by the sum of their patches' importance.
            long[][] blocks = new long[tiles][];
            double[] scores = new double[tiles * units];
            for (int t = 0; t < tiles; t++) {
                blocks[t] = Arrays.stream(patches[t]).map(this::block).distinct().sorted().toArray();
                for (int j = 0; j < n; j++) {
                    scores[t * units + Arrays.binarySearch(blocks[t], block(patches[t][j]))] += importance[t * n + j];
                }
            }
            long[] ones = new long[tiles], perTile = new long[tiles], budgets = new long[tiles];
            Arrays.fill(ones, 1);
            Arrays.fill(perTile, units);
            Arrays.fill(budgets, keep);
            Device device = Tensors.deviceOf(x);
            long[] top;
            try (TileLayout layout = TileLayout.of(ones, perTile);
                 SegmentedTopK.Result r = SegmentedTopK.select(Tensors.doubles(scores, scores.length).to(device,
                         ScalarType.Float), null, layout, Tensors.longs(device, budgets), 0.0, false, plan.backend())) {
                top = Tensors.toLongs(r.kept());                                      // ascending, per tile
            }
            int keptUnits = (int) Math.min(keep, units), keptN = keptUnits * merge * merge;
            long[][] kept = new long[tiles][keptN];
            double[][] scored = new double[tiles][];
            long[] index = new long[tiles * (1 + keptN)];                             // CLS stays at 0
            for (int t = 0; t < tiles; t++) {
                long[] keptBlocks = new long[keptUnits];
                for (int j = 0; j < keptUnits; j++) keptBlocks[j] = blocks[t][(int) (top[t * keptUnits + j] - t * units)];
                for (int j = 0, w = 0; j < n; j++) {
                    if (Arrays.binarySearch(keptBlocks, block(patches[t][j])) < 0) continue;
                    kept[t][w] = patches[t][j];
                    index[t * (1 + keptN) + 1 + w++] = 1 + j;
                }
                scored[t] = Arrays.copyOfRange(importance, t * n, (t + 1) * n);
            }
            Tensor idx = Tensor.create(index, tiles, 1 + keptN).to(device, ScalarType.Long);
            Tensor out = x.gather(1, idx.unsqueeze(2).expand(tiles, 1 + keptN, x.size(2)));
            steps.add(new VitPruning.Step(layer, patches, scored, kept, (System.nanoTime() - t0) / 1e6));
            patches = kept;
            return out;
        }

        long[] flatPatches() {
            int n = patches[0].length;
            long[] flat = new long[tiles * n];
            for (int t = 0; t < tiles; t++) System.arraycopy(patches[t], 0, flat, t * n, n);
            return flat;
        }

        VitPruning.Trace trace() {
            long[][] tokens = new long[tiles][];
            for (int t = 0; t < tiles; t++) tokens[t] = Arrays.stream(patches[t]).map(this::block).distinct().sorted().toArray();
            return new VitPruning.Trace(List.copyOf(steps), tokens);
        }
    }

    /** Patch convolution, CLS prepended, positions added, CLIP's pre-norm: [T, 1 + P, hidden]. */
    private Tensor embed(Tensor pixels) {
        long tiles = pixels.size(0), h = cfg.hidden(), p = cfg.patchSize();
        TensorOptional bias = patchBias == null ? new TensorOptional() : new TensorOptional(patchBias);
        Tensor conv = torch.conv2d(pixels, patchWeight, bias, new long[] {p, p}, new long[] {0, 0},
                new long[] {1, 1}, 1);                                               // [T, h, g, g]
        Tensor patches = conv.flatten(2, 3).transpose(1, 2);                       // [T, P, h], row-major grid
        Tensor cls = classEmbedding.view(1, 1, h).expand(tiles, 1, h);
        Tensor x = torch.cat(new TensorVector(cls, patches), 1).add(positionEmbedding);
        return preNorm == null ? x : preNorm.apply(x);
    }

    public ModelConfig.Vision config() {
        closing.check();
        return cfg;
    }

    /** One pre-norm encoder layer; the layer scales are null for CLIP. */
    private record Layer(LayerNorm norm1, Linear qkv, Linear proj, Tensor ls1, LayerNorm norm2, Mlp mlp, Tensor ls2,
                         int heads, int headDim) {

        /**
         * @param probe   null, or an array to receive {q_cls [T, H, d], k [T, H, M, d]}
         * @param capture null, or an array to receive the views {q, k, v}, each [T, H, M, d]
         *                with a dense last axis (q and k with equal strides)
         */
        Tensor forward(Tensor x, Tensor[] probe, Tensor[] capture) {
            long tiles = x.size(0), tokens = x.size(1), hidden = x.size(2);
            // qkv output rows are (which of q/k/v, head, dim): InternViT's reshape(B, N, 3, H, d).
            Tensor qkvOut = qkv.apply(norm1.apply(x)).view(tiles, tokens, 3, heads, headDim).permute(2, 0, 3, 1, 4);
            Tensor q = qkvOut.select(0, 0), k = qkvOut.select(0, 1), v = qkvOut.select(0, 2);  // [T, H, M, d]
            if (probe != null) {
                probe[0] = q.select(2, 0).contiguous();
                probe[1] = k.contiguous();
            }
            if (capture != null) {
                capture[0] = q;
                capture[1] = k;
                capture[2] = v;
            }
            Tensor attn = torch.scaled_dot_product_attention(q, k, v, new TensorOptional(), 0.0, false,
                    new DoubleOptional(), false);
            Tensor a = proj.apply(attn.transpose(1, 2).reshape(tiles, tokens, hidden));
            Tensor h = x.add(ls1 == null ? a : a.mul(ls1));
            Tensor m = mlp.apply(norm2.apply(h));
            return h.add(ls2 == null ? m : m.mul(ls2));
        }
    }
}
