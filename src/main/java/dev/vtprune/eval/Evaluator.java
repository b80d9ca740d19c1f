package dev.vtprune.eval;

import dev.vtprune.model.Flops;
import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.pipeline.IvtpText;
import dev.vtprune.pipeline.LvlmPipeline;
import dev.vtprune.pipeline.PromptTemplate;
import dev.vtprune.pipeline.Result;
import dev.vtprune.pipeline.image.DynamicTiler;
import dev.vtprune.prune.IvtpFlops;
import dev.vtprune.prune.IvtpPruner;
import dev.vtprune.prune.Pruners;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.task.Question;
import dev.vtprune.task.Renderer;
import dev.vtprune.task.VqaTask;
import dev.vtprune.task.WordTokenizer;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Tensor;

/**
 * Accuracy of the trained model on a split of the task, unpruned and with each pruning method
 * at each keep ratio, through the inference pipeline ({@link LvlmPipeline}) exactly as the demo
 * runs it: the answer is the argmax token after the prompt. Images i = 0..n-1 of the seed, the
 * first question of each; batches of {@link #BATCH} images (IVTP one image per run: its LM
 * stage prunes per prompt). FLOPs are the analytic prefill FLOPs ({@link Flops},
 * {@link IvtpFlops} with the CLIP text encoder for IVTP) of each question's actual sequence,
 * averaged.
 *
 * <p>IVTP runs both GTP stages: the ViT's groups of 3 layers and the paper's W = 12 of 32 LM
 * layers scaled to this LM's depth ({@link IvtpPruner.Config#scaledLmLayers}), against the
 * pseudo-CLS of the checkpoint's own CLIP text tower; a keep ratio r keeps r of each tile's
 * visual tokens at the end ({@link IvtpPruner.Config#withFinalRatio}), as the demo's
 * {@code --ratio} does.
 */
public final class Evaluator {
    static final int BATCH = 16;
    /** The visual tokens per image that the papers' 64-token setting keeps (LLaVA-1.5's 576 -> 64). */
    public static final int PAPER_TOKENS = 64;

    /** One table row; keep = 1 and method "none" for the unpruned model. */
    public record Row(String method, double keep, double visualTokens, double tflops, Accuracy accuracy) {}

    private final Lvlm model;
    private final WordTokenizer tok;
    private final LvlmPipeline pipeline;
    private final IvtpText ivtpText;
    private final boolean originalPositions;

    public Evaluator(Lvlm model, WordTokenizer tok) {
        this(model, tok, null);
    }

    /** @param ivtpText CLIP's side of IVTP's LM stage (the checkpoint's tower), or null: then ivtp is refused; not owned */
    public Evaluator(Lvlm model, WordTokenizer tok, IvtpText ivtpText) {
        this(model, tok, ivtpText, true);
    }

    /**
     * @param originalPositions whether tokens kept before the LM keep their unpruned RoPE
     *                          positions ({@link LvlmPipeline.Options#originalPositions()})
     */
    public Evaluator(Lvlm model, WordTokenizer tok, IvtpText ivtpText, boolean originalPositions) {
        this.originalPositions = originalPositions;
        this.model = model;
        this.tok = tok;
        this.ivtpText = ivtpText;
        this.pipeline = new LvlmPipeline(model, tok, PromptTemplate.INTERNVL, ivtpText);
    }

    /** Every method {@link #run} takes: none (unpruned), ivtp, and {@link Pruners#NAMES}. */
    public static List<String> methods() {
        List<String> m = new ArrayList<>(List.of("none", "ivtp"));
        m.addAll(Pruners.NAMES);
        return m;
    }

    /** Visual tokens per task image unpruned: the views of its tiling (tiles and thumbnail) times the tokens per tile. */
    public static int visualTokensPerImage(ModelConfig c) {
        DynamicTiler tiler = DynamicTiler.forModel(c);
        int tiles = tiler.gridFor(VqaTask.WIDTH, VqaTask.HEIGHT).tiles();
        int views = tiles + (tiler.thumbnail() && tiles > 1 ? 1 : 0);
        return views * c.vision().tokensPerTile();
    }

    /**
     * The default keep ratios: 50%, 25%, 11.1% (the papers' 576 -> 64 of LLaVA-1.5) and the
     * ratio that leaves {@link #PAPER_TOKENS} visual tokens per image, 64 / {@link #visualTokensPerImage}
     * (vqa-tiny: 64 / 144 = 0.444), omitted when the model has at most 64 per image.
     */
    public static List<Double> defaultKeeps(ModelConfig c) {
        List<Double> k = new ArrayList<>(List.of(0.5, 0.25, 0.111));
        int v = visualTokensPerImage(c);
        if (v > PAPER_TOKENS) k.add((double) PAPER_TOKENS / v);
        return k;
    }

