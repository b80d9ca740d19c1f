package dev.vtprune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.io.SafetensorsCheckpoint;
import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.ModelLoader;
import dev.vtprune.task.VqaTask;
import dev.vtprune.task.WordTokenizer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {

    /** A few steps of both stages on the tiny preset: finite losses, progress lines, a checkpoint the loader reads. */
    @Test
    void trainsAndWritesALoadableCheckpoint(@TempDir Path dir) {
        ModelConfig c = ModelConfig.preset("tiny");
        StringWriter log = new StringWriter();
        Trainer.Report r = new Trainer(c, new PrintWriter(log, true))
                .train(new Trainer.Options(4, 2, 3, 2, 2, 1e-3, 1, 4, 10, 0), dir);
        assertTrue(Double.isFinite(r.clipLoss()) && Double.isFinite(r.loss()), r.toString());
        assertEquals(3, r.steps());
        assertEquals(4, r.valQuestions());
        String text = log.toString();
        assertTrue(text.contains("clip step 2/2") && text.contains("vqa step 3/3") && text.contains("examples/s"), text);
        assertTrue(Files.exists(dir.resolve("tokenizer.json")));
        assertTrue(WordTokenizer.isWordLevel(dir.resolve("tokenizer.json")));
        ModelConfig read = ModelConfig.fromHuggingFace(dir.resolve("config.json"));
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir);
             Lvlm m = ModelLoader.load(read, ck, ScalarType.Float, null)) {
            assertEquals(r.parameters(), m.parameterCount());
            assertTrue(ck.names().contains("clip.text_model.embeddings.token_embedding.weight") && Files.exists(dir.resolve("clip_config.json")));
        }
    }

    /**
     * --init starts from a written checkpoint: one step at a vanishing learning rate writes back
     * (almost) the same weights, which random weights of another seed are not.
     */
    @Test
    void continuesFromACheckpoint(@TempDir Path dir) {
        ModelConfig c = ModelConfig.preset("tiny");
        PrintWriter quiet = new PrintWriter(new StringWriter(), true);
        Path first = dir.resolve("first"), second = dir.resolve("second");
        new Trainer(c, quiet).train(new Trainer.Options(4, 0, 2, 2, 1, 1e-3, 1, 0, 10, 0), first);
        StringWriter log = new StringWriter();
        new Trainer(c, new PrintWriter(log, true)).train(new Trainer.Options(9, 0, 1, 2, 1, 1e-12, 1, 0, 10, 0,
                java.util.EnumSet.allOf(dev.vtprune.task.Question.Type.class), 1.0, 0, first, 0, 0), second);
        assertTrue(log.toString().contains("starting from the weights in " + first), log.toString());
        try (SafetensorsCheckpoint a = SafetensorsCheckpoint.open(first); SafetensorsCheckpoint b = SafetensorsCheckpoint.open(second)) {
            int compared = 0;
            for (String name : a.names()) {
                if (name.startsWith("clip.")) continue;  // a new text tower: not part of the LVLM
                org.bytedeco.pytorch.Tensor x = a.load(name), y = b.load(name);
                double diff = x.sub(y).abs().max().item_double(), size = x.abs().max().item_double();
                assertTrue(diff <= 1e-6 * Math.max(1, size), name + " moved by " + diff);
                compared++;
            }
            assertTrue(compared > 10, "compared " + compared + " tensors");
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Trainer.Options(1, 0, 1, 1, 1, 1e-3, 1, 0, 1, 0,
                java.util.EnumSet.allOf(dev.vtprune.task.Question.Type.class), 1.0, 0, dir.resolve("none"), 0, 0));
        assertTrue(e.getMessage().contains("'--init'") && e.getMessage().contains("none"), e.getMessage());
    }

    /** The batch lays questions out as the pipeline's template does, one visual block per image. */
    @Test
    void batchesFollowThePipelineLayout() {
        ModelConfig c = ModelConfig.preset("vqa-tiny");
        TaskBatch b = TaskBatch.of(TaskBatch.samples(VqaTask.Split.TRAIN.seed, 0, 2, 3), c, WordTokenizer.task());
        assertEquals(9, b.views(), "448 x 224 -> 4 x 2 tiles of 112 px + thumbnail");
        assertEquals(18, b.pixels().size(0));
        assertEquals(6, b.layouts().size());
        assertEquals(144, b.layouts().get(0).visualCount());
        assertEquals(18, b.captions().size());
        assertEquals(1, b.imageOf()[3]);
        assertEquals(18 * 16, b.ground().length, "one grounding label per visual token");
        // Every object is named by some token of the thumbnail (its cells are larger than any object) ...
        for (int image = 0; image < 2; image++) {
            VqaTask.Sample s = VqaTask.sample(VqaTask.Split.TRAIN.seed, image, 3);
            java.util.Set<Long> thumb = new java.util.HashSet<>(), want = new java.util.HashSet<>();
            for (int t = 0; t < 16; t++) thumb.add(b.ground()[(image * 9 + 8) * 16 + t]);
            for (dev.vtprune.task.SceneObject o : s.scene().objects()) want.add((long) TaskBatch.groundClass(o));
            assertTrue(thumb.containsAll(want), "thumbnail labels " + thumb + " vs objects " + want);
        }
        // ... and most tokens show nothing.
        long nothing = java.util.Arrays.stream(b.ground()).filter(g -> g == 0).count();
        assertTrue(nothing > b.ground().length * 3 / 4, nothing + " of " + b.ground().length);
    }

    /** The grounding loss trains beside the answer loss, is logged, and its head stays out of the checkpoint. */
    @Test
    void groundingLossIsLoggedAndNotSaved(@TempDir Path dir) {
        StringWriter log = new StringWriter();
        new Trainer(ModelConfig.preset("tiny"), new PrintWriter(log, true)).train(new Trainer.Options(4, 0, 3, 2, 2, 1e-3, 1, 2, 10, 0,
                java.util.EnumSet.allOf(dev.vtprune.task.Question.Type.class), 1.0, 1, null, 1.0, 2), dir);
        String text = log.toString();
        assertTrue(text.contains("(grounding ") && text.contains("align step") && text.contains("vqa step 2: validation"), text);
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            assertTrue(ck.names().stream().noneMatch(n -> n.startsWith("ground.")), ck.names().toString());
        }
    }

    @Test
    void badOptions() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer.Options(1, 0, 0, 1, 1, 1e-3, 1, 0, 1, 0));
        assertTrue(e.getMessage().contains("'--steps'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Trainer.Options(1, 0, 1, 1, 6, 1e-3, 1, 0, 1, 0));
        assertTrue(e.getMessage().contains("'--questions'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Trainer.Options(1, 0, 1, 1, 1, 1e-3, 1, 0, 1, 0,
                java.util.EnumSet.allOf(dev.vtprune.task.Question.Type.class), 1.0, 0, null, -1, 0));
        assertTrue(e.getMessage().contains("'--ground'") && e.getMessage().contains("-1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Trainer.Options(1, 0, 1, 1, 1, 1e-3, 1, 0, 1, 0,
                java.util.EnumSet.allOf(dev.vtprune.task.Question.Type.class), 1.0, 0, null, 0, -3));
        assertTrue(e.getMessage().contains("'--val-every'"), e.getMessage());
    }
}
