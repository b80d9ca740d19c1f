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
            assertTrue(ck.names().contains("clip.text.embed"));
        }
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
    }

    @Test
    void badOptions() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer.Options(1, 0, 0, 1, 1, 1e-3, 1, 0, 1, 0));
        assertTrue(e.getMessage().contains("'--steps'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Trainer.Options(1, 0, 1, 1, 6, 1e-3, 1, 0, 1, 0));
        assertTrue(e.getMessage().contains("'--questions'"), e.getMessage());
    }
}
