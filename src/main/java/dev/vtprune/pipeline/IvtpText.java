package dev.vtprune.pipeline;

import dev.vtprune.internal.Args;
import dev.vtprune.model.ClipTextModel;
import dev.vtprune.model.ClipVisualHead;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.prune.PseudoCls;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * What IVTP's LM stage needs besides the LVLM: CLIP's text tower with its tokenizer, and the
 * image side of CLIP's joint space, to build the pseudo-CLS of a prompt (eq. 5-8,
 * {@link PseudoCls}).
 *
 * <p>Features of eq. 6: for each CLIP text token k, {@code f_k = text_projection(final_layer_norm(h_k))}
 * (every token, not only EOS: eq. 6 needs one per token); for the image,
 * {@code v = visual_projection(post_layernorm(cls))}, CLIP's {@code image_embeds} formula, applied to
 * the CLS state leaving the last ViT layer that runs (for LLaVA layer -2, the one whose features
 * the LM gets; for InternVL's tiles the thumbnail's CLS, the view of the whole image). Both sit
 * in the joint space CLIP trained to align, which is why the cosine between them means
 * "relevant to the image"; the LVLM's own states are not in that space. Using layer -2's CLS for
 * LLaVA avoids running the ViT's last layer only for this (the pruned ViT never runs it).
 *
 * <p>Eq. 7 maps CLIP tokens to the LM's instruction tokens by character offsets into the
 * instruction string through both tokenizers; eq. 8 averages the LM input embeddings of the
 * tokens with {@code C_i >= tau}, else uses the visual CLS projected by the LVLM's projector
 * (for InternVL an m x m block of copies of the CLS, the shape the pixel shuffle needs).
 *
 * <p>Presets with random weights get {@link #random}: a seeded CLIP text tower as wide as the
 * ViT (2 layers), a UTF-8 byte tokenizer on the CLIP side (so eq. 7 aligns through real
 * character offsets, one CLIP token per byte), and a seeded visual head.
 */
public final class IvtpText implements AutoCloseable {
    private final ClipTextModel tower;
    private final Tokenizer tokenizer;
    private final ClipVisualHead visual;
    private final double tau;

    public IvtpText(ClipTextModel tower, Tokenizer tokenizer, ClipVisualHead visual, double tau) {
        this.tower = Args.notNull(tower, "tower");
        this.tokenizer = Args.notNull(tokenizer, "tokenizer");
        this.visual = Args.notNull(visual, "visual");
        if (!Double.isFinite(tau)) throw Args.error("tau", "be a finite number (paper: 0.2)", tau);
        this.tau = tau;
    }

    /** A seeded random tower, tokenizer and head matching `c`'s ViT width (see the class comment). */
    public static IvtpText random(ModelConfig c, long seed, double tau) {
        int h = c.vision().hidden(), heads = c.vision().heads();
        ClipTextModel.Config cfg = new ClipTextModel.Config(512, h, 4 * h, 2, heads, ClipText.MAX_LENGTH, h, 1e-5);
        return new IvtpText(ClipTextModel.random(cfg, seed, ScalarType.Float), new ByteTokenizer(512),
                ClipVisualHead.random(h, h, 1e-5, seed + 1, ScalarType.Float), tau);
    }

    /** The tower's shape for the FLOPs model. */
    public dev.vtprune.model.Flops.TextEncoder flopsShape() {
        ClipTextModel.Config c = tower.config();
        return new dev.vtprune.model.Flops.TextEncoder(c.layers(), c.hidden(), c.intermediate(), c.maxPositions(),
                c.projection());
    }

    /** CLIP tokens of the instruction's encoding (start and end included, truncated to the context). */
    public int clipTokens(String instruction) {
        return ClipText.encode(tokenizer, instruction, tower.config().maxPositions()).size();
    }

    public double tau() {
        return tau;
    }

    public String describe() {
        return "CLIP text tower " + tower.config().layers() + " layers x " + tower.config().hidden() + ", tokenizer "
                + tokenizer.describe();
    }

    /**
     * @param instruction  the instruction text
     * @param lmStart      char spans of the LM's instruction tokens in `instruction`; lmEnd likewise
     * @param lmEmbeddings [Tl, D] their LM input embeddings
     * @param cls          [visionHidden] the image's CLS state
     * @param clsLm        [D] the CLS projected into the LM's space (eq. 8's fallback)
     */
    public PseudoCls.Result pseudoCls(String instruction, int[] lmStart, int[] lmEnd, Tensor lmEmbeddings, Tensor cls,
                                      Tensor clsLm) {
        Encoding e = ClipText.encode(tokenizer, instruction, tower.config().maxPositions());
        try (ClipTextModel.Output out = tower.forward(e.ids())) {
            Tensor v = visual.apply(cls);
            return PseudoCls.compute(out.features(), v, e.start(), e.end(), lmStart, lmEnd, lmEmbeddings, clsLm, tau);
        }
    }

    @Override
    public void close() {
        tower.close();
        visual.close();
        tokenizer.close();
    }
}
