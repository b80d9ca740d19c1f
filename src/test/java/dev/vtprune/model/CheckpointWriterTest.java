package dev.vtprune.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.io.SafetensorsCheckpoint;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeSet;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointWriterTest {

    /**
     * Writing is the exact inverse of the HF layout: a model loaded from a checkpoint made under
     * the real InternVL2 key names (by TestCheckpoint, independently of both loader and writer)
     * is written back to exactly those tensors, extras included, and its config.json parses back
     * to the same shapes.
     */
    @Test
    void writesTheInternVl2KeysBack(@TempDir Path dir) {
        ModelConfig c = ModelConfig.preset("tiny");
        TestCheckpoint ck = TestCheckpoint.of(c, 5);
        Tensor extra = ck.normal(0, 1, 3, 4);
        try (Lvlm m = ModelTesting.load(ck, c)) {
            CheckpointWriter.write(m, dir, Map.of("clip.text.embed", extra));
        }
        try (SafetensorsCheckpoint back = SafetensorsCheckpoint.open(dir)) {
            TreeSet<String> expected = new TreeSet<>(ck.hf.keySet());
            expected.add("clip.text.embed");
            assertEquals(expected, new TreeSet<>(back.names()));
            for (Map.Entry<String, Tensor> e : ck.hf.entrySet()) {
                assertTrue(back.load(e.getKey()).equal(e.getValue()), e.getKey() + " differs");
            }
            assertTrue(back.load("clip.text.embed").equal(extra));
        }
        ModelConfig read = ModelConfig.fromHuggingFace(dir.resolve("config.json"));
        assertEquals(c.family(), read.family());
        assertEquals(c.vision(), read.vision());
        assertEquals(c.projector(), read.projector());
        assertEquals(c.language(), read.language());
        assertEquals(c.tiling(), read.tiling());
        assertEquals("tiny", read.name());
    }

    @Test
    void refusesOtherFamilies(@TempDir Path dir) {
        try (Lvlm m = RandomWeights.create(ModelConfig.preset("tiny-llava"), 1, ScalarType.Float)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CheckpointWriter.write(m, dir, null));
            assertTrue(e.getMessage().contains("LLAVA"), e.getMessage());
        }
    }
}
