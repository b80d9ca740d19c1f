package dev.vtprune.prune;

import dev.vtprune.model.Flops;
import dev.vtprune.model.ModelConfig;

/**
 * IVTP's prefill FLOPs, one definition for {@code vtprune flops --method ivtp}, the demo and
 * {@code vtprune eval}: per-layer ViT patches and LM lengths under the geometric schedule of
 * {@code config} (ViT points, then LM points), the pseudo-CLS in the LM layers up to the
 * last pruning point, and the CLIP text encoder on the text tokens as "extra".
 */
public record IvtpFlops(Flops.Breakdown flops, long[] schedule, long[] vitPatches, long[] lmLengths) {
    public static IvtpFlops of(ModelConfig c, long tiles, long text, IvtpPruner.Config config) {
        return of(c, tiles, text, config, Flops.TextEncoder.CLIP_L14, text);
    }

    /** @param clip the CLIP text tower that makes the pseudo-CLS; clipTokens the text it encodes (at most its context) */
    public static IvtpFlops of(ModelConfig c, long tiles, long text, IvtpPruner.Config config, Flops.TextEncoder clip, long clipTokens) {
        ModelConfig.Vision v = c.vision();
        IvtpPruner p = new IvtpPruner(config);
        long perTile = v.tokensPerTile(), blockPatches = (long) v.merge() * v.merge();
        long[] k = p.schedule(v.layers(), perTile);
        int g = config.groupSize(), vitPoints = IvtpPruner.points(v.layers(), g);
        long[] vit = new long[v.layers()];
        for (int l = 0; l < vit.length; l++) vit[l] = (l < g ? perTile : k[l / g - 1]) * blockPatches;
        int lmLayers = c.language().layers();
        if (config.lmLayers() > lmLayers) {
            throw new IllegalArgumentException("argument '--lm-layers' must be <= " + lmLayers + " (the model's LM layers), got "
                    + config.lmLayers());
        }
        long[] lm = new long[lmLayers];
        for (int l = 0; l < lmLayers; l++) {
            boolean pruning = l < config.lmLayers();
            long tokens = pruning ? k[vitPoints + l / g - 1] : k[k.length - 1];
            lm[l] = tiles * tokens + text + (pruning ? 1 : 0);  // + the pseudo-CLS while it prunes
        }
        double extra = config.lmLayers() > 0 ? Flops.textEncoder(clip, clipTokens) : 0;
        return new IvtpFlops(Flops.layered(c, tiles, vit, tiles * k[vitPoints - 1], lm, extra), k, vit, lm);
    }
}
