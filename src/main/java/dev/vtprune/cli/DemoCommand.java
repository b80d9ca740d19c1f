package dev.vtprune.cli;

import dev.vtprune.Generation;
import dev.vtprune.GenerationConfig;
import dev.vtprune.LoadedModel;
import dev.vtprune.TokenListener;
import dev.vtprune.Vtprune;
import dev.vtprune.io.Safetensors;
import dev.vtprune.model.Flops;
import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.VitPruning;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import dev.vtprune.pipeline.LvlmPipeline;
import dev.vtprune.pipeline.Result;
import dev.vtprune.pipeline.Timings;
import dev.vtprune.pipeline.image.ImageLoader;
import dev.vtprune.pipeline.image.Overlay;
import dev.vtprune.pipeline.image.SampleImage;
import dev.vtprune.pipeline.image.Tiling;
import dev.vtprune.model.LmPruning;
import dev.vtprune.pipeline.IvtpDump;
import dev.vtprune.prune.Pruners;
import dev.vtprune.prune.PyramidTokenPruner;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vtprune demo} — the main job: one image through the LVLM pipeline, unpruned and
 * pruned, with measured timings, FLOPs, per-region budgets and an overlay PNG of the kept
 * tokens. By default the trained task model ({@value #TRAINED}, `vtprune train`) on the bundled
 * task image with its question: the output names the object asked about, the expected answer, how
 * many of the object's tokens the pruned run kept, and the overlay outlines the object.
 * --model PRESET runs a preset with seeded random weights at real model proportions on the
 * bundled 1344 x 896 sample (the selection is then structural, not semantic, and the output says
 * so); --model-dir loads a real InternVL2 / LLaVA-1.5 checkpoint. The model, its tokenizer, template and pruner come from
 * {@link Vtprune#builder()}, as in any Java caller; this command adds the repeated timed runs,
 * the report and the overlay. After the last measured run of each mode it generates the answer
 * ({@link LoadedModel#generate(Result, GenerationConfig, TokenListener)}: greedy by default,
 * --max-new-tokens, --temperature, --top-p, --sample-seed, --stop) from that run's KV cache and
 * prints both answers with their decode tokens/s.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Run one image through the LVLM pipeline with and without pruning; print a summary, write an overlay PNG.")
final class DemoCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--image", paramLabel = "PNG|JPEG", description = "Image (default: the bundled sample, 1344 x 896).")
    Path image;

    /** The instruction for images other than the task's (the bundled 1344 x 896 sample, --image). */
    static final String GENERAL_PROMPT = "Where is the red ball, and what is written on the sign?";

    @Option(names = "--prompt", description = "The instruction. Default: with the trained model and no --image, the bundled "
            + "task image's question; else \"" + GENERAL_PROMPT + "\".")
    String prompt;

    @Option(names = "--method", defaultValue = "ptp", description = "ptp, ivtp, cls-topk, random, spatial, fastv. Default: ${DEFAULT-VALUE}.")
    String method;

    @Option(names = "--keep", paramLabel = "N", description = "ivtp: visual tokens kept per tile at the end (default: 1 - ratio of them).")
    Long keep;

    @Mixin
    final PtpOptions ptp = new PtpOptions();

    @Option(names = "--model", description = "Preset with random weights, for timing at real model proportions (demo, demo-llava, "
            + "tiny, internvl2-1b, ...). Default: the trained task model (" + TRAINED + ").")
    String preset;

    @Option(names = "--model-dir", paramLabel = "DIR", description = "A Hugging Face checkpoint (config.json + safetensors) instead of a preset. "
            + "Default: the trained task model (" + TRAINED + ").")
    Path modelDir;

    /** The committed trained model, relative to the project (the launcher's vtprune.home, else the working directory). */
    static final String TRAINED = "models/vqa-tiny";

    @Option(names = "--dtype", defaultValue = "float32", description = "float32 or bfloat16. Default: ${DEFAULT-VALUE}.")
    String dtype;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda (needs LibTorch's CUDA natives). Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the random weights and of the random method. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--repeat", defaultValue = "3", description = "Measured runs of each mode (after one warm-up); medians are shown. Default: ${DEFAULT-VALUE}.")
    int repeat;

    @Option(names = "--reuse-probe", description = "Reuse the probe's LM layers instead of re-running them (beyond the paper).")
    boolean reuseProbe;

    @Option(names = "--compact-positions", description = "Number the pruned sequence's tokens from 0 instead of keeping "
            + "their unpruned RoPE positions (pruning before the LM and IVTP's ViT stage).")
    boolean compactPositions;

    @Option(names = "--out", defaultValue = "demo-out", paramLabel = "DIR", description = "Where the overlay PNG goes. Default: ${DEFAULT-VALUE}.")
    Path out;

    @Option(names = "--dump", paramLabel = "F.safetensors", description = "Also write the pruner's inputs for `vtprune prune`.")
    Path dump;

    @Option(names = "--lm-layers", paramLabel = "W", description = "ivtp: LM layers that prune against the pseudo-CLS "
            + "(default: the paper's 12 of 32, scaled to the LM's depth; 0 = the ViT stage only).")
    Integer lmLayers;

    @Option(names = "--dump-ivtp", paramLabel = "FILE.json", description = "ivtp: write every pruning point (counts, kept ids, "
            + "scores) and the pseudo-CLS relevance as JSON.")
    Path dumpIvtp;

    @Option(names = "--max-new-tokens", paramLabel = "N",
            description = "Tokens of the answer generated after each prefill (unpruned and pruned). Default: 1 for the task "
                    + "model (its answers are one word), else 8.")
    Integer maxNewTokensOption;

    private int maxNewTokens;

    /** The task's sample when the demo shows the trained model on its bundled task image; else null. */
    private dev.vtprune.task.VqaTask.Sample taskSample;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0",
            description = "Sampling temperature, >= 0; 0 = greedy. Default: ${DEFAULT-VALUE}.")
    double temperature;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "1",
            description = "Nucleus mass in (0, 1] when sampling. Default: ${DEFAULT-VALUE}.")
    double topP;

    @Option(names = "--sample-seed", paramLabel = "S", defaultValue = "0",
            description = "Seed of the sampler (the same seed gives the same answer). Default: ${DEFAULT-VALUE}.")
    long sampleSeed;

    @Option(names = "--stop", paramLabel = "ID", split = ",",
            description = "Token ids that end the answer, besides the tokenizer's end of turn.")
    long[] stop;

    private GenerationConfig generation;

    @Override
    public Integer call() throws Exception {
        main.setUp();
        if (preset == null && modelDir == null) {
            Path home = Path.of(System.getProperty("vtprune.home", "."));
            modelDir = home.resolve(TRAINED);
            if (!Files.exists(modelDir.resolve("config.json"))) {
                throw new IllegalArgumentException("argument '--model-dir': the trained task model is not at " + modelDir
                        + " (retrain it with ./vtprune train, or pass --model demo for a preset with random weights)");
            }
        }
        Path tokenizerFile = modelDir == null ? null
                : (Files.isDirectory(modelDir) ? modelDir : modelDir.toAbsolutePath().getParent()).resolve("tokenizer.json");
        boolean taskModel = tokenizerFile != null && Files.isRegularFile(tokenizerFile)
                && dev.vtprune.task.WordTokenizer.isWordLevel(tokenizerFile);
        if (taskModel && image == null) taskSample = dev.vtprune.task.VqaTask.demoSample();
        if (prompt == null) prompt = taskSample != null ? taskSample.questions().get(0).text() : GENERAL_PROMPT;
        maxNewTokens = maxNewTokensOption != null ? maxNewTokensOption : taskModel ? 1 : 8;
        if (repeat < 1) throw new IllegalArgumentException("argument '--repeat' must be >= 1, got " + repeat);
        if (prompt.isEmpty()) throw new IllegalArgumentException("argument '--prompt' must not be empty (the instruction is what PTP reads)");
        if (!Pruners.NAMES.contains(method) && !method.equals("ivtp")) {
            throw new IllegalArgumentException("argument '--method' must be one of ivtp, " + String.join(", ", Pruners.NAMES)
                    + ", got '" + method + "'");
        }
        if (dump != null && method.equals("ivtp")) {
            throw new IllegalArgumentException("argument '--dump' writes the inputs of `vtprune prune` (PTP and the baselines); "
                    + "for IVTP's pruning points use --dump-ivtp FILE.json");
        }
        if (dumpIvtp != null && !method.equals("ivtp")) throw new IllegalArgumentException("argument '--dump-ivtp' applies to --method ivtp only");
        PrintWriter say = main.spec.commandLine().getOut();
        PrintWriter progress = main.spec.commandLine().getErr();
        Vtprune.Builder builder;
        try {  // the builder checks every model option it can before anything is loaded
            builder = Vtprune.builder().dtype(dtype).device(device).seed(seed).method(method).ratio(ptp.ratio).alpha(ptp.alpha)
                    .reuseProbe(reuseProbe).originalPositions(!compactPositions).progress((String line) -> progress.println(line.startsWith(" ") ? line : "vtprune demo: " + line));
            if (modelDir != null) builder.modelDir(modelDir);
            else builder.preset(preset);
            if (keep != null) builder.keep(keep);
            if (lmLayers != null) builder.lmLayers(lmLayers);
        } catch (IllegalArgumentException e) {
            throw flags(e);
        }
        try {
            generation = GenerationConfig.builder().maxNewTokens(maxNewTokens).temperature(temperature).topP(topP)
                    .seed(sampleSeed).stopTokens(stop == null ? new long[0] : stop).build();
        } catch (IllegalArgumentException e) {
            throw flags(e);
        }
        if (dumpIvtp != null) writableFile(dumpIvtp, "--dump-ivtp");
        if (modelDir == null) {  // the byte tokenizer: one token per UTF-8 byte, known before the model is built
            ModelConfig c = FlopsCommand.preset(preset, "--model");
            long bytes = prompt.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
            if (maxNewTokens >= c.language().maxPositions()) {  // the exact room after the prompt is checked when generating
                throw new IllegalArgumentException("argument '--max-new-tokens' must be < the model's context of "
                        + c.language().maxPositions() + " positions, got " + maxNewTokens);
            }
            if (bytes >= c.language().maxPositions()) {
                throw new IllegalArgumentException("argument '--prompt' must fit the model's context of " + c.language().maxPositions()
                        + " positions with the image, got " + bytes + " tokens (UTF-8 bytes)");
            }
        }
        writableDirectory(out, "--out");
        if (dump != null) writableFile(dump, "--dump");

        BufferedImage picture = image != null ? image(image)
                : taskSample != null ? dev.vtprune.task.Renderer.render(taskSample.scene()) : SampleImage.load();
        String imageName = image != null ? image.toString()
                : taskSample != null ? "the bundled task image (test split sample " + taskSample.index() + ")" : "the bundled sample image";
        try (LoadedModel vt = builder.load()) {
            return run(vt, picture, imageName, say, progress);
        } catch (IllegalArgumentException e) {  // the library's argument names, as this command's flags
            throw flags(e);
        }
    }

    /** The exception with the builder's and the pipeline's argument names replaced by this command's flags. */
    static IllegalArgumentException flags(IllegalArgumentException e) {
        return Main.renamed(e, "argument 'instructions[0]'", "argument '--prompt'", "argument 'modelDir'", "argument '--model-dir'",
                "argument 'preset'", "argument '--model'", "argument 'lmLayers'", "argument '--lm-layers'",
                "argument 'dtype'", "argument '--dtype'", "argument 'device'", "argument '--device'",
                "argument 'method'", "argument '--method'", "argument 'ratio'", "argument '--ratio'",
                "argument 'alpha'", "argument '--alpha'", "argument 'keep'", "argument '--keep'",
                "argument 'maxNewTokens'", "argument '--max-new-tokens'", "argument 'temperature'", "argument '--temperature'",
                "argument 'topP'", "argument '--top-p'", "argument 'stopTokens'", "argument '--stop'",
                "applies to method ivtp", "applies to --method ivtp", "when modelDir is given", "when --model-dir is given",
                "and modelDir ", "and --model-dir ");
    }

    private Integer run(LoadedModel vt, BufferedImage picture, String imageName, PrintWriter say, PrintWriter progress)
            throws Exception {
        ModelConfig c = vt.config();
        LvlmPipeline pipeline = vt.pipeline();
        LvlmPipeline.Options pruned = vt.options();
        LvlmPipeline.Options unpruned = LvlmPipeline.Options.unpruned();
        List<BufferedImage> images = List.of(picture);
        List<String> prompts = List.of(prompt);

        progress.println("vtprune demo: warming up (one run of each mode), then " + repeat + " measured run(s) of each");
        close(vt.run(images, prompts, unpruned));
        close(vt.run(images, prompts, pruned));
        List<Timings> full = new ArrayList<>(), cut = new ArrayList<>();
        Result lastFull = null, lastCut = null;
        for (int i = 0; i < repeat; i++) {
            close(lastFull);
            close(lastCut);
            lastFull = vt.run(images, prompts, unpruned);
            lastCut = vt.run(images, prompts, pruned.withCapture(dump != null && i == repeat - 1));
            full.add(lastFull.timings());
            cut.add(lastCut.timings());
        }
        try (Result rf = lastFull; Result rp = lastCut) {
            progress.println("vtprune demo: generating up to " + generation.maxNewTokens() + " tokens after each prefill");
            Generation gf = vt.generate(rf, generation, TokenListener.NONE);
            Generation gp = vt.generate(rp, generation, TokenListener.NONE);
            report(say, vt, imageName, rf, rp, full, cut);
            answers(say, vt, gf, gp);
            Path png = out.resolve("overlay.png");
            Files.createDirectories(out);
            Tiling tiling = rp.tilings().get(0);
            int grid = c.vision().grid() / c.vision().merge();
            long[] keptIds = rp.selection().keptIndices();
            List<java.awt.Rectangle> marks = new ArrayList<>();
            if (taskSample != null) {
                dev.vtprune.task.Question q = taskSample.questions().get(0);
                for (dev.vtprune.task.SceneObject o : q.about()) {
                    marks.add(new java.awt.Rectangle(o.cx() - o.radius(), o.cy() - o.radius(), 2 * o.radius() + 1, 2 * o.radius() + 1));
                }
                say.println(objectTokens(taskSample, tiling, grid, keptIds));
            }
            boolean[] keep = Overlay.mask(keptIds, tiling.size() * grid * grid);
            Overlay.Summary s = Overlay.defaults().write(tiling, grid, keep, marks, png);
            say.printf(Locale.ROOT, "overlay: %s (%d x %d px): %s%s%n", png, s.width(), s.height(), s.legend(),
                    marks.isEmpty() ? "" : "; the object asked about is outlined in cyan");
            if (dumpIvtp != null) {
                Files.writeString(dumpIvtp, IvtpDump.json(rp));
                say.println("ivtp pruning points: " + dumpIvtp);
            }
            if (dump != null) {
                Safetensors.write(dump, rp.pruneInputs());
                say.println("pruner inputs: " + dump + " (try: ./vtprune prune --input " + dump + " --patch-merge "
                        + c.vision().merge() + ")");
            }
        }
        return 0;
    }

    /**
     * "question about: ...; expected answer ...; its tokens kept: k of n": the visual tokens that
     * show the asked-about objects (the grounding labels of {@link dev.vtprune.task.Scene#cellObjects})
     * and how many of them the pruned run kept.
     */
    static String objectTokens(dev.vtprune.task.VqaTask.Sample sample, Tiling tiling, int grid, long[] kept) {
        dev.vtprune.task.Question q = sample.questions().get(0);
        java.util.Set<Long> keptSet = new java.util.HashSet<>();
        for (long k : kept) keptSet.add(k);
        List<dev.vtprune.task.SceneObject> objects = sample.scene().objects();
        int on = 0, keptOn = 0, view = 0;
        for (Tiling.Region r : tiling.regions()) {
            int[] cells = sample.scene().cellObjects(r.x(), r.y(), r.width(), r.height(), grid);
            for (int t = 0; t < cells.length; t++) {
                if (cells[t] >= 0 && q.about().contains(objects.get(cells[t]))) {
                    on++;
                    if (keptSet.contains((long) view * grid * grid + t)) keptOn++;
                }
            }
            view++;
        }
        List<String> about = new ArrayList<>();
        for (dev.vtprune.task.SceneObject o : q.about()) about.add(o.words() + " at (" + o.cx() + ", " + o.cy() + ")");
        return String.format(Locale.ROOT, "question about: %s; expected answer: %s; tokens showing it kept by the pruned run: %d of %d",
                about.isEmpty() ? "nothing (the object is absent)" : String.join(", ", about), q.answer(), keptOn, on);
    }

    private static BufferedImage image(Path path) {
        try {
            return ImageLoader.load(path);
        } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
            throw new IllegalArgumentException("argument '--image': " + e.getMessage(), e);
        }
    }

    /** Checked before the model is built, so that a bad path fails in milliseconds rather than after the run. */
    private static void writableDirectory(Path dir, String option) {
        try {
            Files.createDirectories(dir);
        } catch (java.io.IOException | RuntimeException e) {
            throw new IllegalArgumentException("argument '" + option + "': cannot create directory " + dir + " (" + reason(e) + ")", e);
        }
        if (!Files.isWritable(dir)) throw new IllegalArgumentException("argument '" + option + "': directory " + dir + " is not writable");
    }

    private static String reason(Exception e) {
        if (e instanceof java.nio.file.NoSuchFileException) return "no such file or directory";
        if (e instanceof java.nio.file.AccessDeniedException) return "permission denied";
        if (e instanceof java.nio.file.FileAlreadyExistsException) return "a file of that name exists";
        return e.getMessage();
    }

    /** Checks that `file` can be written (before a long run), else an IllegalArgumentException naming `option`. */
    static void writableFile(Path file, String option) {
        if (Files.isDirectory(file)) throw new IllegalArgumentException("argument '" + option + "': " + file + " is a directory");
        boolean existed = Files.exists(file);
        try {  // opening for append neither truncates an existing file nor leaves a new one behind
            java.nio.file.Files.newOutputStream(file, java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.APPEND).close();
            if (!existed) Files.delete(file);
        } catch (java.io.IOException | RuntimeException e) {
            throw new IllegalArgumentException("argument '" + option + "': cannot write " + file + " (" + reason(e) + ")", e);
        }
    }

    private static void close(Result r) {
        if (r != null) r.close();
    }

    private static double median(List<Timings> runs, java.util.function.ToDoubleFunction<Timings> f) {
        double[] v = runs.stream().mapToDouble(f).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    private void report(PrintWriter say, LoadedModel vt, String imageName, Result rf, Result rp, List<Timings> full,
                        List<Timings> cut) {
        ModelConfig c = vt.config();
        Lvlm model = vt.model();
        LvlmPipeline pipeline = vt.pipeline();
        PyramidTokenPruner.Config config = vt.ptpConfig();
        double loadMs = vt.loadMillis();
        Tiling tiling = rp.tilings().get(0);
        TileLayout layout = rp.layout();
        boolean random = vt.randomWeights();
        say.printf(Locale.ROOT, "vtprune demo — model %s (%s, %,d parameters, %s, %s), loaded in %.0f ms%n", c.name(),
                c.family(), model.parameterCount(), random ? "seeded random weights" : "checkpoint " + modelDir,
                Tensors.dtypeName(model.dtype()), loadMs);
        say.printf(Locale.ROOT, "image: %s, %d x %d -> %d x %d grid%s = %d tiles of %d px, %d visual tokens each%n", imageName,
                tiling.source().getWidth(), tiling.source().getHeight(), tiling.cols(), tiling.rows(),
                tiling.hasThumbnail() ? " + thumbnail" : "", tiling.size(), tiling.tileSize(), c.vision().tokensPerTile());
        say.printf(Locale.ROOT, "prompt: \"%s\" (%d tokens: %s)%n", prompt, rp.sequences().get(0).instructionCount(),
                vt.tokenizer().describe());
        String how = method.equals("ptp") ? String.format(Locale.ROOT, "PTP r=%.2f alpha=%.2f, ViT layer %d of %d (paper: 11 of 24), LM layer %d%s",
                ptp.ratio, ptp.alpha, pipeline.scaledVitLayer(config.vitLayer()), c.vision().layers(), config.lmLayer(),
                reuseProbe ? ", probe layers reused" : "")
                : method.equals("ivtp") ? ivtpHow(c, rp)
                : method + String.format(Locale.ROOT, " r=%.2f", ptp.ratio);
        say.println("method: " + how);
        say.println();

        long[] budgets = rp.selection().budgets() == null ? null : Tensors.toLongs(rp.selection().budgets());
        long[] kept = Tensors.toLongs(rp.selection().keptPerTile());
        double[] scores = rp.selection().regionScores() == null ? null : Tensors.toDoubles(rp.selection().regionScores());
        double[] weights = rp.selection().regionWeights() == null ? null : Tensors.toDoubles(rp.selection().regionWeights());
        say.println("  tile   where      cos(thumb)  weight   kept / tokens");
        for (int t = 0; t < layout.numTiles(); t++) {
            boolean thumb = t == layout.thumbnail(0) && tiling.hasThumbnail();
            String where = thumb ? "thumbnail" : tiling.size() == 1 ? "whole" : String.format(Locale.ROOT, "row %d col %d",
                    t / tiling.cols(), t % tiling.cols());
            String cos = scores == null || thumb || layout.localTiles(0) == 0 ? "-" : String.format(Locale.ROOT, "%.4f", scores[t]);
            String w = weights == null || thumb || layout.localTiles(0) == 0 ? "-" : String.format(Locale.ROOT, "%.4f", weights[t]);
            say.printf(Locale.ROOT, "  %-6d %-10s %10s  %7s   %4d / %d%s%n", t, where, cos, w, kept[t], layout.tokens(t),
                    budgets != null && budgets[t] != kept[t] ? " (budget " + budgets[t] + ")" : "");
        }
        say.println();

        long v = rf.visualBefore()[0], k = rp.visualAfter()[0];
        long text = rf.sequences().get(0).length() - v;
        int probeLayers = method.equals("ptp") && ptp.alpha > 0 ? config.lmLayer() + 1 : method.equals("fastv") ? config.lmLayer() + 1 : 0;
        Flops.Breakdown ff = Flops.prefill(c, v, text);
        Flops.Breakdown fp = method.equals("ivtp")
                ? (pipeline.ivtpText() == null ? dev.vtprune.prune.IvtpFlops.of(c, rp.layout().numTiles(), text, vt.ivtpConfig())
                        : dev.vtprune.prune.IvtpFlops.of(c, rp.layout().numTiles(), text, vt.ivtpConfig(), pipeline.ivtpText().flopsShape(),
                                pipeline.ivtpText().clipTokens(prompt))).flops()
                : method.equals("fastv") || reuseProbe ? Flops.reused(c, v, k, text, probeLayers)
                : Flops.pruned(c, v, k, text, probeLayers);
        double fullTtft = median(full, Timings::ttft), cutTtft = median(cut, Timings::ttft);
        double fullPrefill = median(full, t -> t.ms("prefill"));
        double overhead = method.equals("ivtp") ? rp.vitTrace().steps().stream().mapToDouble(VitPruning.Step::ms).sum()
                + (rp.lmStage() == null ? 0 : rp.lmStage().steps().stream().mapToDouble(LmPruning.Step::ms).sum())
                : median(cut, t -> t.ms("select") + t.ms("gather"));
        double probe = median(cut, t -> t.ms("probe"));
        String row = "  %-34s %16s %16s%n";
        say.printf(Locale.ROOT, row, "", "unpruned", "pruned (" + method + ")");
        say.printf(Locale.ROOT, row, "visual tokens", v, k);
        say.printf(Locale.ROOT, row, "LM sequence / KV cache", rf.kvLengths()[0], rp.kvLengths()[0]);
        say.printf(Locale.ROOT, row, "prefill GFLOPs (ViT + LM)", gflops(ff.total()), gflops(fp.total()));
        say.printf(Locale.ROOT, row, "  of which LM (probe included)", gflops(ff.llm()), gflops(fp.llm()));
        say.printf(Locale.ROOT, row, "time to first token (ms, median)", ms(fullTtft), ms(cutTtft) + String.format(Locale.ROOT, " (%.2fx)", fullTtft / cutTtft));
        for (String stage : new String[] {"tiling", "preprocess", "vision", "projector", "embed", "pseudo-cls", "probe", "select", "gather", "prefill"}) {
            double a = median(full, t -> t.ms(stage)), b = median(cut, t -> t.ms(stage));
            if (a == 0 && b == 0) continue;
            say.printf(Locale.ROOT, row, "  " + stage, a == 0 ? "-" : ms(a), b == 0 ? "-" : ms(b));
        }
        say.printf(Locale.ROOT, method.equals("ivtp") ? "  pruning overhead: the GTP decisions inside the ViT and LM (rollout, top-k, gather; "
                + "last run) %.2f ms = %.2f%% of the unpruned prefill (%.1f ms)%s%n"
                : "  pruning overhead: selection + gather %.2f ms = %.2f%% of the unpruned prefill (%.1f ms)%s%n",
                overhead, 100 * overhead / fullPrefill, fullPrefill,
                probe > 0 ? String.format(Locale.ROOT, "; the probe adds %.1f ms (%.1f%%)", probe, 100 * probe / fullPrefill) : "");
        say.printf(Locale.ROOT, "  next token (argmax of the last logits): unpruned %d, pruned %d; top-5 overlap %d/5%n",
                argmax(rf.logits()), argmax(rp.logits()), overlap(rf.logits(), rp.logits(), 5));
        say.printf(Locale.ROOT, "  threads: LibTorch %d, vtprune kernels %d; %d measured run(s) per mode%n",
                torch.get_num_threads(), dev.vtprune.ops.NativeLibrary.threads(), repeat);
        if (random) {
            say.println("note: the weights are random, so which tokens are kept reflects the structure of the computation,");
            say.println("      not what is in the image; load a real checkpoint with --model-dir for semantic choices.");
        }
    }

    /** The answers unpruned and pruned, with their decode speed (TTFT is the table's, from the measured runs). */
    private void answers(PrintWriter say, LoadedModel vt, Generation gf, Generation gp) {
        say.println();
        say.printf(Locale.ROOT, "answer (%s, at most %d new tokens; stops: %s):%n", generation.greedy() ? "greedy"
                : String.format(Locale.ROOT, "sampled, temperature %s, top-p %s, seed %d", temperature, topP, sampleSeed),
                generation.maxNewTokens(), stops(vt));
        String row = "  %-34s %16s %16s%n";
        say.printf(Locale.ROOT, "  unpruned: %s%n  pruned:   %s%n", quoted(gf), quoted(gp));
        say.printf(Locale.ROOT, row, "", "unpruned", "pruned (" + method + ")");
        say.printf(Locale.ROOT, row, "KV cache / first decode position", gf.kvLength() + " / " + gf.firstPosition(),
                gp.kvLength() + " / " + gp.firstPosition());
        say.printf(Locale.ROOT, row, "TTFT of this run (ms)", ms(gf.ttftMs()), ms(gp.ttftMs()));
        say.printf(Locale.ROOT, row, "decode steps", gf.decodeSteps(), gp.decodeSteps());
        double a = gf.decodeTokensPerSecond(), b = gp.decodeTokensPerSecond();
        say.printf(Locale.ROOT, row, "decode tokens/s", tps(a), tps(b) + (Double.isNaN(a) || Double.isNaN(b) ? ""
                : String.format(Locale.ROOT, " (%.2fx)", b / a)));
        boolean same = Arrays.equals(gf.tokens(), gp.tokens());
        say.println("  the pruned answer " + (same ? "equals" : "differs from") + " the unpruned one"
                + (vt.randomWeights() ? " (random weights: the tokens say nothing about the image)" : ""));
    }

    private static String stops(LoadedModel vt) {
        java.util.List<String> s = new ArrayList<>();
        for (long id : vt.stopTokens()) s.add(id + " (end of turn)");
        return s.isEmpty() ? "none" : String.join(", ", s);
    }

    /** The answer as a Java-escaped string, its token count and why it ended. */
    private static String quoted(Generation g) {
        StringBuilder b = new StringBuilder("\"");
        g.text().codePoints().forEach(c -> {
            if (c == '"' || c == '\\') b.append('\\').appendCodePoint(c);
            else if (c == '\n') b.append("\\n");
            else if (c < 0x20 || c == 0x7f) b.append(String.format(Locale.ROOT, "\\x%02x", c));
            else b.appendCodePoint(c);
        });
        return b.append("\" (").append(g.tokens().length).append(" tokens, ")
                .append(g.finish() == Generation.Finish.STOP ? "stopped at token " + g.stopToken() : "length limit").append(')')
                .toString();
    }

    private static String tps(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1f", v);
    }

    /** IVTP's line: the schedule and, per pruning point, its layer and the tokens per tile before and after. */
    private static String ivtpHow(ModelConfig c, Result rp) {
        Result.LmStage lm = rp.lmStage();
        StringBuilder b = new StringBuilder(lm == null ? String.format(Locale.ROOT,
                "IVTP, ViT stage only (groups of 3 over the %d ViT layers; --lm-layers 0)%n  pruning points (visual tokens per tile):",
                c.vision().layers())
                : String.format(Locale.ROOT, "IVTP, groups of 3 over the %d ViT layers and the first %d of %d LM layers "
                        + "(pseudo-CLS, tau %.2f)%n  ViT pruning points (visual tokens per tile):", c.vision().layers(),
                        lm.steps().get(lm.steps().size() - 1).layer() + 1,
                        c.language().layers(), lm.tau()));
        int block = c.vision().merge() * c.vision().merge();
        for (VitPruning.Step s : rp.vitTrace().steps()) {
            b.append(String.format(Locale.ROOT, " after layer %d: %d -> %d (%.2f ms);", s.layer(), s.patches()[0].length / block,
                    s.kept()[0].length / block, s.ms()));
        }
        if (block > 1) b.append(String.format(Locale.ROOT, "%n  (InternVL: scored and dropped as %d x %d patch blocks, so the pixel "
                + "shuffle still merges the kept ones)", c.vision().merge(), c.vision().merge()));
        if (lm != null) {
            b.append(String.format(Locale.ROOT, "%n  LM pruning points (visual tokens of the image):"));
            for (LmPruning.Step s : lm.steps()) {
                b.append(String.format(Locale.ROOT, " after layer %d: %d -> %d (%.2f ms);", s.layer(), s.present()[0].length,
                        s.kept()[0].length, s.ms()));
            }
            b.append(String.format(Locale.ROOT, "%n  prompt word relevance (eq. 7, cosine to the image's CLIP CLS, mean over the word's LM tokens; * = one of its tokens >= tau, in the pseudo-CLS%s):%n   ",
                    lm.fromVisualCls() ? "; none reached tau: the pseudo-CLS is the projected visual CLS" : ""));
            for (Result.LmStage.Word w : lm.words()) {
                b.append(Double.isNaN(w.relevance()) ? String.format(Locale.ROOT, " %s(-)", w.text())
                        : String.format(Locale.ROOT, " %s%s(%.3f)", w.text(), w.selected() ? "*" : "", w.relevance()));
            }
        }
        return b.toString();
    }

    private static String gflops(double f) {
        return String.format(Locale.ROOT, "%.1f", f / 1e9);
    }

    private static String ms(double v) {
        return String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.2f", v);
    }

    private static long argmax(Tensor logits) {
        return logits.select(0, 0).argmax().item_long();
    }

    private static int overlap(Tensor a, Tensor b, int k) {
        long[] x = Tensors.toLongs(a.select(0, 0).topk(k).get1()), y = Tensors.toLongs(b.select(0, 0).topk(k).get1());
        int n = 0;
        for (long i : x) if (Arrays.stream(y).anyMatch(j -> j == i)) n++;
        return n;
    }
}
