package dev.vtprune.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.vtprune.eval.AccuracyPlot;
import dev.vtprune.eval.Evaluator;
import dev.vtprune.io.SafetensorsCheckpoint;
import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.ModelLoader;
import dev.vtprune.pipeline.IvtpText;
import dev.vtprune.prune.PseudoCls;
import dev.vtprune.train.ClipModel;
import dev.vtprune.task.Chance;
import dev.vtprune.task.VqaTask;
import dev.vtprune.task.WordTokenizer;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.global.torch.ScalarType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vtprune eval} — accuracy of the trained VQA model on a held-out split, unpruned and
 * per pruning method and keep ratio, with 95% intervals, the FLOPs of each run, and the chance
 * level; a markdown table, or with --json one object on stdout.
 */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Accuracy vs visual tokens and FLOPs of every pruning method on the task's held-out split.")
final class EvalCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--model-dir", defaultValue = "models/vqa-tiny", paramLabel = "DIR",
            description = "Trained checkpoint (config.json, model.safetensors, tokenizer.json). Default: ${DEFAULT-VALUE}.")
    Path modelDir;

    @Option(names = "--methods", defaultValue = "none,ptp,ivtp,cls-topk,fastv,random,spatial", split = ",",
            description = "Methods (none = unpruned; ivtp needs the checkpoint's CLIP text tower). Default: ${DEFAULT-VALUE}.")
    List<String> methods;

    @Option(names = "--keep", split = ",", description = "Kept fractions of the visual tokens. Default: 0.5,0.25,0.111 and "
            + "64 / the visual tokens per image (the papers' 64 tokens; vqa-tiny: 64 / 144 = 0.444).")
    List<Double> keeps;

    @Option(names = "--seed", defaultValue = "3", description = "Split seed (3 = the test split). Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--limit", defaultValue = "1000", description = "Questions (one per image). Default: ${DEFAULT-VALUE}.")
    int limit;

    @Option(names = "--compact-positions", description = "Number the pruned sequence's tokens from 0 instead of keeping "
            + "their unpruned RoPE positions (pruning before the LM and IVTP's ViT stage).")
    boolean compactPositions;

    @Option(names = "--json", description = "One JSON object on stdout instead of the markdown table.")
    boolean json;

    @Option(names = "--png", paramLabel = "FILE", description = "Also write a PNG plot of accuracy against TFLOPs (one line per method, 95% intervals).")
    Path png;

    @Override
    public Integer call() {
        main.setUp();
        if (limit < 1) throw new IllegalArgumentException("argument '--limit' must be >= 1, got " + limit);
        if (!Files.isDirectory(modelDir) || !Files.exists(modelDir.resolve("config.json"))) {
            throw new IllegalArgumentException("argument '--model-dir': no config.json in " + modelDir
                    + " (train one with: ./vtprune train --out " + modelDir + ")");
        }
        Path tokFile = modelDir.resolve("tokenizer.json");
        if (!Files.exists(tokFile) || !WordTokenizer.isWordLevel(tokFile)) {
            throw new IllegalArgumentException("argument '--model-dir': " + tokFile + " must be the task's WordLevel tokenizer.json");
        }
        if (png != null) DemoCommand.writableFile(png, "--png");
        PrintWriter err = main.spec.commandLine().getErr();
        ModelConfig c = ModelConfig.fromHuggingFace(modelDir.resolve("config.json"));
        WordTokenizer tok = WordTokenizer.load(tokFile);
        if (keeps == null) keeps = Evaluator.defaultKeeps(c);
        Chance chance = Chance.of(seed, limit);
        long t0 = System.nanoTime();
        List<Evaluator.Row> rows;
        // The CLIP tower only when ivtp is asked for: checkpoints without one still evaluate every other method.
        boolean ivtp = methods.contains("ivtp") && ClipModel.present(modelDir);
        try (SafetensorsCheckpoint source = SafetensorsCheckpoint.open(modelDir);
             Lvlm model = ModelLoader.load(c, source, ScalarType.Float, null);
             IvtpText text = ivtp ? ClipModel.ivtpText(modelDir, c, PseudoCls.PAPER_TAU) : null) {
            rows = new Evaluator(model, tok, text, !compactPositions).run(seed, limit, methods, keeps, err);
        }
        err.printf(Locale.ROOT, "eval: %d rows of %d questions in %.1f s%n", rows.size(), limit, (System.nanoTime() - t0) / 1e9);
        if (png != null) {
            try {
                AccuracyPlot.write(png, rows, chance.overall(), String.format(Locale.ROOT, "model %s, split seed %d, %d questions",
                        c.name(), seed, limit));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot write the plot to " + png, e);
            }
            err.println("eval: plot written to " + png);
        }
        PrintWriter out = main.spec.commandLine().getOut();
        if (json) out.println(json(c, chance, rows));
        else out.print(markdown(c, chance, rows));
        out.flush();
        return 0;
    }

    private String json(ModelConfig c, Chance chance, List<Evaluator.Row> rows) {
        JsonObject o = new JsonObject();
        o.addProperty("model", c.name());
        o.addProperty("seed", seed);
        o.addProperty("chance", chance.overall());
        o.addProperty("positions", compactPositions ? "compact" : "original");
        JsonArray a = new JsonArray();
        for (Evaluator.Row r : rows) {
            JsonObject j = new JsonObject();
            j.addProperty("method", r.method());
            j.addProperty("keep_ratio", r.keep());
            j.addProperty("visual_tokens", r.visualTokens());
            j.addProperty("tflops", r.tflops());
            j.addProperty("accuracy", r.accuracy().value());
            j.addProperty("ci_low", r.accuracy().low());
            j.addProperty("ci_high", r.accuracy().high());
            j.addProperty("n", r.accuracy().n());
            a.add(j);
        }
        o.add("rows", a);
        return new GsonBuilder().setPrettyPrinting().create().toJson(o);
    }

    private String markdown(ModelConfig c, Chance chance, List<Evaluator.Row> rows) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "model %s, split seed %d, %d questions; chance (majority answer per question type) %.1f%%; "
                + "pruned tokens keep their %s RoPE positions%n%n", c.name(), seed, limit, 100 * chance.overall(),
                compactPositions ? "renumbered (compact)" : "original"));
        s.append("| method | keep | visual tokens | GFLOPs | accuracy | 95% CI |\n|---|---:|---:|---:|---:|---|\n");
        for (Evaluator.Row r : rows) {
            s.append(String.format(Locale.ROOT, "| %s | %.3f | %.1f | %.4f | %.1f%% | %.1f–%.1f%% |%n", r.method(), r.keep(),
                    r.visualTokens(), r.tflops() * 1e3, 100 * r.accuracy().value(), 100 * r.accuracy().low(),
                    100 * r.accuracy().high()));
        }
        List<String> types = new ArrayList<>();
        chance.byType().forEach((t, m) -> types.add(String.format(Locale.ROOT, "%s '%s' %.0f%%", t.name().toLowerCase(Locale.ROOT),
                m.answer(), 100 * m.rate())));
        s.append("\nchance per type: ").append(String.join(", ", types)).append('\n');
        return s.toString();
    }
}
