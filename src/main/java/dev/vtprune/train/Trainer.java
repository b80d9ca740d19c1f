package dev.vtprune.train;

import dev.vtprune.model.CheckpointWriter;
import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelLoader;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.RandomWeights;
import dev.vtprune.model.Training;
import dev.vtprune.model.VisionOutput;
import dev.vtprune.internal.Tensors;
import dev.vtprune.pipeline.PromptTemplate;
import dev.vtprune.task.Question;
import dev.vtprune.task.VqaTask;
import dev.vtprune.task.WordTokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.Set;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Trains the task's LVLM from scratch with LibTorch's autograd and AdamW, through the project's
 * own modules (their forwards under {@link Training#enable()}):
 * <ol>
 * <li>CLIP: the ViT and a {@link ClipModel} (text tower, visual head), contrastive loss between every view's
 *     CLS state and the caption of what that view shows;</li>
 * <li>instruction tuning: ViT, pixel shuffle + MLP projector and decoder LM end to end, the LM
 *     loss on the answer token after the chat template's assistant prefix, questions laid out
 *     exactly as {@link dev.vtprune.pipeline.LvlmPipeline} lays them out.</li>
 * </ol>
 * Training images are samples 0, 1, 2... of the train split, each seen once; the seed draws
 * the initial weights. Linear warm-up then cosine decay to a tenth of the peak rate; gradients
 * clipped to norm 1.
 */
public final class Trainer {
    /**
     * @param clipSteps  stage 1 steps
     * @param steps      stage 2 steps
     * @param images     images per step
     * @param perImage   questions per image in stage 2 (the ViT runs once per image)
     * @param maxMinutes wall-clock budget: stage 2 stops early (and the model is written) once
     *                   it is spent
     * @param pool       0: every training image is new; n > 0: images cycle over the first n
     *                   of the train split (an overfitting check of the pipeline), and their
     *                   accuracy is reported beside the validation accuracy
     * @param init       null: random initial weights; else a checkpoint directory this trainer
     *                   wrote (same preset) whose LVLM weights are the starting point, e.g. a
     *                   colour-only run continued on every question type (a curriculum in
     *                   stages). Its CLIP text tower is not read: the CLIP stage, if any, starts
     *                   a new one. Training images then start again at sample 0.
     * @param ground     weight of the grounding loss beside the answer loss in stage 2 and the
     *                   alignment stage (0: none): a linear head on every visual token the LM
     *                   receives names the object under it (colour and shape, or nothing:
     *                   {@link TaskBatch#ground()}), so that the ViT and the projector learn to
     *                   put each object's identity into its own tokens — the answer loss alone
     *                   kept the tiny model at the question prior (bench/results/eval-2026-12-03c).
     *                   Region-level alignment of this kind is how grounded LVLMs are pre-trained;
     *                   the head is dropped from the checkpoint
     * @param valEvery   0: validation at the end only; n > 0: also every n stage-2 steps, on the
     *                   first min(valImages, 100) validation images
     */
    public record Options(long seed, int clipSteps, int steps, int images, int perImage, double lr, int logEvery,
                          int valImages, double maxMinutes, int pool, Set<Question.Type> types, double visualLr,
                          int alignSteps, Path init, double ground, int valEvery) {
        public Options {
            check(ground >= 0 && Double.isFinite(ground), "--ground", "a finite weight >= 0", ground);
            check(valEvery >= 0, "--val-every", ">= 0", valEvery);
            check(init == null || java.nio.file.Files.isRegularFile(init.resolve("model.safetensors")), "--init",
                    "a checkpoint directory holding model.safetensors", init);
            check(pool >= 0, "--pool", ">= 0", pool);
            check(maxMinutes > 0, "--max-minutes", "> 0", maxMinutes);
            check(clipSteps >= 0, "--clip-steps", ">= 0", clipSteps);
            check(steps >= 1, "--steps", ">= 1", steps);
            check(images >= 1, "--batch", ">= 1", images);
            check(perImage >= 1 && perImage <= 5, "--questions", "in [1, 5]", perImage);
            check(lr > 0, "--lr", "> 0", lr);
            check(logEvery >= 1, "--log-every", ">= 1", logEvery);
            check(valImages >= 0, "--val", ">= 0", valImages);
            check(types != null && !types.isEmpty(), "--types", "at least one question type", types);
            check(visualLr > 0, "--visual-lr", "> 0", visualLr);
            check(alignSteps >= 0, "--align-steps", ">= 0", alignSteps);
            types = Set.copyOf(types);
        }

        /** Every question type, one learning rate for all modules, no alignment stage. */
        public Options(long seed, int clipSteps, int steps, int images, int perImage, double lr, int logEvery,
                       int valImages, double maxMinutes, int pool) {
            this(seed, clipSteps, steps, images, perImage, lr, logEvery, valImages, maxMinutes, pool,
                    EnumSet.allOf(Question.Type.class), 1.0, 0, null, 0, 0);
        }

        private static void check(boolean ok, String arg, String expected, Object got) {
            if (!ok) throw new IllegalArgumentException("argument '" + arg + "' must be " + expected + ", got " + got);
        }
    }

    /** What a run reached. */
    public record Report(double clipLoss, double loss, int steps, double valAccuracy, int valQuestions, double seconds,
                         long parameters) {}

    private final ModelConfig config;
    private final WordTokenizer tok = WordTokenizer.task();
    private final PrintWriter log;

    public Trainer(ModelConfig config, PrintWriter log) {
        if (config.language().vocab() < tok.size()) {
            throw new IllegalArgumentException("model '" + config.name() + "' has a vocabulary of " + config.language().vocab()
                    + " rows; the task's tokenizer needs " + tok.size());
        }
        this.config = config;
        this.log = log;
    }

    public WordTokenizer tokenizer() {
        return tok;
    }

    /** Trains, writes the checkpoint (config.json, model.safetensors with the CLIP tower, clip_config.json, tokenizer.json) to `out`. */
    public Report train(Options o, Path out) {
        long t0 = System.nanoTime();
        torch.manual_seed(o.seed());
        try (Lvlm model = initial(o);
             ClipModel clip = new ClipModel(tok, config.vision().hidden(), o.seed() + 1);
             GroundingHead ground = new GroundingHead(config.language().hidden(), o.seed() + 2)) {
            for (Tensor w : model.weights().values()) w.requires_grad_(true);
            log.printf(Locale.ROOT, "vtprune train: model %s, %,d parameters (+ %,d in the CLIP text tower); %d CPU threads%n",
                    config.name(), model.parameterCount(), count(clip.weights()), torch.get_num_threads());
            long next = 0;  // next training image
            double clipLoss = Double.NaN;
            if (o.clipSteps() > 0) {
                Map<String, Tensor> params = new java.util.LinkedHashMap<>(model.vision().weights());
                params.putAll(clip.weights());
                Stage s = new Stage("clip", params, o.lr(), o.clipSteps(), module -> 1.0);
                for (int step = 0; step < o.clipSteps(); step++) {
                    List<VqaTask.Sample> samples = TaskBatch.samples(VqaTask.Split.TRAIN.seed, next, o.images(), 1);
                    next += o.images();
                    s.step(step, () -> {
                        TaskBatch b = TaskBatch.of(samples, config, tok);
                        VisionOutput v = model.vision().forward(b.pixels());
                        return new Loss(clip.loss(clip.image(v.cls()), clip.text(b.captions()), b.captions()),
                                b.captions().size());
                    }, o.logEvery());
                }
                clipLoss = s.recent();
                s.close();
            }
            long[] cursor = {next};
            if (o.alignSteps() > 0) {
                // Alignment (LLaVA's stage 1): the LM frozen, only the ViT and the projector learn to
                // feed it, so the visual path is trained before the LM settles on the question prior.
                Map<String, Tensor> visual = new java.util.LinkedHashMap<>(model.vision().weights());
                visual.putAll(model.projector().weights());
                if (o.ground() > 0) visual.putAll(ground.weights());
                model.language().weights().values().forEach(w -> w.requires_grad_(false));
                Stage a = new Stage("align", visual, o.lr(), o.alignSteps(), scales(o));
                vqaSteps(model, ground, a, o, o.alignSteps(), cursor, t0);
                a.close();
                model.language().weights().values().forEach(w -> w.requires_grad_(true));
            }
            Map<String, Tensor> all = new java.util.LinkedHashMap<>(model.weights());
            if (o.ground() > 0) all.putAll(ground.weights());
            Stage s = new Stage("vqa", all, o.lr(), o.steps(), scales(o));
            int done = vqaSteps(model, ground, s, o, o.steps(), cursor, t0);
            double loss = s.recent();
            s.close();
            for (Tensor w : model.weights().values()) w.requires_grad_(false);
            if (o.pool() > 0) {
                double[] fit = accuracy(model, VqaTask.Split.TRAIN.seed, o.pool(), o.perImage(), o.types());
                log.printf(Locale.ROOT, "training pool: %.1f%% of %d questions%n", 100 * fit[0], (int) fit[1]);
            }
            double[] val = o.valImages() > 0 ? accuracy(model, VqaTask.Split.VAL.seed, o.valImages(), 1, o.types()) : new double[] {Double.NaN, 0};
            if (o.valImages() > 0) log.printf(Locale.ROOT, "validation: %.1f%% of %d questions%n", 100 * val[0], (int) val[1]);
            CheckpointWriter.write(model, out, clip.weights());
            clip.writeConfig(out);
            tok.write(out.resolve("tokenizer.json"));
            double seconds = (System.nanoTime() - t0) / 1e9;
            log.printf(Locale.ROOT, "wrote %s (config.json, model.safetensors, clip_config.json, tokenizer.json) after %.1f min%n", out, seconds / 60);
            return new Report(clipLoss, loss, done, val[0], (int) val[1], seconds, model.parameterCount());
        }
    }

    /** The starting LVLM: seeded random weights, or those of `o.init()` read as this trainer's preset. */
    private Lvlm initial(Options o) {
        if (o.init() == null) return RandomWeights.create(config, o.seed(), ScalarType.Float);
        try (dev.vtprune.io.SafetensorsCheckpoint source = dev.vtprune.io.SafetensorsCheckpoint.open(o.init())) {
            Lvlm m = ModelLoader.load(config, source, ScalarType.Float, null);
            log.printf(Locale.ROOT, "vtprune train: starting from the weights in %s%n", o.init());
            return m;
        }
    }

    /**
     * Runs `steps` instruction-tuning steps of `stage` on new training images from `cursor[0]`
     * on (or the pool's); returns the steps done before the time budget ran out.
     */
    private int vqaSteps(Lvlm model, GroundingHead ground, Stage stage, Options o, int steps, long[] cursor, long t0) {
        for (int step = 0; step < steps; step++) {
            if (o.valEvery() > 0 && step > 0 && step % o.valEvery() == 0 && o.valImages() > 0) {
                for (Tensor w : model.weights().values()) w.requires_grad_(false);
                double[] val = accuracy(model, VqaTask.Split.VAL.seed, Math.min(100, o.valImages()), 1, o.types());
                log.printf(Locale.ROOT, "%s step %d: validation %.1f%% of %d questions%n", stage.name, step, 100 * val[0], (int) val[1]);
                for (Tensor w : stage.trained()) w.requires_grad_(true);
            }
            if ((System.nanoTime() - t0) / 6e10 > o.maxMinutes()) {
                log.printf(Locale.ROOT, "time budget of %.1f min spent: stopping %s after %d of %d steps%n", o.maxMinutes(),
                        stage.name, step, steps);
                return step;
            }
            List<VqaTask.Sample> samples = o.pool() > 0
                    ? TaskBatch.cycled(VqaTask.Split.TRAIN.seed, cursor[0], o.images(), o.perImage(), o.pool(), o.types())
                    : TaskBatch.samples(VqaTask.Split.TRAIN.seed, cursor[0], o.images(), o.perImage(), o.types());
            cursor[0] += o.images();
            stage.step(step, () -> {
                long d0 = System.nanoTime();
                TaskBatch b = TaskBatch.of(samples, config, tok);
                stage.dataNanos += System.nanoTime() - d0;
                Tensor visual = visualTokens(model, b);
                Tensor logits = answerLogits(model, b, visual);
                Tensor loss = torch.nll_loss(torch.log_softmax(logits, 1), Tensor.create(b.answers()));
                if (o.ground() > 0) {
                    Tensor g = ground.loss(visual, b.ground());
                    stage.groundSum += g.item_double();
                    loss = loss.add(g.mul(new Scalar(o.ground())));
                }
                return new Loss(loss, b.answers().length);
            }, o.logEvery());
        }
        return steps;
    }

    /** Learning-rate multiplier per module: `visualLr` for the ViT and the projector, 1 for the rest. */
    private static java.util.function.ToDoubleFunction<String> scales(Options o) {
        return module -> module.equals("vision") || module.equals("projector") ? o.visualLr() : 1.0;
    }

    private static long count(Map<String, Tensor> w) {
        long n = 0;
        for (Tensor t : w.values()) n += t.numel();
        return n;
    }

    /**
     * [questions, vocab] logits of the token after each question's prompt: the projected visual
     * tokens of its image in the template's visual slots, the LM prefill's last position.
     */
    Tensor answerLogits(Lvlm model, TaskBatch b) {
        return answerLogits(model, b, visualTokens(model, b));
    }

    /** The projected visual tokens of every view, [images * views, t, d]: what the LM's visual slots receive. */
    private static Tensor visualTokens(Lvlm model, TaskBatch b) {
        VisionOutput v = model.vision().forward(b.pixels());
        return model.projector().forward(v.patches());
    }

    private Tensor answerLogits(Lvlm model, TaskBatch b, Tensor visual) {
        long images = b.tilings().size(), d = visual.size(2);
        visual = visual.reshape(images, visual.size(0) / images * visual.size(1), d);  // [images, V, d]
        PromptTemplate.Layout first = b.layouts().get(0);
        int vs = first.visualStart(), vc = first.visualCount(), n = b.layouts().size();
        if (vc != visual.size(1)) throw new IllegalStateException("template has " + vc + " visual slots, the image " + visual.size(1));
        // The template's text before the image and the image's visual tokens are the same for every
        // question of an image: that prefix runs through the LM once per image.
        long[] head = java.util.Arrays.copyOf(first.ids(), vs);
        long[] lengths = new long[n];
        int max = 1;
        for (int i = 0; i < n; i++) {
            PromptTemplate.Layout l = b.layouts().get(i);
            if (l.visualStart() != vs || l.visualCount() != vc || !java.util.Arrays.equals(java.util.Arrays.copyOf(l.ids(), vs), head)) {
                throw new IllegalStateException("questions differ before their visual tokens");
            }
            lengths[i] = l.length() - vs - vc;
            max = (int) Math.max(max, lengths[i]);
        }
        long[] ids = new long[n * max];
        for (int i = 0; i < n; i++) System.arraycopy(b.layouts().get(i).ids(), vs + vc, ids, i * max, (int) lengths[i]);
        Tensor text = model.language().embed(Tensor.create(head, 1, vs)).expand(images, vs, d);
        Tensor prefix = torch.cat(new TensorVector(text, visual), 1);                   // [images, vs + V, d]
        Tensor suffix = model.language().embed(Tensor.create(ids, n, max));
        return model.language().sharedPrefixLogits(prefix, suffix, b.imageOf(), lengths);
    }

    /**
     * {accuracy, questions} of the model's argmax answer over `images` images of `seed`,
     * `perImage` questions each; the accuracy per question type goes to the log.
     */
    double[] accuracy(Lvlm model, long seed, int images, int perImage, Set<Question.Type> types) {
        int right = 0, n = 0;
        java.util.EnumMap<dev.vtprune.task.Question.Type, int[]> byType = new java.util.EnumMap<>(dev.vtprune.task.Question.Type.class);
        for (int at = 0; at < images; at += 16) {
            try (PointerScope scope = new PointerScope()) {
                TaskBatch b = TaskBatch.of(TaskBatch.samples(seed, at, Math.min(16, images - at), perImage, types), config, tok);
                if (b.answers().length == 0) continue;
                long[] guess = Tensors.toLongs(answerLogits(model, b).narrow(1, 0, tok.size()).argmax(new org.bytedeco.pytorch.LongOptional(1), false));
                for (int i = 0; i < guess.length; i++) {
                    int[] t = byType.computeIfAbsent(b.questions().get(i).type(), k -> new int[2]);
                    if (guess[i] == b.answers()[i]) {
                        right++;
                        t[0]++;
                    }
                    t[1]++;
                    n++;
                }
            }
        }
        StringBuilder line = new StringBuilder("  by type:");
        byType.forEach((k, v) -> line.append(String.format(Locale.ROOT, " %s %.0f%% (%d)", k.name().toLowerCase(Locale.ROOT), 100.0 * v[0] / v[1], v[1])));
        log.println(line);
        return new double[] {(double) right / n, n};
    }

    /** A loss and how many examples it averages. */
    private record Loss(Tensor value, int examples) {}

    private interface StepBody {
        Loss run();
    }

    /** One optimiser over a parameter set, its schedule and its progress lines. */
    private final class Stage implements AutoCloseable {
        private final String name;
        private final TensorVector params;
        /** Per parameter, its module (the name's first component): gradient norms are logged per module. */
        private final String[] groups;
        private final Map<String, Double> gradSquares = new java.util.TreeMap<>();
        /** One AdamW per learning-rate multiplier (LibTorch's param groups are not reachable from here). */
        private final List<AdamW> opts = new ArrayList<>();
        private final List<Double> scales = new ArrayList<>();
        private final double lr;
        private final int steps, warmup;
        private final long start = System.nanoTime();
        private double sum, recent = Double.NaN;
        private int count;
        private long examples;
        private long windowStart = System.nanoTime();
        /** Time spent rendering, tiling and laying out the batches since the last progress line. */
        long dataNanos;
        /** Sum of the grounding loss (unweighted) since the last progress line; NaN-free 0 when unused. */
        double groundSum;

        Stage(String name, Map<String, Tensor> params, double lr, int steps, java.util.function.ToDoubleFunction<String> scaleOf) {
            this.name = name;
            this.params = new TensorVector(params.values().toArray(new Tensor[0]));
            this.groups = params.keySet().stream().map(k -> k.substring(0, Math.max(0, k.indexOf('.')))).toArray(String[]::new);
            Map<Double, TensorVector> byScale = new java.util.TreeMap<>();
            int i = 0;
            for (Tensor t : params.values()) byScale.computeIfAbsent(scaleOf.applyAsDouble(groups[i++]), k -> new TensorVector()).push_back(t);
            byScale.forEach((scale, group) -> {
                AdamWOptions options = new AdamWOptions(lr * scale);
                options.weight_decay().put(0.01);
                opts.add(new AdamW(group, options));
                scales.add(scale);
            });
            this.lr = lr;
            this.steps = steps;
            this.warmup = Math.max(1, Math.min(50, steps / 10));
        }

        double rate(int step) {
            if (step < warmup) return lr * (step + 1) / warmup;
            double t = (double) (step - warmup) / Math.max(1, steps - warmup);
            return lr * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * t)));
        }

        void step(int step, StepBody body, int every) {
            double value;
            int n;
            try (PointerScope scope = new PointerScope(); Training.Mode mode = Training.enable()) {
                for (int o = 0; o < opts.size(); o++) {
                    AdamW opt = opts.get(o);
                    for (long g = 0; g < opt.param_groups().size(); g++) opt.param_groups().get(g).options().set_lr(rate(step) * scales.get(o));
                    opt.zero_grad();
                }
                Loss loss = body.run();
                loss.value().backward();
                clip(1.0);
                for (AdamW opt : opts) opt.step();
                value = loss.value().item_double();
                n = loss.examples();
            }
            if (!Double.isFinite(value)) throw new IllegalStateException(name + " loss became " + value + " at step " + step);
            sum += value;
            count++;
            examples += n;
            if ((step + 1) % every == 0 || step + 1 == steps) {
                double now = System.nanoTime(), window = (now - windowStart) / 1e9;
                recent = sum / count;
                StringBuilder grads = new StringBuilder();
                gradSquares.forEach((g, sq) -> grads.append(String.format(Locale.ROOT, " %s %.3f", g, Math.sqrt(sq))));
                String groundPart = groundSum > 0 ? String.format(Locale.ROOT, " (grounding %.4f)", groundSum / count) : "";
                log.printf(Locale.ROOT, "%s step %d/%d  loss %.4f%s  lr %.2e  %.1f examples/s (data %.0f%%)  %.1f s elapsed  grad norm:%s%n",
                        name, step + 1, steps, recent, groundPart, rate(step), examples / window, 100 * dataNanos / (now - windowStart),
                        (now - start) / 1e9, grads);
                dataNanos = 0;
                groundSum = 0;
                log.flush();
                sum = 0;
                count = 0;
                examples = 0;
                windowStart = System.nanoTime();
            }
        }

        /** Scales all gradients so that their global L2 norm is at most `max`. */
        private void clip(double max) {
            double total = 0;
            gradSquares.clear();
            for (long i = 0; i < params.size(); i++) {
                Tensor g = params.get(i).grad();
                if (!g.defined()) continue;
                double sq = g.pow(new Scalar(2.0)).sum().item_double();
                total += sq;
                gradSquares.merge(groups[(int) i], sq, Double::sum);
            }
            double norm = Math.sqrt(total);
            if (norm > max) {
                for (long i = 0; i < params.size(); i++) {
                    Tensor g = params.get(i).grad();
                    if (g.defined()) g.mul_(new Scalar(max / norm));
                }
            }
        }

        double recent() {
            return recent;
        }

        /** The tensors this stage's optimisers update. */
        List<Tensor> trained() {
            List<Tensor> out = new ArrayList<>();
            for (long i = 0; i < params.size(); i++) out.add(params.get(i));
            return out;
        }

        @Override
        public void close() {
            for (AdamW opt : opts) opt.close();
        }
    }
}