    /** Rows for "none" (if listed) and every other method at every keep ratio. */
    public List<Row> run(long seed, int n, List<String> methods, List<Double> keeps, PrintWriter progress) {
        for (String m : methods) {
            if (!methods().contains(m)) {
                throw new IllegalArgumentException("argument '--methods': unknown method '" + m + "'; methods: "
                        + String.join(", ", methods()));
            }
            if (m.equals("ivtp") && ivtpText == null) {
                throw new IllegalArgumentException("argument '--model-dir': method ivtp needs the checkpoint's CLIP text tower "
                        + "(clip_config.json and clip.* tensors, written by ./vtprune train) for its LM stage; this checkpoint "
                        + "has none: retrain it, or leave ivtp out of --methods");
            }
        }
        for (double keep : keeps) {
            if (!(keep > 0 && keep <= 1)) throw new IllegalArgumentException("argument '--keep' must hold ratios in (0, 1], got " + keep);
        }
        List<VqaTask.Sample> samples = new ArrayList<>();
        for (int i = 0; i < n; i++) samples.add(VqaTask.sample(seed, i, 1));
        List<Row> rows = new ArrayList<>();
        for (String m : methods) {
            for (double keep : m.equals("none") ? List.of(1.0) : keeps) {
                long t0 = System.nanoTime();
                Row r = row(m, keep, samples, seed);
                rows.add(r);
                progress.printf(Locale.ROOT, "eval %-8s keep %.3f: %.1f%% (%d/%d), %.0f visual tokens, %.4f GFLOPs, %.1f s%n", m, keep,
                        100 * r.accuracy().value(), r.accuracy().right(), r.accuracy().n(), r.visualTokens(), r.tflops() * 1e3,
                        (System.nanoTime() - t0) / 1e9);
                progress.flush();
            }
        }
        return rows;
    }

    private Row row(String method, double keep, List<VqaTask.Sample> samples, long seed) {
        ModelConfig c = model.config();
        PyramidTokenPruner.Config ptp = PyramidTokenPruner.Config.PAPER.withRatio(1 - keep);
        IvtpPruner.Config ivtp = method.equals("ivtp")
                ? IvtpPruner.Config.PAPER.withLmLayers(IvtpPruner.Config.scaledLmLayers(c.language().layers())).withFinalRatio(keep)
                : null;
        LvlmPipeline.Options options = method.equals("none") ? LvlmPipeline.Options.unpruned()
                : LvlmPipeline.Options.of(ivtp != null ? new IvtpPruner(ivtp) : Pruners.byName(method, ptp, seed))
                        .withOriginalPositions(originalPositions);
        int batchSize = ivtp != null && ivtp.lmLayers() > 0 ? 1 : BATCH;  // the LM stage prunes one prompt per run
        int probeLayers = method.equals("ptp") && ptp.alpha() > 0 || method.equals("fastv") ? ptp.lmLayer() + 1 : 0;
        int right = 0;
        double flops = 0, visual = 0;
        for (int at = 0; at < samples.size(); at += batchSize) {
            List<VqaTask.Sample> batch = samples.subList(at, Math.min(samples.size(), at + batchSize));
            List<BufferedImage> images = new ArrayList<>();
            List<String> prompts = new ArrayList<>();
            for (VqaTask.Sample s : batch) {
                images.add(Renderer.render(s.scene()));
                prompts.add(s.questions().get(0).text());
            }
            try (PointerScope scope = new PointerScope(); Result r = pipeline.run(images, prompts, options)) {
                // Only the tokenizer's words can be answers (the LM head has spare rows beyond them).
                Tensor guess = r.logits().narrow(1, 0, tok.size()).argmax(new LongOptional(1), false);
                long[] before = r.visualBefore(), after = r.visualAfter();
                for (int b = 0; b < batch.size(); b++) {
                    Question q = batch.get(b).questions().get(0);
                    if (tok.word(guess.get(b).item_long()).equals(q.answer())) right++;
                    long text = r.sequences().get(b).length() - before[b];
                    Flops.Breakdown f = ivtp != null
                            ? IvtpFlops.of(c, r.tilings().get(b).size(), text, ivtp, ivtpText.flopsShape(),
                                    ivtpText.clipTokens(prompts.get(b))).flops()
                            : method.equals("none") ? Flops.prefill(c, before[b], text)
                            : method.equals("fastv") ? Flops.reused(c, before[b], after[b], text, probeLayers)
                            : Flops.pruned(c, before[b], after[b], text, probeLayers);
                    flops += f.total();
                    visual += after[b];
                }
            }
        }
        int n = samples.size();
        return new Row(method, keep, visual / n, flops / n / 1e12, Accuracy.of(right, n));
    }
}
