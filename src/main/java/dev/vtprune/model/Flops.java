package dev.vtprune.model;

import dev.vtprune.internal.Args;

/**
 * FLOPs of an LVLM prefill (design §5), in the convention that reproduces IVTP's Table 3:
 * a multiply-add is 2 FLOPs and attention is counted without the causal half.
 *
 * <ul>
 *   <li>decoder layer on n tokens: {@code 2 (2 n d^2 (1 + Hkv/Hq) + 2 n^2 d + 3 n d m)} — the q and
 *       o projections, the k and v projections shrunk by GQA, QK^T and AV, a SwiGLU MLP;
 *   <li>LM head over all n positions: {@code 2 n d vocab};
 *   <li>vision encoder, per tile of n = 1 + patches tokens and each layer that runs:
 *       {@code 2 (4 n D^2 + 2 n^2 D + 2 n D M)}, plus the patch embedding {@code 2 P (3 p^2) D};
 *   <li>projector over the visual tokens: {@code 2 V (in h + h out)}.
 * </ul>
 * A pruned prefill counts every decoder layer at its own sequence length; a probe that runs
 * the first layers on the full sequence before pruning counts those layers at full length too.
 */
public final class Flops {
    private Flops() {}

    /**
     * FLOPs by part. {@code llm()} is the decoder layers plus the LM head (IVTP's "LLM" column).
     */
    public record Breakdown(double vision, double projector, double decoder, double lmHead, double extra) {
        /** No extra structures. */
        public Breakdown(double vision, double projector, double decoder, double lmHead) {
            this(vision, projector, decoder, lmHead, 0);
        }

        public double llm() {
            return decoder + lmHead;
        }

        /**
         * Everything; {@code extra} is what a method adds outside the LVLM (IVTP's CLIP text
         * encoder: IVTP Table 9's "extra" column).
         */
        public double total() {
            return vision + projector + decoder + lmHead + extra;
        }
    }

    /**
     * A CLIP text tower (CLIPTextModel + text projection): pre-norm causal layers of width w and
     * MLP width m over at most {@code context} tokens (CLIP truncates longer text), then the
     * projection of the features to the joint space.
     */
    public record TextEncoder(int layers, int width, int mlp, int context, int projection) {
        /** The text tower of openai/clip-vit-large-patch14(-336): 12 layers, 768 wide, 77 positions, 768-d joint space. */
        public static final TextEncoder CLIP_L14 = new TextEncoder(12, 768, 3072, 77, 768);
    }

    /**
     * The text encoder on {@code min(tokens, context)} tokens: per layer
     * {@code 2 (4 n w^2 + 2 n^2 w + 2 n w m)} (the ViT layer's form), plus {@code 2 n w p} for the
     * projection of every token's feature (IVTP eq. 6 compares every text token with the CLS).
     */
    public static double textEncoder(TextEncoder t, long tokens) {
        Args.atLeast(tokens, "tokens", 0);
        double n = Math.min(tokens, t.context()), w = t.width();
        return t.layers() * 2.0 * (4.0 * n * w * w + 2.0 * n * n * w + 2.0 * n * w * t.mlp()) + 2.0 * n * w * t.projection();
    }

    public static double decoderLayer(ModelConfig.Language lm, long n) {
        double d = lm.hidden(), m = lm.intermediate(), gqa = (double) lm.kvHeads() / lm.heads();
        return 2.0 * (2.0 * n * d * d * (1.0 + gqa) + 2.0 * (double) n * n * d + 3.0 * n * d * m);
    }

    public static double lmHead(ModelConfig.Language lm, long n) {
        return 2.0 * n * lm.hidden() * (double) lm.vocab();
    }

    /** One ViT layer over n tokens (CLS included) of one tile. */
    public static double visionLayer(ModelConfig.Vision v, long n) {
        double dim = v.hidden(), mlp = v.mlp();
        return 2.0 * (4.0 * n * dim * dim + 2.0 * (double) n * n * dim + 2.0 * n * dim * mlp);
    }

    /** The vision encoder over `tiles` tiles (each a full ViT pass). */
    public static double vision(ModelConfig.Vision v, long tiles) {
        long[] all = new long[v.layers()];
        java.util.Arrays.fill(all, v.patches());
        return vision(v, tiles, all);
    }

    /**
     * The vision encoder over `tiles` tiles where layer l runs on {@code patches[l]} patch
     * tokens (+ the CLS) in every tile: pruning inside the ViT (IVTP's GTP), plus the patch
     * embedding of every patch.
     */
    public static double vision(ModelConfig.Vision v, long tiles, long[] patches) {
        if (patches.length != v.layers()) {
            throw Args.error("patches", "have one entry per ViT layer (" + v.layers() + ")", patches.length);
        }
        double layers = 0;
        for (long n : patches) {
            if (n < 0 || n > v.patches()) throw Args.error("patches", "hold counts in [0, " + v.patches() + "]", n);
            layers += visionLayer(v, 1 + n);
        }
        double patchEmbed = 2.0 * v.patches() * (3.0 * v.patchSize() * v.patchSize()) * v.hidden();
        return tiles * (layers + patchEmbed);
    }

