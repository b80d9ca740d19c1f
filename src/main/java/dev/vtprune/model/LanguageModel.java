package dev.vtprune.model;

import dev.vtprune.internal.Closing;
import dev.vtprune.model.ParamSpec.Init;
import dev.vtprune.internal.Args;
import dev.vtprune.internal.Tensors;
import dev.vtprune.ops.Rollout;
import dev.vtprune.ops.SegmentedTopK;
import dev.vtprune.ops.TileLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The decoder-only LM of the three families, inference only: token embedding, N pre-norm
 * layers {@code h = x + attn(rmsnorm(x)); y = h + swiglu(rmsnorm(h))}, final RMSNorm, LM head.
 * Attention is causal SDPA with RoPE (HF rotate_half convention, positions 0..L-1 per sequence
 * unless given) and grouped-query heads (query head h reads kv head h / (Hq/Hkv)).
 *
 * <p>The families differ only at load time (see {@link ModelLoader}): q, k and v are one packed
 * Linear [(Hq + 2 Hkv) d, hidden] here (q rows, then k, then v; Qwen2's biases likewise), and
 * gate/up one Linear [2m, hidden]; InternLM2's interleaved {@code wqkv} is unpacked into this
 * order when loaded.
 *
 * <p>Batches are B sequences right-padded to a common length L, with {@code long[] lengths}.
 * Attention then uses an explicit boolean mask (key j visible to query i iff j <= i and
 * j < length); every query row keeps key 0, so padded rows never produce NaN, and padded input
 * positions are zeroed first so that nothing the caller left there (even NaN) can reach a real
 * position. When no sequence is padded the mask is dropped for SDPA's causal fast path.
 *
 * <p>Owns its weights ({@link #close()}); forwards free their temporaries layer by layer.
 */
public final class LanguageModel extends WeightOwner {
    static final String PREFIX = "language.";

    private final ModelConfig.Language cfg;
    private final Tensor embedding;
    private final Layer[] layers;
    private final RmsNorm norm;
    private final Linear head;

    LanguageModel(ModelConfig config, Params params) {
        super("LanguageModel", params);
        this.cfg = config.language();
        embedding = params.get(PREFIX + "embed");
        layers = new Layer[cfg.layers()];
        long m = cfg.intermediate();
        for (int i = 0; i < layers.length; i++) {
            String l = layer(i);
            SwiGlu mlp = new SwiGlu(Linear.of(params, l + "mlp.gate_up", false),
                    Linear.of(params, l + "mlp.down", false), m);
            layers[i] = new Layer(RmsNorm.of(params, l + "attn_norm", cfg.rmsEps()),
                    Linear.of(params, l + "attn.qkv", cfg.qkvBias()), Linear.of(params, l + "attn.o", false),
                    RmsNorm.of(params, l + "mlp_norm", cfg.rmsEps()), mlp, cfg.heads(), cfg.kvHeads(), cfg.headDim());
        }
        norm = RmsNorm.of(params, PREFIX + "norm", cfg.rmsEps());
        head = new Linear(params.get(PREFIX + "head.weight"), null);
    }

    static String layer(int i) {
        return PREFIX + "layers." + i + ".";
    }

    /** The weights this LM needs for `config`, in load order. */
    static List<ParamSpec> params(ModelConfig config) {
        ModelConfig.Language c = config.language();
        if (c.hidden() % c.heads() != 0 || c.heads() % c.kvHeads() != 0 || c.headDim() % 2 != 0) {
            throw new IllegalArgumentException("model config '" + config.name() + "': language needs "
                    + "hidden % heads == 0, heads % kvHeads == 0 and an even head dim; got hidden " + c.hidden()
                    + ", heads " + c.heads() + ", kvHeads " + c.kvHeads());
        }
        long h = c.hidden(), d = c.headDim(), qkv = (long) (c.heads() + 2 * c.kvHeads()) * d;
        List<ParamSpec> s = new ArrayList<>();
        s.add(spec(PREFIX + "embed", Init.EMBEDDING, -1, c.vocab(), h));
        for (int i = 0; i < c.layers(); i++) {
            String l = layer(i);
            s.add(spec(l + "attn_norm", Init.NORM_WEIGHT, i, h));
            s.add(spec(l + "attn.qkv.weight", Init.LINEAR, i, qkv, h));
            if (c.qkvBias()) s.add(spec(l + "attn.qkv.bias", Init.BIAS, i, qkv));
            s.add(spec(l + "attn.o.weight", Init.LINEAR, i, h, c.heads() * d));
            s.add(spec(l + "mlp_norm", Init.NORM_WEIGHT, i, h));
            s.add(spec(l + "mlp.gate_up.weight", Init.LINEAR, i, 2L * c.intermediate(), h));
            s.add(spec(l + "mlp.down.weight", Init.LINEAR, i, h, c.intermediate()));
        }
        s.add(spec(PREFIX + "norm", Init.NORM_WEIGHT, -1, h));
        s.add(spec(PREFIX + "head.weight", Init.LINEAR, -1, c.vocab(), h));
        return s;
    }

    private static ParamSpec spec(String name, Init init, int layer, long... shape) {
        return new ParamSpec(name, shape, init, "language", layer);
    }

    public ModelConfig.Language config() {
        closing.check();
        return cfg;
    }

    /** @param ids int64 [B, L] token ids in [0, vocab) @return [B, L, hidden] in the model's dtype */
    public Tensor embed(Tensor ids) {
        closing.check();
        Args.rank(ids, "ids", 2, "[batch, length]");
        Args.dtype(ids, "ids", ScalarType.Long);
        try (Scope scope = Scope.noGrad()) {
            if (ids.numel() > 0) {
                long lo = ids.min().item_long(), hi = ids.max().item_long();
                if (lo < 0 || hi >= cfg.vocab()) {
                    throw Args.error("ids", "hold token ids in [0, " + cfg.vocab() + ")",
                            "ids in [" + lo + ", " + hi + "]");
                }
            }
            return scope.keep(torch.embedding(embedding, ids.to(embedding.device(), ScalarType.Long)));
        }
    }

    /**
     * All layers, then the final norm and the LM head at each sequence's last real position.
     *
     * @param embeds  [B, L, hidden] input embeddings (text and projected visual tokens), right-padded
     * @param lengths real length of each sequence, in [1, L]
     */
    public Prefill prefill(Tensor embeds, long[] lengths) {
        closing.check();
        checkStates(embeds, "embeds", lengths);
        Run r = run(embeds, lengths, null, 0, layers.length, null, -1, true);
        return new Prefill(r.logits, r.cache);
    }

    /**
     * Layers 0..probeLayer only: that layer's post-RoPE q and k, the states leaving it, and the
     * cache of the layers run (see {@link Probe}).
     */
    public Probe probe(Tensor embeds, long[] lengths, int probeLayer) {
        closing.check();
        checkStates(embeds, "embeds", lengths);
        Checks.layer(probeLayer, "probeLayer", 0, layers.length);
        Run r = run(embeds, lengths, null, 0, probeLayer + 1, null, probeLayer, false);
        return new Probe(probeLayer, r.q, r.k, r.hidden, r.cache);
    }

    /** {@link #prefillFrom(int, Tensor, long[], Tensor, KvCache)} with positions 0..L-1. */
    public Prefill prefillFrom(int firstLayer, Tensor hidden, long[] lengths, KvCache prefix) {
        closing.check();
        return prefillFrom(firstLayer, hidden, lengths, null, prefix);
    }

    /**
     * Continues a forward from the states entering layer `firstLayer`, e.g. a {@link Probe}'s
     * hidden states, possibly after dropping tokens: runs layers firstLayer..N-1, the final norm
     * and the head. {@code prefillFrom(p.layer() + 1, p.hidden(), lengths, p.cache())} gives the
     * same result as {@code prefill(embeds, lengths)}; after pruning, pass the kept rows of the
     * hidden states and {@code p.cache().gather(kept, newLengths)}, and (to keep RoPE distances
     * as the first layers saw them) the kept tokens' original positions.
     *
     * @param firstLayer first layer to run, in [0, N]
     * @param hidden     [B, L, hidden] states entering layer firstLayer, right-padded
     * @param positions  int64 [B, L] RoPE positions, or null for 0..L-1
     * @param prefix     cache of layers 0..firstLayer-1 for these very B x L tokens (null iff
     *                   firstLayer == 0); the result's cache holds its own handles on them
     */
    public Prefill prefillFrom(int firstLayer, Tensor hidden, long[] lengths, Tensor positions, KvCache prefix) {
        closing.check();
        checkStates(hidden, "hidden", lengths);
        Checks.layer(firstLayer, "firstLayer", 0, layers.length + 1);
        long batch = hidden.size(0), length = hidden.size(1);
        if (positions != null) {
            Args.dtype(positions, "positions", ScalarType.Long);
            if (!java.util.Arrays.equals(positions.shape(), new long[] {batch, length})) {
                throw Args.error("positions", "have shape [" + batch + ", " + length + "] like hidden",
                        Tensors.describe(positions));
            }
        }
        if (firstLayer == 0 ? prefix != null : prefix == null) {
            throw Args.error("prefix", firstLayer == 0 ? "be null when firstLayer is 0"
                    : "hold the cache of layers 0.." + (firstLayer - 1), prefix == null ? "null" : prefix.toString());
        }
        if (prefix != null && (prefix.layers() != firstLayer || prefix.batch() != batch || prefix.length() != length
                || !java.util.Arrays.equals(prefix.lengths(), lengths))) {
            throw Args.error("prefix", "hold " + firstLayer + " layers of " + batch + " sequences of padded length "
                    + length + " and lengths " + java.util.Arrays.toString(lengths), prefix.toString());
        }
        Run r = run(hidden, lengths, positions, firstLayer, layers.length, prefix, -1, true);
        return new Prefill(r.logits, r.cache);
    }

    /**
     * Logits after each of several sequences that share a prefix per image: the forward a trainer
     * needs for many questions about one image, where the chat template puts the image's visual
     * tokens (and everything before them) first. Each prefix runs once; each question's suffix
     * attends, layer by layer, to its image's prefix keys and values and causally to itself, at
     * RoPE positions P, P+1, ... after the prefix: the same logits as {@link #prefill} on the
     * concatenated sequences (tested), with the prefix's layers run once per image instead of once
     * per question. Differentiable under {@link Training#enable()}.
     *
     * @param prefix  [I, P, hidden] the shared prefixes, one per image, unpadded
     * @param suffix  [Q, S, hidden] each question's remaining embeddings, right-padded
     * @param imageOf per question, its prefix's row in [0, I)
     * @param lengths per question, the real length of its suffix, in [1, S]
     * @return float32 [Q, vocab] logits at each question's last real position
     */
    public Tensor sharedPrefixLogits(Tensor prefix, Tensor suffix, long[] imageOf, long[] lengths) {
        closing.check();
        Args.rank(prefix, "prefix", 3, "[images, prefix length, hidden]");
        checkStates(suffix, "suffix", lengths);
        long images = prefix.size(0), p = prefix.size(1), questions = suffix.size(0), s = suffix.size(1);
        if (prefix.size(2) != suffix.size(2)) throw Args.error("prefix", "have the suffix's width " + suffix.size(2), Tensors.describe(prefix));
        if (imageOf == null || imageOf.length != questions) {
            throw Args.error("imageOf", "hold one image index per suffix row (" + questions + ")", imageOf == null ? "null" : imageOf.length);
        }
        for (long i : imageOf) if (i < 0 || i >= images) throw Args.error("imageOf", "hold indices in [0, " + images + ")", i);
        Device device = embedding.device();
        ScalarType dtype = Tensors.scalarType(embedding);
        try (Scope scope = Scope.noGrad()) {
            Tensor prefixPos = torch.arange(new Scalar(p), Tensors.options(ScalarType.Long, device)).unsqueeze(0);
            Tensor suffixPos = torch.arange(new Scalar(p), new Scalar(p + s), Tensors.options(ScalarType.Long, device)).unsqueeze(0);
            Tensor[] ropeP = Rope.tables(prefixPos, cfg.headDim(), cfg.ropeTheta(), dtype);
            Tensor[] ropeS = Rope.tables(suffixPos, cfg.headDim(), cfg.ropeTheta(), dtype);
            // Suffix query i sees every prefix key and suffix keys j <= i; padded rows are never read.
            Tensor index = torch.arange(new Scalar(s), Tensors.options(ScalarType.Long, device));
            Tensor causal = index.unsqueeze(0).le(index.unsqueeze(1));                                  // [S, S]
            Tensor mask = torch.cat(new TensorVector(torch.ones(new long[] {s, p}, Tensors.options(ScalarType.Bool, device)), causal), 1)
                    .view(1, 1, s, p + s);
            Tensor rows = Tensors.longs(device, imageOf);
            Tensor xp = prefix.to(device, dtype), xs = suffix.to(device, dtype);
            for (int i = 0; i < layers.length; i++) {
                Layer layer = layers[i];
                Tensor[] qkvP = layer.project(xp, ropeP[0], ropeP[1]);
                Tensor[] qkvS = layer.project(xs, ropeS[0], ropeS[1]);
                Tensor keys = torch.cat(new TensorVector(qkvP[1].index_select(0, rows), qkvS[1]), 2);
                Tensor values = torch.cat(new TensorVector(qkvP[2].index_select(0, rows), qkvS[2]), 2);
                Tensor attnS = torch.scaled_dot_product_attention(qkvS[0], keys, values, new TensorOptional(mask), 0.0, false,
                        new DoubleOptional(), layer.heads() != layer.kvHeads());
                xs = layer.finish(xs, attnS);
                if (i + 1 < layers.length) {  // the last layer's prefix states feed nothing
                    Tensor attnP = torch.scaled_dot_product_attention(qkvP[0], qkvP[1], qkvP[2], new TensorOptional(), 0.0, true,
                            new DoubleOptional(), layer.heads() != layer.kvHeads());
                    xp = layer.finish(xp, attnP);
                }
            }
            long[] last = new long[lengths.length];
            for (int b = 0; b < last.length; b++) last[b] = b * s + lengths[b] - 1;
            Tensor out = xs.reshape(questions * s, xs.size(2)).index_select(0, Tensors.longs(device, last));
            return scope.keep(head.apply(norm.apply(out)).to(ScalarType.Float));
        }
    }

    /**
     * IVTP's LM stage on one sequence (see {@link LmPruning} for the method, the cache and the
     * RoPE positions): layers 0..N-1 with a pseudo-CLS after the visual tokens and group-wise
     * pruning in the first W layers, then the final norm and head at the last position.
     *
     * @param embeds    [1, L, hidden] input embeddings, visual tokens where `spans` says, no pseudo-CLS
     * @param spans     each image's visual tokens in the sequence
     * @param pseudoCls [hidden] the pseudo-CLS input embedding (eq. 8); null only with `given`
     * @param plan      groups, W and the per-image counts
     * @param given     null to score with the pseudo-CLS; else [point][image] the visual tokens
     *                  to keep (ascending input positions): a plain forward that drops them at
     *                  the same layers, no pseudo-CLS in the sequence (the reference the
     *                  pseudo-CLS must not change)
     */
    public LmPruning.Result prefillPruned(Tensor embeds, LmPruning.Spans spans, Tensor pseudoCls, LmPruning plan,
                                         long[][][] given) {
        return prefillPruned(embeds, spans, pseudoCls, plan, given, null);
    }

    /**
     * {@link #prefillPruned(Tensor, LmPruning.Spans, Tensor, LmPruning, long[][][])} on a
     * sequence whose tokens sit at the given RoPE positions: input token i at
     * {@code positions[i]}, e.g. the positions the ViT stage's survivors had before it dropped
     * the others, so that both stages keep the unpruned sequence's geometry. The pseudo-CLS
     * takes the position of the first token after the last visual token; decoding continues at
     * {@code positions[L - 1] + 1}.
     *
     * @param positions null for 0..L-1; else L strictly increasing positions >= 0 (the spans,
     *                  the kept sets and the result's positions stay input indices)
     */
    public LmPruning.Result prefillPruned(Tensor embeds, LmPruning.Spans spans, Tensor pseudoCls, LmPruning plan,
                                         long[][][] given, long[] positions) {
        Args.notNull(spans, "spans");
        Args.notNull(plan, "plan");
        checkStates(embeds, "embeds", new long[] {embeds.size(1)});
        if (embeds.size(0) != 1) throw Args.error("embeds", "hold one sequence [1, L, hidden]", Tensors.describe(embeds));
        long length = embeds.size(1);
        if (spans.end() > length) throw Args.error("spans", "end within the sequence (" + length + ")", spans.end());
        if (plan.layers() > layers.length) {
            throw Args.error("plan.layers (W)", "be <= the LM's " + layers.length + " layers", plan.layers());
        }
        if (positions != null) {
            if (positions.length != length) throw Args.error("positions", "hold one position per token (" + length + ")", positions.length);
            for (int i = 0; i < positions.length; i++) {
                if (positions[i] < (i == 0 ? 0 : positions[i - 1] + 1)) {
                    throw Args.error("positions", "be strictly increasing and >= 0", "positions[" + i + "] = " + positions[i]
                            + (i == 0 ? "" : " after " + positions[i - 1]));
                }
            }
        }
        long[] ropeOf = positions != null ? positions.clone() : null;
        if (given == null) {
            Args.notNull(pseudoCls, "pseudoCls");
            Checks.shape(pseudoCls, "pseudoCls", "[hidden]", cfg.hidden());
        } else {
            if (pseudoCls != null) throw Args.error("pseudoCls", "be null when the kept sets are given", "a tensor");
            if (given.length != plan.points()) throw Args.error("given", "hold one entry per pruning point (" + plan.points() + ")", given.length);
        }
        Device device = embedding.device();
        ScalarType dtype = Tensors.scalarType(embedding);
        int images = spans.images();
        long pcPos = spans.end();
        // rows[i]: the input position of row i of the running sequence; -1 = the pseudo-CLS.
        long[] rows = new long[(int) length + (given == null ? 1 : 0)];
        for (int i = 0, r = 0; i < length; i++) {
            if (given == null && i == pcPos) rows[r++] = -1;
            rows[r++] = i;
        }
        if (given == null && pcPos == length) rows[rows.length - 1] = -1;
        Tensor[] keys = new Tensor[layers.length], values = new Tensor[layers.length];
        long[][] cached = new long[layers.length][];
        List<LmPruning.Step> steps = new ArrayList<>();
        Tensor logits;
        try (Scope scope = Scope.noGrad()) {
            Tensor x = embeds.to(device, dtype);
            if (given == null) {
                Tensor pc = pseudoCls.to(device, dtype).view(1, 1, cfg.hidden());
                x = torch.cat(new org.bytedeco.pytorch.TensorArrayRef(new org.bytedeco.pytorch.TensorVector(
                        x.narrow(1, 0, pcPos), pc, x.narrow(1, pcPos, length - pcPos))), 1);
            }
            List<Tensor> groupQ = new ArrayList<>(), groupK = new ArrayList<>();
            int point = 0;
            Tensor[] rope = ropeFor(rows, pcPos, ropeOf, device, dtype);
            Tensor mask = pseudoClsMask(rows, device);
            for (int i = 0; i < layers.length; i++) {
                Tensor previous = x;
                boolean top = plan.isTop(i);
                boolean scoring = given == null && i < plan.layers();
                try (Scope step = new Scope()) {
                    Tensor[] kv = new Tensor[scoring ? 3 : 2];
                    x = step.keep(layers[i].forward(x, rope[0], rope[1], mask, kv));
                    keys[i] = step.keep(kv[0]);
                    values[i] = step.keep(kv[1]);
                    if (scoring) {  // the prefix up to the pseudo-CLS is all its rollout row can reach
                        long pcRow = indexOf(rows, -1) + 1;
                        groupQ.add(step.keep(kv[2].select(0, 0).narrow(1, 0, pcRow)));
                        groupK.add(step.keep(kv[0].select(0, 0).narrow(1, 0, pcRow)));
                    }
                }
                if (previous != x) previous.close();
                cached[i] = rows.clone();
                if (!top) continue;
                long t0 = System.nanoTime();
                long[][] present = new long[images][], kept;
                double[][] importance = null;
                for (int b = 0; b < images; b++) present[b] = visualOf(rows, spans, b);
                if (given == null) {
                    importance = new double[images][];
                    kept = score(rows, spans, present, groupQ, groupK, values[i], plan, plan.keep()[point], device,
                            importance);
                    for (Tensor t : groupQ) t.close();
                    for (Tensor t : groupK) t.close();
                    groupQ.clear();
                    groupK.clear();
                } else {
                    kept = given[point];
                    checkGiven(kept, present, point);
                }
                boolean last = point == plan.points() - 1;
                long[] next = survivors(rows, spans, kept, last);
                long[] keepRows = new long[next.length];
                for (int r = 0, j = 0; r < rows.length && j < next.length; r++) if (rows[r] == next[j]) keepRows[j++] = r;
                Tensor index = Tensors.longs(device, keepRows);
                Tensor shorter = scope.keep(x.index_select(1, index));
                x.close();
                x = shorter;
                rows = next;
                if (last && given == null) {  // the pseudo-CLS leaves every cache too
                    for (int j = 0; j <= i; j++) {
                        long[] real = java.util.Arrays.stream(cached[j]).filter(p -> p >= 0).toArray();
                        long[] at = new long[real.length];
                        for (int r = 0, q = 0; r < cached[j].length; r++) if (cached[j][r] >= 0) at[q++] = r;
                        Tensor idx = Tensors.longs(device, at);
                        // Not kept here: the loop after the layers keeps every layer's cache once; a second
                        // keep would attach these to the caller's scope twice, which then frees them under
                        // the Result that retained them (the cache of an IVTP run was freed before decoding).
                        Tensor k2 = keys[j].index_select(2, idx).contiguous();
                        Tensor v2 = values[j].index_select(2, idx).contiguous();
                        keys[j].close();
                        values[j].close();
                        keys[j] = k2;
                        values[j] = v2;
                        cached[j] = real;
                    }
                }
                rope = ropeFor(rows, pcPos, ropeOf, device, dtype);
                mask = pseudoClsMask(rows, device);
                steps.add(new LmPruning.Step(i, present, importance, kept, (System.nanoTime() - t0) / 1e6));
                point++;
            }
            Tensor lastRow = x.select(0, 0).narrow(0, x.size(1) - 1, 1);
            logits = scope.keep(head.apply(norm.apply(lastRow)).to(ScalarType.Float));
            for (int i = 0; i < layers.length; i++) {
                keys[i] = scope.keep(keys[i]);
                values[i] = scope.keep(values[i]);
            }
        }
        long[][] layerLengths = new long[layers.length][];
        for (int i = 0; i < layers.length; i++) layerLengths[i] = new long[] {cached[i].length};
        // Every token kept its input position, so the next one continues the unpruned sequence.
        KvCache cache = new KvCache(keys, values, new long[] {rows.length}, layerLengths,
                new long[] {ropeOf == null ? length : ropeOf[(int) length - 1] + 1});
        return new LmPruning.Result(new Prefill(logits, cache), List.copyOf(steps), cached);
    }

    private static int indexOf(long[] rows, long v) {
        for (int i = 0; i < rows.length; i++) if (rows[i] == v) return i;
        return -1;
    }

    /**
     * RoPE tables for the running rows: input positions (mapped through ropeOf unless null), the
     * pseudo-CLS at pcPos's (one past the last when pcPos is the sequence's end).
     */
    private Tensor[] ropeFor(long[] rows, long pcPos, long[] ropeOf, Device device, ScalarType dtype) {
        long[] pos = new long[rows.length];
        for (int i = 0; i < rows.length; i++) {
            long p = rows[i] < 0 ? pcPos : rows[i];
            pos[i] = ropeOf == null ? p : p < ropeOf.length ? ropeOf[(int) p] : ropeOf[ropeOf.length - 1] + 1;
        }
        return Rope.tables(Tensors.longs(device, pos).unsqueeze(0), cfg.headDim(), cfg.ropeTheta(), dtype);
    }

    /**
     * bool [1, 1, n, n]: causal, and the pseudo-CLS's column hidden from every later query; null
     * (SDPA's causal fast path) once the pseudo-CLS has left.
     */
    private static Tensor pseudoClsMask(long[] rows, Device device) {
        int pc = indexOf(rows, -1);
        if (pc < 0) return null;
        long n = rows.length;
        Tensor index = torch.arange(new Scalar(n), Tensors.options(ScalarType.Long, device));
        Tensor causal = index.unsqueeze(0).le(index.unsqueeze(1));                        // key j <= query i
        Tensor hidden = index.unsqueeze(0).eq(new Scalar(pc)).logical_and(index.unsqueeze(1).gt(new Scalar(pc)));
        return causal.logical_and(hidden.logical_not()).view(1, 1, n, n);
    }

    /** Image b's visual tokens among the running rows, ascending. */
    private static long[] visualOf(long[] rows, LmPruning.Spans spans, int b) {
        return java.util.Arrays.stream(rows).filter(p -> p >= 0 && spans.imageOf(p) == b).toArray();
    }

    /** The rows after a pruning point: non-visual tokens, the kept visual ones, the pseudo-CLS unless last. */
    private static long[] survivors(long[] rows, LmPruning.Spans spans, long[][] kept, boolean last) {
        java.util.Set<Long> keep = new java.util.HashSet<>();
        for (long[] k : kept) for (long p : k) keep.add(p);
        return java.util.Arrays.stream(rows).filter(p -> p < 0 ? !last : spans.imageOf(p) < 0 || keep.contains(p))
                .toArray();
    }

    private static void checkGiven(long[][] kept, long[][] present, int point) {
        String name = "given[" + point + "]";
        if (kept == null || kept.length != present.length) {
            throw Args.error(name, "hold one kept set per image (" + present.length + ")", kept == null ? "null" : kept.length);
        }
        for (int b = 0; b < kept.length; b++) {
            java.util.Set<Long> here = new java.util.HashSet<>();
            for (long p : present[b]) here.add(p);
            for (int j = 0; j < kept[b].length; j++) {
                if (!here.contains(kept[b][j]) || (j > 0 && kept[b][j] <= kept[b][j - 1])) {
                    throw Args.error(name + "[" + b + "]", "hold ascending visual tokens of image " + b
                            + " still present", java.util.Arrays.toString(kept[b]));
                }
            }
        }
    }

    /**
     * One pruning decision: the pseudo-CLS rollout row over the group, times the top layer's
     * value norms (eq. 4), normalised per image, K2 top-k per image. Fills importance[b].
     */
    private static long[][] score(long[] rows, LmPruning.Spans spans, long[][] present, List<Tensor> q, List<Tensor> k,
                                  Tensor topValues, LmPruning plan, long keep, Device device, double[][] importance) {
        int pcRow = indexOf(rows, -1);
        double[] row = Tensors.toDoubles(Rollout.causalRowFromQk(q, k, pcRow, Double.NaN, plan.mode()));
        double[] norms = null;
        if (plan.valueWeighting()) {  // [1, Hkv, n, d] -> per token, all heads concatenated
            Tensor v = topValues.select(0, 0).narrow(1, 0, pcRow).transpose(0, 1).reshape(pcRow, -1).to(ScalarType.Float);
            norms = Tensors.toDoubles(v.norm(new org.bytedeco.pytorch.ScalarOptional(new Scalar(2.0)), new long[] {1}, false));
        }
        java.util.Map<Long, Integer> rowOf = new java.util.HashMap<>();
        for (int r = 0; r < pcRow; r++) rowOf.put(rows[r], r);
        int images = present.length;
        long total = 0;
        long[] counts = new long[images], budgets = new long[images], ones = new long[images];
        for (int b = 0; b < images; b++) {
            counts[b] = present[b].length;
            budgets[b] = Math.min(keep, counts[b]);
            ones[b] = 1;
            total += counts[b];
        }
        float[] flat = new float[(int) total];
        for (int b = 0, o = 0; b < images; b++) {
            double[] s = new double[present[b].length];
            double sum = 0;
            for (int j = 0; j < s.length; j++) {
                int r = rowOf.get(present[b][j]);
                sum += s[j] = row[r] * (norms == null ? 1 : norms[r]);
            }
            for (int j = 0; j < s.length; j++) {
                s[j] = sum > 0 ? s[j] / sum : 0;
                flat[o++] = (float) s[j];
            }
            importance[b] = s;
        }
        long[] picked;
        try (TileLayout layout = TileLayout.of(ones, counts);
             SegmentedTopK.Result top = SegmentedTopK.select(Tensors.floats(flat, total).to(device, ScalarType.Float),
                     layout, Tensors.longs(device, budgets))) {
            picked = Tensors.toLongs(top.kept());
        }
        long[][] kept = new long[images][];
        for (int b = 0, o = 0, start = 0; b < images; b++) {
            kept[b] = new long[(int) budgets[b]];
            for (int j = 0; j < budgets[b]; j++) kept[b][j] = present[b][(int) (picked[o++] - start)];
            start += counts[b];
        }
        return kept;
    }

    /**
     * The whole forward of one unpadded sequence, as a reference implementation sees it: positions
     * 0..L-1, causal attention, logits at every position, and the hidden states named in
     * `states` under Hugging Face's {@code output_hidden_states} convention (0 = the input
     * embeddings, i = the output of layer i - 1, N = the final norm of the last layer's output).
     *
     * @param embeds [1, L, hidden] input embeddings
     * @param states indices in [0, N], N = layers
     */
    public Outputs forwardAll(Tensor embeds, int[] states) {
        closing.check();
        Args.rank(embeds, "embeds", 3, "[1, length, hidden]");
        checkStates(embeds, "embeds", new long[] {embeds.size(1)});
        if (embeds.size(0) != 1) throw Args.error("embeds", "hold one sequence", Tensors.describe(embeds));
        Args.notNull(states, "states");
        int n = layers.length;
        for (int s : states) Checks.layer(s, "states[i]", 0, n + 1);
        java.util.Set<Integer> wanted = new java.util.HashSet<>();
        for (int s : states) wanted.add(s);
        long length = embeds.size(1);
        Device device = embedding.device();
        ScalarType dtype = Tensors.scalarType(embedding);
        Map<Integer, Tensor> kept = new java.util.TreeMap<>();
        try (Scope scope = Scope.noGrad()) {
            Tensor pos = torch.arange(new Scalar(length), Tensors.options(ScalarType.Long, device)).unsqueeze(0);
            Tensor[] rope = Rope.tables(pos, cfg.headDim(), cfg.ropeTheta(), dtype);
            Tensor x = embeds.to(device, dtype);
            if (wanted.contains(0)) kept.put(0, scope.keep(x.select(0, 0).to(ScalarType.Float).contiguous()));
            for (int i = 0; i < n; i++) {
                Tensor previous = x;
                try (Scope step = new Scope()) {
                    x = step.keep(layers[i].forward(x, rope[0], rope[1], null, new Tensor[2]));
                }
                previous.close();  // this forward's own state (or its cast of the input): free it now
                if (i + 1 < n && wanted.contains(i + 1)) {
                    kept.put(i + 1, scope.keep(x.select(0, 0).to(ScalarType.Float).contiguous()));
                }
            }
            Tensor last = norm.apply(x.select(0, 0));
            if (wanted.contains(n)) kept.put(n, scope.keep(last.to(ScalarType.Float).contiguous()));
            Tensor logits = scope.keep(head.apply(last).to(ScalarType.Float).contiguous());
            return new Outputs(logits, kept);
        }
    }

    /**
     * What {@link #forwardAll} returns, float32, no batch dimension; owns its tensors: after
     * {@link #close()} (idempotent) the accessors throw {@link IllegalStateException}.
     */
    public static final class Outputs implements AutoCloseable {
        private final Closing closing = new Closing("Outputs");
        private final Tensor logits;
        private final Map<Integer, Tensor> states;

        /**
         * @param logits [L, vocab]
         * @param states hidden state index to [L, hidden]
         */
        public Outputs(Tensor logits, Map<Integer, Tensor> states) {
            this.logits = logits;
            this.states = states;
        }

        public Tensor logits() {
            closing.check();
            return logits;
        }

        public Map<Integer, Tensor> states() {
            closing.check();
            return states;
        }

        @Override
        public void close() {
            if (!closing.close()) return;
            Tensors.closeAll(logits);
            for (Tensor t : states.values()) t.close();
        }
    }

    private void checkStates(Tensor x, String name, long[] lengths) {
        Args.rank(x, name, 3, "[batch, length, hidden]");
        Args.atLeast(x.size(0), name + ".size(0) (batch)", 1);
        Args.atLeast(x.size(1), name + ".size(1) (length)", 1);
        Checks.shape(x, name, "[batch, length, hidden]", x.size(0), x.size(1), cfg.hidden());
        Checks.lengths(lengths, x.size(0), x.size(1));
    }

    /** What one pass produces; fields not asked for are null. */
    private record Run(Tensor logits, KvCache cache, Tensor q, Tensor k, Tensor hidden) {}

    /**
     * Layers from..to-1 on x0; `probe` (or -1) names the layer whose q and k to return; with
     * `logits` the final norm and head run on the last real positions, else the output states
     * are returned.
     */
    private Run run(Tensor x0, long[] lengths, Tensor positions, int from, int to, KvCache prefix, int probe,
                    boolean logits) {
        long batch = x0.size(0), length = x0.size(1);
        Device device = embedding.device();
        ScalarType dtype = Tensors.scalarType(embedding);
        boolean padded = false;
        for (long n : lengths) padded |= n < length;
        Tensor[] keys = new Tensor[to], values = new Tensor[to];
        Tensor q = null, k = null, out;
        try (Scope scope = Scope.noGrad()) {
            Tensor pos = positions != null ? positions.to(device, ScalarType.Long)
                    : torch.arange(new Scalar(length), Tensors.options(ScalarType.Long, device)).unsqueeze(0)
                            .expand(batch, length);
            Tensor[] rope = Rope.tables(pos, cfg.headDim(), cfg.ropeTheta(), dtype);
            Tensor x = x0.to(device, dtype);
            Tensor mask = null;
            if (padded) {
                Tensor valid = validPositions(lengths, length, device);                  // [B, L]
                Tensor index = torch.arange(new Scalar(length), Tensors.options(ScalarType.Long, device));
                Tensor causal = index.unsqueeze(0).le(index.unsqueeze(1));                  // [L, L]: key j <= query i
                mask = causal.unsqueeze(0).logical_and(valid.unsqueeze(1)).unsqueeze(1);    // [B, 1, L, L]
                x = x.masked_fill(valid.logical_not().unsqueeze(-1), new Scalar(0.0));
            }
            for (int i = 0; i < from; i++) {  // own handles on the prefix's tensors, kept below
                keys[i] = torch.alias(prefix.key(i));
                values[i] = torch.alias(prefix.value(i));
            }
            for (int i = from; i < to; i++) {
                Tensor previous = x;
                try (Scope step = new Scope()) {
                    Tensor[] kv = new Tensor[i == probe ? 3 : 2];
                    x = step.keep(layers[i].forward(x, rope[0], rope[1], mask, kv));
                    keys[i] = step.keep(kv[0]);
                    values[i] = step.keep(kv[1]);
                    if (i == probe) q = step.keep(kv[2]);
                }
                previous.close();  // this forward's own state (or its cast of x0): free it now
            }
            if (logits) {
                long[] last = new long[lengths.length];
                for (int b = 0; b < last.length; b++) last[b] = b * length + lengths[b] - 1;
                Tensor rows = x.reshape(batch * length, x.size(2)).index_select(0, Tensors.longs(device, last));
                out = scope.keep(head.apply(norm.apply(rows)).to(ScalarType.Float));
            } else {
                out = scope.keep(x.contiguous());
            }
            for (int i = 0; i < to; i++) {
                keys[i] = scope.keep(keys[i]);
                values[i] = scope.keep(values[i]);
            }
            if (q != null) {
                q = scope.keep(q);
                k = scope.keep(torch.alias(keys[probe]));
            }
        }
        KvCache cache = new KvCache(keys, values, lengths, null, nextPositions(positions, lengths));
        return logits ? new Run(out, cache, null, null, null) : new Run(null, cache, q, k, out);
    }

    /**
     * Per sequence, the position after its last real one: the length for positions 0..L-1, else
     * the largest given position + 1 (the kept tokens' original positions leave gaps: the next
     * token continues the unpruned sequence).
     */
    private static long[] nextPositions(Tensor positions, long[] lengths) {
        if (positions == null) return lengths.clone();
        long[] all = Tensors.toLongs(positions.contiguous());
        long width = positions.size(1);
        long[] next = new long[lengths.length];
        for (int b = 0; b < next.length; b++) {
            long max = -1;
            for (int j = 0; j < lengths[b]; j++) max = Math.max(max, all[(int) (b * width + j)]);
            next[b] = max + 1;
        }
        return next;
    }

    /** bool [B, L]: position < length. */
    private static Tensor validPositions(long[] lengths, long length, Device device) {
        Tensor index = torch.arange(new Scalar(length), Tensors.options(ScalarType.Long, device)).unsqueeze(0);
        return index.lt(Tensors.longs(device, lengths).unsqueeze(1));
    }

    /**
     * A decoder that continues the sequences of `cache` one token per step (see {@link Decoder}).
     * The cache is copied into the decoder's own buffers: it stays the caller's, unchanged.
     *
     * @param cache    keys and values of all N layers from a prefill (pruned or not)
     * @param capacity the most tokens that will be fed, >= 1; every sequence's next position +
     *                 capacity must fit the model's context (maxPositions)
     */
    public Decoder decoder(KvCache cache, int capacity) {
        closing.check();
        Args.notNull(cache, "cache");
        Args.atLeast(capacity, "capacity", 1);
        if (cache.layers() != layers.length) {
            throw Args.error("cache", "hold the keys and values of all " + layers.length + " layers", cache.toString());
        }
        long[] next = cache.nextPositions();
        for (int b = 0; b < next.length; b++) {
            if (next[b] + capacity > cfg.maxPositions()) {
                throw Args.error("capacity", "be <= " + (cfg.maxPositions() - next[b]) + " (the context of " + cfg.maxPositions()
                        + " positions after sequence " + b + "'s " + next[b] + ")", capacity);
            }
        }
        return new Decoder(cache, capacity);
    }

    /**
     * Incremental decoding over a prefill's KV cache: each {@link #step} feeds one token per
     * sequence at its next RoPE position, appends its keys and values to every layer, and
     * returns the logits for the token after it. Positions continue from
     * {@link KvCache#nextPositions()}: for a cache whose kept tokens kept their original
     * positions (FastV, PTP with the reused probe, IVTP's LM stage) the first fed token takes the
     * unpruned sequence length, exactly as if the dropped tokens had been there and were masked
     * out; after a prefill of the shorter sequence from position 0 it takes the pruned length.
     * A step thus equals the last row of a full forward of the cached tokens plus the fed ones
     * at those positions (LanguageModelDecodeTest).
     *
     * <p>Each layer's buffers hold its cache and {@code capacity} slots, allocated once: a step
     * writes one slot and attends over the filled prefix (padded prefill entries of a batch are
     * masked). Not thread-safe (one decoder per request; decoders of one model may run at once);
     * owns its buffers ({@link #close()}, idempotent).
     */
    public final class Decoder implements AutoCloseable {
        private final Closing closing = new Closing("Decoder");
        private final int batch, capacity;
        private final long[] prefix, next;
        private final Tensor[] keys, values, masks;
        private int steps;

        private Decoder(KvCache cache, int capacity) {
            this.batch = (int) cache.batch();
            this.capacity = capacity;
            this.next = cache.nextPositions();
            int n = layers.length;
            prefix = new long[n];
            keys = new Tensor[n];
            values = new Tensor[n];
            masks = new Tensor[n];
            try (Scope scope = Scope.noGrad()) {
                for (int l = 0; l < n; l++) {
                    Tensor k = cache.key(l), v = cache.value(l);
                    prefix[l] = k.size(2);
                    long[] shape = {k.size(0), k.size(1), prefix[l] + capacity, k.size(3)};
                    keys[l] = scope.keep(Tensors.zeros(Tensors.scalarType(k), k.device(), shape));
                    values[l] = scope.keep(Tensors.zeros(Tensors.scalarType(v), v.device(), shape));
                    keys[l].narrow(2, 0, prefix[l]).copy_(k);
                    values[l].narrow(2, 0, prefix[l]).copy_(v);
                    long[] real = cache.layerLengths(l);
                    boolean padded = false;
                    for (long r : real) padded |= r < prefix[l];
                    if (padded) {  // [B, 1, 1, prefix + capacity]: real prefill entries and every decode slot
                        Tensor index = torch.arange(new Scalar(prefix[l] + capacity), Tensors.options(ScalarType.Long, k.device()))
                                .unsqueeze(0);
                        Tensor visible = index.lt(Tensors.longs(k.device(), real).unsqueeze(1))
                                .logical_or(index.ge(new Scalar(prefix[l])));
                        masks[l] = scope.keep(visible.view(batch, 1, 1, prefix[l] + capacity));
                    }
                }
            } catch (RuntimeException | Error e) {
                close();
                throw e;
            }
        }

        public int batch() {
            closing.check();
            return batch;
        }

        /** Tokens fed so far (per sequence). */
        public int steps() {
            closing.check();
            return steps;
        }

        public int capacity() {
            closing.check();
            return capacity;
        }

        /** Per sequence, the RoPE position the next fed token takes. */
        public long[] nextPositions() {
            closing.check();
            long[] p = next.clone();
            for (int b = 0; b < p.length; b++) p[b] += steps;
            return p;
        }

        /**
         * Feeds tokens[b] to sequence b at its next position.
         *
         * @return per sequence, the float32 logits [vocab] for the following token
         */
        public float[][] step(long... tokens) {
            closing.check();
            LanguageModel.this.closing.check();
            Args.notNull(tokens, "tokens");
            if (tokens.length != batch) throw Args.error("tokens", "hold one token per sequence (" + batch + ")", tokens.length);
            for (long t : tokens) {
                if (t < 0 || t >= cfg.vocab()) throw Args.error("tokens", "hold token ids in [0, " + cfg.vocab() + ")", t);
            }
            if (steps >= capacity) {
                throw new IllegalStateException("decoder is full: its capacity of " + capacity + " tokens has been fed");
            }
            float[] flat;
            try (Scope scope = Scope.noGrad()) {
                Device device = embedding.device();
                ScalarType dtype = Tensors.scalarType(embedding);
                Tensor x = torch.embedding(embedding, Tensors.longs(device, tokens).view(batch, 1));  // [B, 1, hidden]
                Tensor[] rope = Rope.tables(Tensors.longs(device, nextPositions()).view(batch, 1), cfg.headDim(),
                        cfg.ropeTheta(), dtype);
                for (int l = 0; l < layers.length; l++) {
                    long at = prefix[l] + steps;
                    Tensor mask = masks[l] == null ? null : masks[l].narrow(3, 0, at + 1);
                    x = layers[l].decode(x, rope[0], rope[1], keys[l], values[l], at, mask);
                }
                flat = Tensors.toFloats(head.apply(norm.apply(x.select(1, 0))).to(ScalarType.Float).contiguous());
            }
            steps++;
            int vocab = cfg.vocab();
            float[][] out = new float[batch][];
            for (int b = 0; b < batch; b++) out[b] = java.util.Arrays.copyOfRange(flat, b * vocab, (b + 1) * vocab);
            return out;
        }

        @Override
        public void close() {
            if (!closing.close()) return;
            Tensors.closeAll(keys);
            Tensors.closeAll(values);
            Tensors.closeAll(masks);
        }
    }

    /** One decoder layer. */
    private record Layer(RmsNorm attnNorm, Linear qkv, Linear o, RmsNorm mlpNorm, SwiGlu mlp, int heads, int kvHeads,
                         int headDim) {

        /**
         * @param mask bool [B, 1, L, L] (true = visible), or null for plain causal attention
         * @param out  receives k, v [B, Hkv, L, d] and, when it has a third slot, q [B, Hq, L, d]; all
         *             contiguous and exactly what SDPA got
         */
        Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, Tensor[] out) {
            Tensor[] qkv = project(x, cos, sin);
            out[0] = qkv[1];
            out[1] = qkv[2];
            if (out.length > 2) out[2] = qkv[0];
            TensorOptional visible = mask == null ? new TensorOptional() : new TensorOptional(mask);
            Tensor attn = torch.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], visible, 0.0, mask == null,
                    new DoubleOptional(), heads != kvHeads);
            return finish(x, attn);
        }

        /**
         * One decode step: x [B, 1, hidden] at the positions of cos/sin; its k and v are written
         * into slot `at` of the layer's buffers [B, Hkv, capacity, d], and its query attends to
         * slots 0..at (no causal mask: they are all in its past).
         *
         * @param mask bool [B, 1, 1, at + 1] (true = visible) hiding padded prefill slots, or null
         */
        Tensor decode(Tensor x, Tensor cos, Tensor sin, Tensor keys, Tensor values, long at, Tensor mask) {
            Tensor[] qkv = project(x, cos, sin);
            keys.narrow(2, at, 1).copy_(qkv[1]);
            values.narrow(2, at, 1).copy_(qkv[2]);
            TensorOptional visible = mask == null ? new TensorOptional() : new TensorOptional(mask);
            Tensor attn = torch.scaled_dot_product_attention(qkv[0], keys.narrow(2, 0, at + 1), values.narrow(2, 0, at + 1),
                    visible, 0.0, false, new DoubleOptional(), heads != kvHeads);
            return finish(x, attn);
        }

        /** {q [B, Hq, L, d], k, v [B, Hkv, L, d]}: q and k after RoPE; all contiguous. */
        private Tensor[] project(Tensor x, Tensor cos, Tensor sin) {
            long batch = x.size(0), length = x.size(1), qw = (long) heads * headDim, kw = (long) kvHeads * headDim;
            Tensor packed = qkv.apply(attnNorm.apply(x));                                   // [B, L, (Hq + 2 Hkv) d]
            Tensor q = packed.narrow(2, 0, qw).view(batch, length, heads, headDim).transpose(1, 2);
            Tensor k = packed.narrow(2, qw, kw).view(batch, length, kvHeads, headDim).transpose(1, 2);
            Tensor v = packed.narrow(2, qw + kw, kw).view(batch, length, kvHeads, headDim).transpose(1, 2);
            return new Tensor[] {Rope.apply(q, cos, sin).contiguous(), Rope.apply(k, cos, sin).contiguous(), v.contiguous()};
        }

        /** The attention output [B, Hq, L, d] through o, the residual, and the MLP block. */
        private Tensor finish(Tensor x, Tensor attn) {
            long batch = x.size(0), length = x.size(1);
            Tensor h = x.add(o.apply(attn.transpose(1, 2).reshape(batch, length, (long) heads * headDim)));
            return h.add(mlp.apply(mlpNorm.apply(h)));
        }
    }
}
