package dev.vtprune.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.io.Safetensors;
import dev.vtprune.io.SafetensorsFile;
import dev.vtprune.testing.Approx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vtprune forward} on a tiny checkpoint in the real InternVL2 layout: the outputs' shapes
 * and names, their agreement with the modules' own forwards (the PyTorch comparison is
 * ForwardFidelityTest), and exit code 2 with a message naming the tensor or flag for bad input.
 */
class ForwardCommandTest {
    @TempDir
    Path dir;

    static final long IMG_CONTEXT = 297;

    static DemoCheckpointTest.Run forward(String... args) {
        return DemoCheckpointTest.command("forward", args);
    }

    private Path model(TestCheckpoint ck, boolean withToken) throws Exception {
        Path d = Files.createDirectories(dir.resolve(withToken ? "model" : "model-without-token"));
        Files.writeString(d.resolve("config.json"), DemoCheckpointTest.TINY_INTERNVL);
        Safetensors.write(d.resolve("model.safetensors"), ck.hf);
        if (withToken) {  // InternVL2-2B's form: the id only in tokenizer_config.json
            Files.writeString(d.resolve("tokenizer_config.json"), "{\"added_tokens_decoder\": {\"" + IMG_CONTEXT
                    + "\": {\"content\": \"<IMG_CONTEXT>\", \"special\": true}, \"1\": {\"content\": \"<s>\"}}}");
        }
        return d;
    }

    /** [5 text][tiles x 4 image-context ids][6 text] */
    static long[] ids(int slots) {
        long[] ids = new long[11 + slots];
        for (int i = 0; i < ids.length; i++) ids[i] = i >= 5 && i < 5 + slots ? IMG_CONTEXT : (7L * i + 3) % 290;
        return ids;
    }

    private Path input(String name, Tensor pixels, long[] ids) {
        Path f = dir.resolve(name + ".safetensors");
        Safetensors.write(f, Map.of("pixel_values", pixels, "input_ids", Tensor.create(ids)));
        return f;
    }

