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
    void demoRunsTheViTStage() {
        Path out = dir.resolve("out");
        CliTest.Run r = run("demo", "--model", "tiny", "--method", "ivtp", "--keep", "2", "--repeat", "1", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        // tiny: 2 ViT layers = one short group; 4 tokens per tile -> 2; bundled image: 4 tiles + thumbnail.
        assertTrue(r.out().contains("IVTP, ViT stage only"), r.out());
        assertTrue(r.out().contains("not implemented yet"), r.out());
        assertTrue(r.out().contains("after layer 1: 4 -> 2"), r.out());
        assertTrue(r.out().contains("2 x 2 patch blocks"), r.out());
        assertTrue(r.out().matches("(?s).*visual tokens\\s+20\\s+10.*"), r.out());
        assertTrue(Files.exists(out.resolve("overlay.png")));
        assertOneLineError(run("demo", "--model", "tiny", "--method", "ptp", "--keep", "2"), "argument '--keep' applies to --method ivtp only");
        assertOneLineError(run("demo", "--model", "tiny", "--method", "ivtp", "--dump", dir.resolve("d.safetensors").toString()),
                "--dump-ivtp) are not implemented yet");
        CliTest.Run big = run("demo", "--model", "tiny", "--method", "ivtp", "--keep", "5");  // after the progress lines
        assertEquals(2, big.code());
        assertTrue(big.err().contains("argument '--keep' must be <= 4 (the visual tokens per tile), got 5"), big.err());
    }
}
