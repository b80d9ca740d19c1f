package dev.vtprune.cli;

import static dev.vtprune.cli.CliTest.assertOneLineError;
import static dev.vtprune.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IvtpDemoTest {
    @TempDir
    Path dir;

    @Test
    void demoRunsBothStages() throws Exception {
        Path out = dir.resolve("out"), json = dir.resolve("points.json");
        CliTest.Run r = run("demo", "--model", "tiny", "--method", "ivtp", "--keep", "2", "--repeat", "1", "--out", out.toString(),
                "--dump-ivtp", json.toString());
        assertEquals(0, r.code(), r.err());
        // tiny: 2 ViT layers = one short group, 3 LM layers -> W = round(12 * 3 / 32) = 1; 4 tokens per tile -> 3 -> 2
        // geometrically over the 2 points; bundled image: 4 tiles + thumbnail.
        assertTrue(r.out().contains("the first 1 of 3 LM layers (pseudo-CLS, tau 0.20)"), r.out());
        assertTrue(r.out().contains("after layer 1: 4 -> 3"), r.out());
        assertTrue(r.out().contains("LM pruning points (visual tokens of the image): after layer 0: 15 -> 10"), r.out());
        assertTrue(r.out().matches("(?s).*prompt word relevance.*\\n\\s+Where\\*?\\(-?\\d\\.\\d{3}\\).*"), r.out());
        assertTrue(r.out().contains("2 x 2 patch blocks"), r.out());
        assertTrue(r.out().matches("(?s).*visual tokens\\s+20\\s+10.*"), r.out());
        assertTrue(Files.exists(out.resolve("overlay.png")));
        String dumped = Files.readString(json);
        assertTrue(dumped.contains("\"lm_cache_lengths\"") && dumped.contains("\"kept_count\": 10"), dumped);

        CliTest.Run vitOnly = run("demo", "--model", "tiny", "--method", "ivtp", "--keep", "2", "--lm-layers", "0", "--repeat", "1",
                "--out", out.toString());
        assertEquals(0, vitOnly.code(), vitOnly.err());
        assertTrue(vitOnly.out().contains("IVTP, ViT stage only"), vitOnly.out());
        assertTrue(vitOnly.out().contains("after layer 1: 4 -> 2"), vitOnly.out());

        assertOneLineError(run("demo", "--model", "tiny", "--method", "ptp", "--keep", "2"), "argument '--keep' applies to --method ivtp only");
        assertOneLineError(run("demo", "--model", "tiny", "--method", "ptp", "--lm-layers", "2"), "argument '--lm-layers' applies to --method ivtp only");
        assertOneLineError(run("demo", "--model", "tiny", "--method", "ivtp", "--dump", dir.resolve("d.safetensors").toString()),
                "for IVTP's pruning points use --dump-ivtp FILE.json");
        CliTest.Run deep = run("demo", "--model", "tiny", "--method", "ivtp", "--lm-layers", "4");
        assertEquals(2, deep.code());
        assertTrue(deep.err().contains("argument '--lm-layers' must be <= 3 (the LM's layers), got 4"), deep.err());
        CliTest.Run big = run("demo", "--model", "tiny", "--method", "ivtp", "--keep", "5");  // after the progress lines
        assertEquals(2, big.code());
        assertTrue(big.err().contains("argument '--keep' must be <= 4 (the visual tokens per tile), got 5"), big.err());
    }
}
