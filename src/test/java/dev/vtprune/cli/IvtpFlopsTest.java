package dev.vtprune.cli;

import static dev.vtprune.cli.CliTest.assertOneLineError;
import static dev.vtprune.cli.CliTest.longs;
import static dev.vtprune.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import dev.vtprune.model.Flops;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.prune.IvtpPruner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code vtprune flops --method ivtp} against IVTP's Tables 3 and 9 (LLaVA-1.5-7B, 576 -> 64
 * over 12 pruning points: 8 in the 23 ViT layers that run, 4 in the first 12 LM layers).
 */
class IvtpFlopsTest {
    static JsonObject flops(int text) {
        CliTest.Run r = run("flops", "--model", "llava-1.5-7b", "--method", "ivtp", "--keep", "64", "--text-tokens",
                Integer.toString(text));
        assertEquals(0, r.code(), r.err());
        return r.json();
    }

    /** Table 3's IVTP row: every total within 2%. */
    @ParameterizedTest(name = "{0} text tokens: {1} TFLOPs")
    @CsvSource({"128, 3.0", "256, 4.7", "512, 8.2", "1024, 15.5"})
    void reproducesTable3(int text, double paper) {
        assertEquals(paper, flops(text).get("total_tflops").getAsDouble(), 0.02 * paper);
    }

    /**
     * Table 9 (512 text tokens): total 8.228 and LLM 7.946 within 2%. The ViT comes out 0.2097,
     * 3.8% above the paper's 0.202 (the unpruned ViT is already 1.4% above its 0.361, and the
     * paper's exact ViT convention is not stated): checked within 5%. The paper's "extra" 0.080
     * is not reproduced: the CLIP text tower takes at most 77 tokens, which costs 0.013 in this
     * convention (0.080 would be the tower run on ~440 tokens); asserted as what it is.
     */
    @Test
    void table9Breakdown() {
        JsonObject j = flops(512);
        assertEquals(8.228, j.get("total_tflops").getAsDouble(), 0.02 * 8.228);
        assertEquals(7.946, j.get("llm_tflops").getAsDouble(), 0.02 * 7.946);
        assertEquals(0.202, j.get("vision_tflops").getAsDouble(), 0.05 * 0.202);
        assertEquals(Flops.textEncoder(Flops.TextEncoder.CLIP_L14, 77) / 1e12, j.get("extra_tflops").getAsDouble(), 1e-4);
        assertArrayEquals(new long[] {480, 399, 333, 277, 231, 192, 160, 133, 111, 92, 77, 64}, longs(j.getAsJsonArray("schedule")));
    }

    /** The per-layer counts, recounted by hand from the schedule, and the formula on them. */
    @Test
    void eachLayerAtItsOwnLength() {
        JsonObject j = flops(100);
        long[] vit = longs(j.getAsJsonArray("vit_patches_per_layer")), lm = longs(j.getAsJsonArray("lm_tokens_per_layer"));
        long[] k = {480, 399, 333, 277, 231, 192, 160, 133, 111, 92, 77, 64};
        for (int l = 0; l < 23; l++) assertEquals(l < 3 ? 576 : k[l / 3 - 1], vit[l], "ViT layer " + l);
        for (int l = 0; l < 32; l++) assertEquals(l < 12 ? k[7 + l / 3] + 100 + 1 : 64 + 100, lm[l], "LM layer " + l);
        ModelConfig c = ModelConfig.preset("llava-1.5-7b");
        double vision = 2.0 * 576 * 3 * 14 * 14 * 1024, llm = Flops.lmHead(c.language(), 164);
        for (long n : vit) vision += 2.0 * (4.0 * (n + 1) * 1024 * 1024 + 2.0 * (n + 1) * (n + 1) * 1024 + 2.0 * (n + 1) * 1024 * 4096);
        for (long n : lm) llm += Flops.decoderLayer(c.language(), n);
        assertEquals(vision / 1e12, j.get("vision_tflops").getAsDouble(), 1e-4);
        assertEquals(llm / 1e12, j.get("llm_tflops").getAsDouble(), 1e-4);
        // CLIP text tower, 12 layers of 768 / 3072, then the 768 x 768 projection.
        double w = 768, n = 77;
        assertEquals((12 * 2 * (4 * n * w * w + 2 * n * n * w + 2 * n * w * 3072) + 2 * n * w * 768) / 1e12,
                Flops.textEncoder(Flops.TextEncoder.CLIP_L14, 500) / 1e12, 1e-9);
        // The ViT stage alone (IVTP-V): no LM pruning, no text encoder, 64 from the ViT on.
        dev.vtprune.prune.IvtpFlops v = dev.vtprune.prune.IvtpFlops.of(c, 1, 512, IvtpPruner.Config.PAPER.withLmLayers(0));
        assertEquals(0, v.flops().extra());
        for (long len : v.lmLengths()) assertEquals(64 + 512, len);
    }

    @Test
    void badOptions() {
        assertOneLineError(run("flops", "--model", "llava-1.5-7b", "--method", "ivtp", "--keep", "600", "--text-tokens", "5"),
                "argument '--keep' must be in [1, 576] (tokens per tile) with --method ivtp, got 600");
        assertOneLineError(run("flops", "--model", "llava-1.5-7b", "--method", "ivtp", "--group-size", "0", "--text-tokens", "5"),
                "argument '--group-size' must be >= 1, got 0");
        assertOneLineError(run("flops", "--model", "llava-1.5-7b", "--method", "ivtp", "--lm-layers", "40", "--text-tokens", "5"),
                "argument '--lm-layers' must be <= 32");
        assertOneLineError(run("flops", "--model", "llava-1.5-7b", "--method", "best", "--text-tokens", "5"),
                "argument '--method' must be before-lm or ivtp, got 'best'");
        assertOneLineError(run("flops", "--model", "internvl2-2b", "--method", "ivtp", "--visual-tokens", "300", "--text-tokens", "5"),
                "must be a multiple of 256");
    }
}
