package dev.vtprune.eval;

import dev.vtprune.model.Flops;
import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.pipeline.LvlmPipeline;
import dev.vtprune.pipeline.PromptTemplate;
import dev.vtprune.pipeline.Result;
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
 * first question of each; batches of {@link #BATCH} images. FLOPs are the analytic prefill
 * FLOPs ({@link Flops}) of each question's actual sequence, averaged.
 */
public final class Evaluator {
    static final int BATCH = 16;

    /** One table row; keep = 1 and method "none" for the unpruned model. */
    public record Row(String method, double keep, double visualTokens, double tflops, Accuracy accuracy) {}

    private final Lvlm model;
    private final WordTokenizer tok;
    private final LvlmPipeline pipeline;

    public Evaluator(Lvlm model, WordTokenizer tok) {
        this.model = model;
        this.tok = tok;
        this.pipeline = new LvlmPipeline(model, tok, PromptTemplate.INTERNVL);
    }

    /** Rows for "none" (if listed) and every other method at every keep ratio. */
    public List<Row> run(long seed, int n, List<String> methods, List<Double> keeps, PrintWriter progress) {
        List<VqaTask.Sample> samples = new ArrayList<>();
        for (int i = 0; i < n; i++) samples.add(VqaTask.sample(seed, i, 1));
        List<Row> rows = new ArrayList<>();
        for (String m : methods) {
            if (!m.equals("none") && !Pruners.NAMES.contains(m)) {
                throw new IllegalArgumentException("argument '--methods': unknown method '" + m + "'; methods: none, "
                        + String.join(", ", Pruners.NAMES));
            }
            for (double keep : m.equals("none") ? List.of(1.0) : keeps) {
                if (!(keep > 0 && keep <= 1)) throw new IllegalArgumentException("argument '--keep' must hold ratios in (0, 1], got " + keep);
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
        LvlmPipeline.Options options = method.equals("none") ? LvlmPipeline.Options.unpruned()
                : LvlmPipeline.Options.of(Pruners.byName(method, ptp, seed));
        int probeLayers = method.equals("ptp") && ptp.alpha() > 0 || method.equals("fastv") ? ptp.lmLayer() + 1 : 0;
        int right = 0;
        double flops = 0, visual = 0;
        for (int at = 0; at < samples.size(); at += BATCH) {
            List<VqaTask.Sample> batch = samples.subList(at, Math.min(samples.size(), at + BATCH));
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
                    Flops.Breakdown f = method.equals("none") ? Flops.prefill(c, before[b], text)
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