    public static double projector(ModelConfig.Projector p, long visualTokens) {
        return 2.0 * visualTokens * ((double) p.in() * p.hidden() + (double) p.hidden() * p.out());
    }

    /** Tiles needed to produce `visualTokens` tokens (each tile gives tokensPerTile). */
    public static long tilesFor(ModelConfig c, long visualTokens) {
        long per = c.vision().tokensPerTile();
        return (visualTokens + per - 1) / per;
    }

    /** The unpruned prefill of V visual and T text tokens. */
    public static Breakdown prefill(ModelConfig c, long visual, long text) {
        return pruned(c, visual, visual, text, 0);
    }

    /**
     * A prefill pruned to `kept` of `visual` tokens before the LM layers, after a probe that
     * runs the first `probeLayers` decoder layers on the full sequence (PTP's instruction probe:
     * lmLayer + 1; 0 for pruning before the LM). The pruned prefill then runs every layer on
     * kept + text tokens (a probe's layers are not reused: the paper's form).
     */
    public static Breakdown pruned(ModelConfig c, long visual, long kept, long text, int probeLayers) {
        Args.atLeast(visual, "visual", 0);
        Args.atLeast(text, "text", 0);
        if (kept < 0 || kept > visual) throw Args.error("kept", "be in [0, visual = " + visual + "]", kept);
        if (probeLayers < 0 || probeLayers > c.language().layers()) {
            throw Args.error("probeLayers", "be in [0, " + c.language().layers() + "]", probeLayers);
        }
        long[] lengths = new long[c.language().layers()];
        java.util.Arrays.fill(lengths, kept + text);
        double probe = 0;
        for (int l = 0; l < probeLayers; l++) probe += decoderLayer(c.language(), visual + text);
        return schedule(c, visual, lengths, probe);
    }

    /**
     * A prefill where decoder layer l runs on lengths[l] tokens (pruning inside the LM, as
     * FastV or IVTP do), plus `extraDecoder` FLOPs (a probe). The LM head covers the last
     * layer's positions.
     */
    public static Breakdown schedule(ModelConfig c, long visual, long[] lengths, double extraDecoder) {
        if (lengths.length != c.language().layers()) {
            throw Args.error("lengths", "have one entry per decoder layer (" + c.language().layers() + ")", lengths.length);
        }
        double decoder = extraDecoder;
        for (long n : lengths) decoder += decoderLayer(c.language(), n);
        return new Breakdown(vision(c.vision(), tilesFor(c, visual)), projector(c.projector(), visual), decoder,
                lmHead(c.language(), lengths[lengths.length - 1]), 0);
    }

    /**
     * A prefill pruned inside the ViT and inside the LM (IVTP): ViT layer l on
     * {@code vitPatches[l]} patches per tile of `tiles`, the projector over `projected` tokens,
     * decoder layer l on {@code lengths[l]} tokens, the LM head over the last layer's, plus
     * `extra` (structures outside the LVLM).
     */
    public static Breakdown layered(ModelConfig c, long tiles, long[] vitPatches, long projected, long[] lengths,
                                    double extra) {
        Args.atLeast(tiles, "tiles", 1);
        Args.atLeast(projected, "projected", 0);
        if (lengths.length != c.language().layers()) {
            throw Args.error("lengths", "have one entry per decoder layer (" + c.language().layers() + ")", lengths.length);
        }
        double decoder = 0;
        for (long n : lengths) decoder += decoderLayer(c.language(), n);
        return new Breakdown(vision(c.vision(), tiles, vitPatches), projector(c.projector(), projected), decoder,
                lmHead(c.language(), lengths[lengths.length - 1]), extra);
    }

    /**
     * A prefill pruned inside the LM with the probe's layers reused (FastV, PTP's reuse form):
     * the first `probeLayers` layers on all visual + text tokens, the rest on kept + text.
     */
    public static Breakdown reused(ModelConfig c, long visual, long kept, long text, int probeLayers) {
        long[] lengths = new long[c.language().layers()];
        for (int l = 0; l < lengths.length; l++) lengths[l] = (l < probeLayers ? visual : kept) + text;
        return schedule(c, visual, lengths, 0);
    }

    /** Default visual tokens of a preset: every tile of its largest grid plus the thumbnail. */
    public static long defaultVisualTokens(ModelConfig c) {
        return c.visualTokens(c.tiling().maxTiles());
    }
}
