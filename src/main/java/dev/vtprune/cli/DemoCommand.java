package dev.vtprune.cli;

import dev.vtprune.io.Safetensors;
import dev.vtprune.io.SafetensorsCheckpoint;
import dev.vtprune.model.Flops;
import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.ModelLoader;
import dev.vtprune.model.RandomWeights;
import dev.vtprune.model.VitPruning;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import dev.vtprune.pipeline.ByteTokenizer;
import dev.vtprune.pipeline.Tokenizer;
import dev.vtprune.pipeline.LvlmPipeline;
import dev.vtprune.pipeline.PromptTemplate;
import dev.vtprune.pipeline.Result;
import dev.vtprune.pipeline.Timings;
import dev.vtprune.pipeline.image.ImageLoader;
import dev.vtprune.pipeline.image.Overlay;
import dev.vtprune.pipeline.image.SampleImage;
import dev.vtprune.pipeline.image.Tiling;
import dev.vtprune.prune.IvtpPruner;
import dev.vtprune.prune.PseudoCls;
import dev.vtprune.model.LmPruning;
import dev.vtprune.pipeline.IvtpDump;
import dev.vtprune.pipeline.IvtpText;
import dev.vtprune.prune.Pruners;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.TokenPruner;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vtprune demo} — the main job: one image through the LVLM pipeline, unpruned and
 * pruned, with measured timings, FLOPs, per-region budgets and an overlay PNG of the kept
 * tokens. By default the bundled sample image and the `demo` preset with seeded random weights
 * (the selection is then structural, not semantic, and the output says so); --model-dir loads a
 * real InternVL2 / LLaVA-1.5 checkpoint.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Run one image through the LVLM pipeline with and without pruning; print a summary, write an overlay PNG.")
