package dev.vtprune.cli;

import dev.vtprune.model.ModelConfig;
import dev.vtprune.task.Question;
import dev.vtprune.train.Trainer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vtprune train} — trains the synthetic-VQA model from scratch (CLIP stage, then
 * instruction tuning) and writes a checkpoint directory that {@code demo --model-dir} and
 * {@code eval} load. Progress on stderr; a JSON summary on stdout.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train the small LVLM of the synthetic VQA task from scratch (CLIP stage + instruction tuning).")
final class TrainCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--out", defaultValue = "models/vqa-tiny", paramLabel = "DIR", description = "Checkpoint directory. Default: ${DEFAULT-VALUE}.")
    Path out;

    @Option(names = "--model", defaultValue = "vqa-tiny", description = "Model preset (an InternVL2 + InternLM2 shape). Default: ${DEFAULT-VALUE}.")
    String preset;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the initial weights. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--clip-steps", defaultValue = "200", description = "CLIP (stage 1) steps. Default: ${DEFAULT-VALUE}.")
    int clipSteps;

    @Option(names = "--steps", defaultValue = "4000", description = "Instruction-tuning (stage 2) steps. Default: ${DEFAULT-VALUE}.")
    int steps;

    @Option(names = "--batch", defaultValue = "16", description = "Images per step. Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--questions", defaultValue = "5", description = "Questions per image in stage 2. Default: ${DEFAULT-VALUE}.")
    int questions;

    @Option(names = "--lr", defaultValue = "2e-3", description = "Peak AdamW learning rate. Default: ${DEFAULT-VALUE}.")
    double lr;

    @Option(names = "--val", defaultValue = "400", description = "Validation-split images scored at the end. Default: ${DEFAULT-VALUE}.")
    int val;

    @Option(names = "--max-minutes", defaultValue = "58", description = "Wall-clock budget; stage 2 stops early when spent. Default: ${DEFAULT-VALUE}.")
    double maxMinutes;

    @Option(names = "--pool", defaultValue = "0", description = "Cycle over the first N training images only (an overfitting check); 0 = always new images. Default: ${DEFAULT-VALUE}.")
    int pool;

    @Option(names = "--types", defaultValue = "colour,shape,count,position,presence", split = ",",
            description = "Question types to train and validate on (a curriculum, or a diagnosis with the question text fixed). Default: ${DEFAULT-VALUE}.")
    List<String> types;

    @Option(names = "--visual-lr", defaultValue = "1", description = "Learning-rate multiplier of the ViT and the projector in stage 2 (their gradients are far smaller than the LM's). Default: ${DEFAULT-VALUE}.")
    double visualLr;

    @Option(names = "--align-steps", defaultValue = "0", description = "Steps of an alignment stage before stage 2: the LM frozen, ViT and projector trained on the questions. Default: ${DEFAULT-VALUE}.")
    int alignSteps;

    @Option(names = "--init", paramLabel = "DIR", description = "Start from the weights of a checkpoint this command wrote (same --model), e.g. to continue a colour-only run on every type; default: random weights from --seed.")
    Path init;

    @Option(names = "--ground", defaultValue = "1", description = "Weight of the grounding loss (a linear head names the object under every visual token; 0 = off). Default: ${DEFAULT-VALUE}.")
    double ground;

    @Option(names = "--val-every", defaultValue = "400", description = "Also validate every N stage-2 steps on up to 100 validation images (0 = at the end only). Default: ${DEFAULT-VALUE}.")
    int valEvery;

    @Option(names = "--log-every", defaultValue = "20", description = "Steps between progress lines. Default: ${DEFAULT-VALUE}.")
    int logEvery;

    /** The --types words as question types; an unknown word is bad input naming the flag. */
    static Set<Question.Type> questionTypes(List<String> words) {
        EnumSet<Question.Type> out = EnumSet.noneOf(Question.Type.class);
        for (String w : words) {
            try {
                out.add(Question.Type.valueOf(w.trim().toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("argument '--types' must list question types among "
                        + "colour, shape, count, position, presence; got '" + w + "'");
            }
        }
        return out;
    }

    @Override
    public Integer call() {
        main.setUp();
        PrintWriter err = main.spec.commandLine().getErr();
        Trainer.Options o = new Trainer.Options(seed, clipSteps, steps, batch, questions, lr, logEvery, val, maxMinutes, pool,
                questionTypes(types), visualLr, alignSteps, init, ground, valEvery);
        Trainer.Report r = new Trainer(ModelConfig.preset(preset), err).train(o, out);
        JsonOut json = new JsonOut().put("model", preset).put("out", out.toString()).put("seed", seed)
                .put("clip_steps", clipSteps).put("steps", steps).put("steps_done", r.steps()).put("batch", batch).put("questions_per_image", questions)
                .put("types", String.join(",", types)).put("visual_lr", visualLr).put("align_steps", alignSteps).put("ground", ground)
                .put("init", init == null ? "random" : init.toString())
                .put("parameters", r.parameters()).put("loss", r.loss()).put("seconds", Math.round(r.seconds()));
        if (clipSteps > 0) json.put("clip_loss", r.clipLoss());
        if (val > 0) json.put("val_accuracy", r.valAccuracy()).put("val_questions", r.valQuestions());
        main.spec.commandLine().getOut().println(json);
        err.printf(Locale.ROOT, "done in %.1f min%n", r.seconds() / 60);
        return 0;
    }
}