    @Test
    void writesEveryOutputConsistentWithTheModules() throws Exception {
        ModelConfig c = ModelConfig.preset("tiny");
        TestCheckpoint ck = TestCheckpoint.of(c, 17);
        Path m = model(ck, true);
        Tensor pixels = ModelTesting.randn(3, 3, 3, 56, 56);
        long[] ids = ids(12);
        Path out = dir.resolve("out.safetensors");
        DemoCheckpointTest.Run r = forward("--model-dir", m.toString(), "--input", input("in", pixels, ids).toString(), "--out",
                out.toString(), "--hidden", "0,2,3");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("\"image_token_id\": " + IMG_CONTEXT), r.out());
        try (SafetensorsFile f = SafetensorsFile.open(out); Lvlm model = ModelTesting.load(ck, c)) {
            assertEquals(java.util.Set.of("vision_features", "visual_embeds", "logits", "hidden_0", "hidden_2", "hidden_3"),
                    f.names());
            Tensor features = f.load("vision_features"), visual = f.load("visual_embeds"), logits = f.load("logits");
            assertArrayEquals(new long[] {3, 16, 32}, features.shape());
            assertArrayEquals(new long[] {12, 48}, visual.shape());
            assertArrayEquals(new long[] {ids.length, 300}, logits.shape());
            assertArrayEquals(new long[] {ids.length, 48}, f.load("hidden_3").shape());
            VisionOutput v = model.vision().forward(pixels);
            close(v.patches(), features, 0, 0, "vision_features");
            Tensor projected = model.projector().forward(v.patches());
            close(projected.reshape(12, 48), visual, 0, 0, "visual_embeds");
            // hidden_0 is the merged input: visual rows at the image-context slots, embeddings elsewhere.
            Tensor h0 = f.load("hidden_0");
            close(visual, h0.narrow(0, 5, 12), 0, 0, "hidden_0 visual rows");
            Tensor text = model.language().embed(Tensor.create(new long[] {ids[0], ids[ids.length - 1]}, 1, 2)).select(0, 0);
            close(text.select(0, 0), h0.select(0, 0), 0, 0, "hidden_0 first text row");
            // The last row of the logits is what the (separately written) prefill computes.
            try (Prefill p = model.language().prefill(h0.unsqueeze(0), new long[] {ids.length})) {
                close(p.lastLogits().select(0, 0), logits.select(0, ids.length - 1), 1e-5, 1e-5,
                        "last logits vs prefill");
            }
        }
    }

    @Test
    void badInputsExitTwoNamingTheTensorOrFlag() throws Exception {
        TestCheckpoint ck = TestCheckpoint.of(ModelConfig.preset("tiny"), 18);
        String m = model(ck, true).toString(), noToken = model(ck, false).toString();
        Tensor pixels = ModelTesting.randn(4, 2, 3, 56, 56);
        String good = input("good", pixels, ids(8)).toString(), out = dir.resolve("o.safetensors").toString();
        String[][] cases = {
            {"pixel_values", "[T >= 1, 3, 56, 56]", input("size", ModelTesting.randn(5, 2, 3, 42, 42), ids(8)).toString()},
            {"input_ids", "8 times", input("count", pixels, ids(7)).toString()},
            {"input_ids[", "[0, 300)", input("range", pixels, withId(ids(8), 1, 300)).toString()},
        };
        for (String[] c : cases) {
            DemoCheckpointTest.Run r = forward("--model-dir", m, "--input", c[2], "--out", out);
            assertEquals(2, r.code(), r.err());
            assertTrue(r.err().contains(c[0]) && r.err().contains(c[1]), r.err());
        }
        Path missing = dir.resolve("missing.safetensors");
        Safetensors.write(missing, Map.of("input_ids", Tensor.create(ids(8))));
        assertError(forward("--model-dir", m, "--input", missing.toString(), "--out", out), "'pixel_values' is missing");
        assertError(forward("--model-dir", m, "--input", good, "--out", out, "--hidden", "4"), "'--hidden'", "[0, 3]");
        assertError(forward("--model-dir", m, "--input", good, "--out", out, "--method", "fastv"), "'--method'");
        assertError(forward("--model-dir", m, "--input", good, "--out", out, "--method", "random", "--ratio", "1"),
                "'--ratio'");
        assertError(forward("--model-dir", noToken, "--input", good, "--out", out), "<IMG_CONTEXT>",
                "added_tokens.json");
        assertError(forward("--model-dir", m, "--input", good, "--out", out, "--dtype", "int8"), "'--dtype'");
    }

    @Test
    void prunedForwardWritesKeptAndDropsTheOthers() throws Exception {
        TestCheckpoint ck = TestCheckpoint.of(ModelConfig.preset("tiny"), 19);
        Path m = model(ck, true);
        Path out = dir.resolve("pruned.safetensors");
        long[] ids = ids(8);
        DemoCheckpointTest.Run r = forward("--model-dir", m.toString(), "--input", input("p", ModelTesting.randn(6, 2, 3, 56, 56), ids)
                .toString(), "--out", out.toString(), "--method", "ptp", "--ratio", "0.5", "--hidden", "0");
        assertEquals(0, r.code(), r.err());
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            long[] kept = dev.vtprune.internal.Tensors.toLongs(f.load("kept"));
            assertEquals(4, kept.length);
            assertArrayEquals(new long[] {ids.length - 4, 300}, f.load("logits").shape());
            Tensor visual = f.load("visual_embeds"), h0 = f.load("hidden_0");
            for (int i = 0; i < kept.length; i++) {
                close(visual.select(0, kept[i]), h0.select(0, 5 + i), 0, 0, "kept row " + i);
            }
        }
    }

    private static void close(Tensor expected, Tensor actual, double atol, double rtol, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        Approx.assertClose(dev.vtprune.internal.Tensors.toDoubles(expected.contiguous()),
                dev.vtprune.internal.Tensors.toDoubles(actual.contiguous()), atol, rtol, what);
    }

    private static long[] withId(long[] ids, int at, long id) {
        ids[at] = id;
        return ids;
    }

    private static void assertError(DemoCheckpointTest.Run r, String... fragments) {
        assertEquals(2, r.code(), r.err());
        for (String s : fragments) assertTrue(r.err().contains(s), "'" + s + "' not in: " + r.err());
    }
}