final class DemoCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--image", paramLabel = "PNG|JPEG", description = "Image (default: the bundled sample, 1344 x 896).")
    Path image;

    @Option(names = "--prompt", defaultValue = "Where is the red ball, and what is written on the sign?",
            description = "The instruction. Default: \"${DEFAULT-VALUE}\".")
    String prompt;

    @Option(names = "--method", defaultValue = "ptp", description = "ptp, ivtp, cls-topk, random, spatial, fastv. Default: ${DEFAULT-VALUE}.")
    String method;

    @Option(names = "--keep", paramLabel = "N", description = "ivtp: visual tokens kept per tile at the end (default: 1 - ratio of them).")
    Long keep;

    @Option(names = "--ratio", defaultValue = "0.5", description = "Fraction of visual tokens dropped, in [0, 1). Default: ${DEFAULT-VALUE}.")
    double ratio;

    @Option(names = "--alpha", defaultValue = "0.5", description = "PTP weight of the instruction, in [0, 1]. Default: ${DEFAULT-VALUE}.")
    double alpha;

    @Option(names = "--model", defaultValue = "demo", description = "Preset with random weights (demo, tiny, internvl2-1b, ...). Default: ${DEFAULT-VALUE}.")
    String preset;

    @Option(names = "--model-dir", paramLabel = "DIR", description = "A Hugging Face checkpoint (config.json + safetensors) instead of a preset.")
    Path modelDir;

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

    @Override
    public Integer call() throws Exception {
        main.setUp();
        if (!(ratio >= 0 && ratio < 1)) throw new IllegalArgumentException("argument '--ratio' must be in [0, 1), got " + ratio);
        if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("argument '--alpha' must be in [0, 1], got " + alpha);
        if (repeat < 1) throw new IllegalArgumentException("argument '--repeat' must be >= 1, got " + repeat);
        if (prompt.isEmpty()) throw new IllegalArgumentException("argument '--prompt' must not be empty (the instruction is what PTP reads)");
        if (!Pruners.NAMES.contains(method) && !method.equals("ivtp")) {
            throw new IllegalArgumentException("argument '--method' must be one of ivtp, " + String.join(", ", Pruners.NAMES)
                    + ", got '" + method + "'");
        }
        if (keep != null && !method.equals("ivtp")) throw new IllegalArgumentException("argument '--keep' applies to --method ivtp only");
        if (dump != null && method.equals("ivtp")) {
            throw new IllegalArgumentException("argument '--dump' writes the inputs of `vtprune prune` (PTP and the baselines); "
                    + "for IVTP's pruning points use --dump-ivtp FILE.json");
        }
        if ((lmLayers != null || dumpIvtp != null) && !method.equals("ivtp")) {
            throw new IllegalArgumentException("argument '" + (lmLayers != null ? "--lm-layers" : "--dump-ivtp")
                    + "' applies to --method ivtp only");
        }
        if (lmLayers != null && lmLayers < 0) throw new IllegalArgumentException("argument '--lm-layers' must be >= 0, got " + lmLayers);
        if (dumpIvtp != null) writableFile(dumpIvtp, "--dump-ivtp");
        if (keep != null && keep < 1) throw new IllegalArgumentException("argument '--keep' must be >= 1, got " + keep);
        ScalarType type = switch (dtype.toLowerCase(Locale.ROOT)) {
            case "float32" -> ScalarType.Float;
            case "bfloat16" -> ScalarType.BFloat16;
            default -> throw new IllegalArgumentException("argument '--dtype' must be float32 or bfloat16, got '" + dtype + "'");
        };
        Device target = device(device);
        if (modelDir == null) {  // the byte tokenizer: one token per UTF-8 byte, known before the model is built
            ModelConfig c = FlopsCommand.preset(preset, "--model");
            long bytes = prompt.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
            if (bytes >= c.language().maxPositions()) {
                throw new IllegalArgumentException("argument '--prompt' must fit the model's context of " + c.language().maxPositions()
                        + " positions with the image, got " + bytes + " tokens (UTF-8 bytes)");
            }
        }
        writableDirectory(out, "--out");
        if (dump != null) writableFile(dump, "--dump");
        PrintWriter say = main.spec.commandLine().getOut();
        PrintWriter progress = main.spec.commandLine().getErr();

        BufferedImage picture = image == null ? SampleImage.load() : image(image);
        String imageName = image == null ? "the bundled sample image" : image.toString();
        long t0 = System.nanoTime();
        try {
            return run(picture, imageName, type, target, say, progress, t0);
        } catch (IllegalArgumentException e) {  // the pipeline's argument names, as this command's flags
            throw Main.renamed(e, "argument 'instructions[0]'", "argument '--prompt'", "argument 'ratio'", "argument '--ratio'");
        }
    }

    private Integer run(BufferedImage picture, String imageName, ScalarType type, Device target, PrintWriter say,
                        PrintWriter progress, long t0) throws Exception {
        try (Lvlm cpuModel = modelDir == null ? randomModel(preset, seed, type, progress)
                : loadCheckpoint(modelDir, type, progress);
             Lvlm model = target.is_cuda() ? cpuModel.to(target) : cpuModel) {
            ModelConfig c = model.config();
            double loadMs = (System.nanoTime() - t0) / 1e6;
            PyramidTokenPruner.Config config = PyramidTokenPruner.Config.PAPER.withRatio(ratio).withAlpha(alpha);
            if (keep != null && keep > c.vision().tokensPerTile()) {
                throw new IllegalArgumentException("argument '--keep' must be <= " + c.vision().tokensPerTile()
                        + " (the visual tokens per tile), got " + keep);
            }
            TokenPruner pruner = method.equals("ivtp") ? new IvtpPruner(ivtpConfig(c)) : Pruners.byName(method, config, seed);
            PromptTemplate template = PromptTemplate.forFamily(c.family());
            try (Tokenizer tokenizer = tokenizer(c, template, progress); IvtpText ivtpText = ivtpText(c)) {
                LvlmPipeline pipeline = new LvlmPipeline(model, tokenizer, template, ivtpText);
                LvlmPipeline.Options pruned = LvlmPipeline.Options.of(pruner).withReuseProbe(reuseProbe);
                LvlmPipeline.Options unpruned = LvlmPipeline.Options.unpruned();
                List<BufferedImage> images = List.of(picture);
                List<String> prompts = List.of(prompt);

                progress.println("vtprune demo: warming up (one run of each mode), then " + repeat + " measured run(s) of each");
                close(pipeline.run(images, prompts, unpruned));
                close(pipeline.run(images, prompts, pruned));
                List<Timings> full = new ArrayList<>(), cut = new ArrayList<>();
                Result lastFull = null, lastCut = null;
                for (int i = 0; i < repeat; i++) {
                    close(lastFull);
                    close(lastCut);
                    lastFull = pipeline.run(images, prompts, unpruned);
                    lastCut = pipeline.run(images, prompts, pruned.withCapture(dump != null && i == repeat - 1));
                    full.add(lastFull.timings());
                    cut.add(lastCut.timings());
                }
                try (Result rf = lastFull; Result rp = lastCut) {
                    report(say, c, model, imageName, tokenizer, pipeline, config, rf, rp, full, cut, loadMs);
                    Path png = out.resolve("overlay.png");
                    Files.createDirectories(out);
                    Tiling tiling = rp.tilings().get(0);
                    int grid = c.vision().grid() / c.vision().merge();
                    Overlay.Summary s = Overlay.defaults().write(tiling, grid, rp.selection().keptIndices(), png);
                    say.printf(Locale.ROOT, "overlay: %s (%d x %d px): %s%n", png, s.width(), s.height(), s.legend());
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
            }
        }
        return 0;
    }

    /**
     * The paper's config with W = --lm-layers, by default the paper's 12 of LLaVA's 32 LM layers
     * scaled to this LM's depth (at least 1); 0 = the ViT stage alone (IVTP-V, Table 7).
     */
    private IvtpPruner.Config ivtpConfig(ModelConfig model) {
        int depth = model.language().layers();
        int w = lmLayers != null ? lmLayers : depth == 32 ? 12 : Math.max(1, (int) Math.round(12.0 * depth / 32));
        if (w > depth) throw new IllegalArgumentException("argument '--lm-layers' must be <= " + depth + " (the LM's layers), got " + w);
        IvtpPruner.Config c = IvtpPruner.Config.PAPER.withLmLayers(w);
        return keep != null ? c.withFinalKeep(keep) : c.withFinalRatio(Math.max(1e-9, 1 - ratio));
    }

    /** The pseudo-CLS's CLIP side for IVTP's LM stage: seeded random for presets; null when no LM stage runs. */
    private IvtpText ivtpText(ModelConfig model) {
        if (!method.equals("ivtp") || ivtpConfig(model).lmLayers() == 0) return null;
        if (modelDir != null) {
            throw new IllegalArgumentException("argument '--lm-layers': IVTP's LM stage with --model-dir needs CLIP's text "
                    + "tower, which the demo does not load from a checkpoint yet; pass --lm-layers 0 (the ViT stage only)");
        }
        return IvtpText.random(model, seed + 7, PseudoCls.PAPER_TAU);
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

    private static void writableFile(Path file, String option) {
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

    /**
     * The checkpoint's tokenizer (tokenizer.json, else tokenizer.model); else one token per UTF-8
     * byte with the template's tokens kept whole (right for random weights, where only the
     * prompt's length and layout matter; said out loud for a real checkpoint, whose choices then
     * do not follow the text).
     */
    private Tokenizer tokenizer(ModelConfig c, PromptTemplate template, PrintWriter progress) {
        if (modelDir != null) {
            Path dir = Files.isDirectory(modelDir) ? modelDir : modelDir.toAbsolutePath().getParent();
            if (Files.exists(dir.resolve("tokenizer.json")) || Files.exists(dir.resolve("tokenizer.model"))) {
                return Tokenizer.forCheckpoint(dir);
            }
            progress.println("vtprune demo: warning: neither tokenizer.json nor tokenizer.model in " + dir + ": the prompt is "
                    + "encoded as UTF-8 bytes, so the instruction relevance does not follow its words");
        }
        return new ByteTokenizer(c.language().vocab(), template.specials());
    }

    private static void close(Result r) {
        if (r != null) r.close();
    }

    private static Device device(String name) {
        switch (name.toLowerCase(Locale.ROOT)) {
            case "cpu": return Tensors.cpu();
            case "cuda":
                boolean ok;
                try {
                    ok = torch.cuda_is_available();
                } catch (Throwable e) {  // LibTorch's CUDA natives are not on the class path
                    ok = false;
                }
                if (!ok) {
                    throw new IllegalArgumentException("argument '--device cuda': no CUDA device usable by LibTorch (its GPU "
                            + "natives, org.bytedeco:pytorch-platform-gpu, must be on the class path, with a driver and a GPU)");
                }
                return new Device(torch.DeviceType.CUDA, (byte) 0);
            default: throw new IllegalArgumentException("argument '--device' must be cpu or cuda, got '" + name + "'");
        }
    }

    /** Seeded random weights (the real presets are billions of parameters: say so while waiting). */
    private static Lvlm randomModel(String preset, long seed, ScalarType type, PrintWriter progress) {
        ModelConfig c = ModelConfig.preset(preset);
        long t0 = System.nanoTime();
        progress.println("vtprune demo: creating seeded random weights for the '" + c.name() + "' preset ("
                + Tensors.dtypeName(type) + ")...");
        Lvlm m = RandomWeights.create(c, seed, type);
        progress.printf(Locale.ROOT, "  %,d parameters in %.1f s%n", m.parameterCount(), (System.nanoTime() - t0) / 1e9);
        return m;
    }

    /**
     * config.json + safetensors of `dir` (a directory, or a file inside one) as a model in `type`,
     * or, with type null, in the dtype of the checkpoint's first floating tensor.
     */
    static Lvlm loadCheckpoint(Path dir, ScalarType type, PrintWriter progress) {
        Path config = Files.isDirectory(dir) ? dir.resolve("config.json") : dir.resolveSibling("config.json");
        if (!Files.exists(dir)) throw new IllegalArgumentException("argument '--model-dir': " + dir + " does not exist");
        if (!Files.exists(config)) throw new IllegalArgumentException("argument '--model-dir': no config.json in " + dir);
        ModelConfig c = ModelConfig.fromHuggingFace(config);
        try (SafetensorsCheckpoint source = SafetensorsCheckpoint.open(dir)) {
            ScalarType run = type != null ? type : storedDtype(source);
            progress.println("loading " + source.describe() + " as " + c.name() + " (" + c.family() + ", "
                    + Tensors.dtypeName(run) + ")");
            return ModelLoader.load(c, source, run, msg -> progress.println("  " + msg));
        }
    }

    /** The dtype the checkpoint stores its (first floating) weights in; float32 when none is. */
    private static ScalarType storedDtype(SafetensorsCheckpoint source) {
        for (String name : source.names()) {
            ScalarType t = source.info(name).dtype().scalarType();
            for (ScalarType f : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16, ScalarType.Half}) {
                if (t != null && t.value == f.value) return f;
            }
        }
        return ScalarType.Float;
    }

    private static double median(List<Timings> runs, java.util.function.ToDoubleFunction<Timings> f) {
        double[] v = runs.stream().mapToDouble(f).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    private void report(PrintWriter say, ModelConfig c, Lvlm model, String imageName, Tokenizer tokenizer,
                        LvlmPipeline pipeline, PyramidTokenPruner.Config config, Result rf, Result rp, List<Timings> full,
                        List<Timings> cut, double loadMs) {
        Tiling tiling = rp.tilings().get(0);
        TileLayout layout = rp.layout();
        boolean random = modelDir == null;
        say.printf(Locale.ROOT, "vtprune demo — model %s (%s, %,d parameters, %s, %s), loaded in %.0f ms%n", c.name(),
                c.family(), model.parameterCount(), random ? "seeded random weights" : "checkpoint " + modelDir,
                Tensors.dtypeName(model.dtype()), loadMs);
        say.printf(Locale.ROOT, "image: %s, %d x %d -> %d x %d grid%s = %d tiles of %d px, %d visual tokens each%n", imageName,
                tiling.source().getWidth(), tiling.source().getHeight(), tiling.cols(), tiling.rows(),
                tiling.hasThumbnail() ? " + thumbnail" : "", tiling.size(), tiling.tileSize(), c.vision().tokensPerTile());
        say.printf(Locale.ROOT, "prompt: \"%s\" (%d tokens: %s)%n", prompt, rp.sequences().get(0).instructionCount(),
                tokenizer.describe());
        String how = method.equals("ptp") ? String.format(Locale.ROOT, "PTP r=%.2f alpha=%.2f, ViT layer %d of %d (paper: 11 of 24), LM layer %d%s",
                ratio, alpha, pipeline.scaledVitLayer(config.vitLayer()), c.vision().layers(), config.lmLayer(),
                reuseProbe ? ", probe layers reused" : "")
                : method.equals("ivtp") ? ivtpHow(c, rp)
                : method + String.format(Locale.ROOT, " r=%.2f", ratio);
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
        int probeLayers = method.equals("ptp") && alpha > 0 ? config.lmLayer() + 1 : method.equals("fastv") ? config.lmLayer() + 1 : 0;
        Flops.Breakdown ff = Flops.prefill(c, v, text);
        Flops.Breakdown fp = method.equals("ivtp")
                ? (pipeline.ivtpText() == null ? FlopsCommand.Ivtp.of(c, rp.layout().numTiles(), text, ivtpConfig(c))
                        : FlopsCommand.Ivtp.of(c, rp.layout().numTiles(), text, ivtpConfig(c), pipeline.ivtpText().flopsShape(),
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
