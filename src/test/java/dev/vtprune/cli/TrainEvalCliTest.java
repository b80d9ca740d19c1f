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

    /**
     * IVTP in the eval, on a 2-step checkpoint of the tiny preset (its CLIP tower saved by the
     * trainer): the ivtp row keeps fewer visual tokens and costs fewer FLOPs (the CLIP text
     * encoder included) than the unpruned one, and --png writes a decodable plot of the size
     * AccuracyPlot draws. Without clip_config.json only ivtp is refused, naming --model-dir.
     */
    @Test
    void ivtpRowsPlotAndMissingTower(@TempDir Path dir) throws java.io.IOException {
        String out = dir.resolve("m").toString();
        String[] t = run("train", "--model", "tiny", "--out", out, "--clip-steps", "1", "--steps", "2", "--batch", "2", "--val", "0");
        assertEquals("0", t[0], t[2]);
        Path png = dir.resolve("plot.png");
        String[] e = run("eval", "--model-dir", out, "--limit", "3", "--methods", "none,ivtp,spatial", "--keep", "0.5", "--json",
                "--png", png.toString());
        assertEquals("0", e[0], e[2]);
        com.google.gson.JsonObject o = com.google.gson.JsonParser.parseString(e[1]).getAsJsonObject();
        com.google.gson.JsonArray rows = o.getAsJsonArray("rows");
        assertEquals(3, rows.size(), e[1]);
        com.google.gson.JsonObject none = rows.get(0).getAsJsonObject(), ivtp = rows.get(1).getAsJsonObject();
        assertEquals("none", none.get("method").getAsString());
        assertEquals(1.0, none.get("keep_ratio").getAsDouble());
        assertEquals("ivtp", ivtp.get("method").getAsString());
        assertEquals(0.5, ivtp.get("keep_ratio").getAsDouble());
        assertTrue(ivtp.get("visual_tokens").getAsDouble() < none.get("visual_tokens").getAsDouble(), e[1]);
        assertTrue(ivtp.get("tflops").getAsDouble() < none.get("tflops").getAsDouble(), e[1]);
        for (String f : new String[] {"accuracy", "ci_low", "ci_high", "n"}) assertTrue(ivtp.has(f), f + " missing in " + ivtp);
        assertEquals(3, ivtp.get("n").getAsInt());
        assertTrue(ivtp.get("ci_low").getAsDouble() <= ivtp.get("accuracy").getAsDouble()
                && ivtp.get("accuracy").getAsDouble() <= ivtp.get("ci_high").getAsDouble(), ivtp.toString());
        java.awt.image.BufferedImage img = javax.imageio.ImageIO.read(png.toFile());
        assertTrue(img != null, "PNG decodes");
        assertEquals(dev.vtprune.eval.AccuracyPlot.WIDTH, img.getWidth());
        assertEquals(dev.vtprune.eval.AccuracyPlot.HEIGHT, img.getHeight());

        String[] bad = run("eval", "--model-dir", out, "--limit", "1", "--methods", "none", "--png", dir.resolve("no/such/dir/p.png").toString());
        assertEquals("2", bad[0], bad[2]);
        assertTrue(bad[2].contains("'--png'"), bad[2]);
        bad = run("eval", "--model-dir", out, "--limit", "1", "--methods", "none", "--png", dir.toString());
        assertEquals("2", bad[0], bad[2]);
        assertTrue(bad[2].contains("'--png'") && bad[2].contains("directory"), bad[2]);

        java.nio.file.Files.delete(Path.of(out, "clip_config.json"));
        String[] missing = run("eval", "--model-dir", out, "--limit", "1", "--methods", "none,ivtp", "--keep", "0.5");
        assertEquals("2", missing[0], missing[2]);
        assertTrue(missing[2].contains("'--model-dir'") && missing[2].contains("CLIP text tower"), missing[2]);
        String[] others = run("eval", "--model-dir", out, "--limit", "1", "--methods", "none,spatial", "--keep", "0.5");
        assertEquals("0", others[0], others[2]);
    }
}
