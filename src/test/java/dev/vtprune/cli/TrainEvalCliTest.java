package dev.vtprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainEvalCliTest {
    private static String[] run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new String[] {Integer.toString(code), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8)};
    }

    @Test
    void badInputExitsWithTwoAndNamesTheArgument(@TempDir Path dir) {
        String[] r = run("eval", "--model-dir", dir.resolve("absent").toString());
        assertEquals("2", r[0], r[2]);
        assertTrue(r[2].contains("'--model-dir'"), r[2]);
        r = run("eval", "--limit", "0", "--model-dir", dir.toString());
        assertEquals("2", r[0], r[2]);
        assertTrue(r[2].contains("'--limit'"), r[2]);
        r = run("train", "--steps", "0", "--out", dir.toString());
        assertEquals("2", r[0], r[2]);
        assertTrue(r[2].contains("'--steps'"), r[2]);
        r = run("train", "--model", "tiny-llava", "--steps", "1", "--clip-steps", "0", "--val", "0", "--out", dir.toString());
        assertEquals("2", r[0], r[2]);
    }

    /** Train a few steps of the tiny preset, then evaluate it: the JSON has the fields. */
    @Test
    void trainThenEvalJson(@TempDir Path dir) {
        String out = dir.resolve("m").toString();
        String[] t = run("train", "--model", "tiny", "--out", out, "--clip-steps", "1", "--steps", "2", "--batch", "2", "--val", "2");
        assertEquals("0", t[0], t[2]);
        assertTrue(t[1].contains("\"steps_done\": 2"), t[1]);
        String[] e = run("eval", "--model-dir", out, "--limit", "2", "--methods", "none,spatial", "--keep", "0.5", "--json");
        assertEquals("0", e[0], e[2]);
        for (String f : new String[] {"\"model\"", "\"seed\"", "\"chance\"", "\"rows\"", "\"method\": \"none\"", "\"keep_ratio\"",
                "\"visual_tokens\"", "\"tflops\"", "\"accuracy\"", "\"ci_low\"", "\"ci_high\"", "\"n\""}) {
            assertTrue(e[1].contains(f), f + " missing in " + e[1]);
        }
        String[] md = run("eval", "--model-dir", out, "--limit", "2", "--methods", "none");
        assertEquals("0", md[0], md[2]);
        assertTrue(md[1].contains("| method | keep |") && md[1].contains("chance"), md[1]);
    }
}
