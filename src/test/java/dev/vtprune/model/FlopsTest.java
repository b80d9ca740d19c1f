package dev.vtprune.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class FlopsTest {

    /** IVTP Table 3 (LLaVA-1.5-7B, 576 visual tokens) and Table 2 (13B at 512): within 1%. */
    @ParameterizedTest(name = "{0} with {1} text tokens: {2} TFLOPs")
    @CsvSource({
        "llava-1.5-7b, 128, 9.9",
        "llava-1.5-7b, 256, 11.7",
        "llava-1.5-7b, 512, 15.4",
        "llava-1.5-7b, 1024, 22.9",
        "llava-1.5-13b, 512, 29.4"})
    void reproducesTheIvtpTables(String model, int text, double paperTflops) {
        Flops.Breakdown f = Flops.prefill(ModelConfig.preset(model), 576, text);
        double tflops = f.total() / 1e12;
        assertEquals(paperTflops, tflops, 0.01 * paperTflops, model + " " + text);
    }

    @Test
    void reproducesTheIvtpTable9Breakdown() {
        // LLaVA-1.5-7B at 512 text tokens: ViT 0.361, LLM 15.003 TFLOPs.
        Flops.Breakdown f = Flops.prefill(ModelConfig.preset("llava-1.5-7b"), 576, 512);
        assertEquals(15.003, f.llm() / 1e12, 0.01 * 15.003);
        assertEquals(0.361, f.vision() / 1e12, 0.02 * 0.361);
    }

    @Test
    void decoderLayerFormula() {
        // n = 10, d = 4, m = 6, GQA 2 / 4: 2 (2*10*16*1.5 + 2*100*4 + 3*10*4*6) = 2 (480 + 800 + 720) = 4000
        ModelConfig.Language lm = new ModelConfig.Language(1, 4, 4, 2, 6, 7, false, 1e4, 1e-5, false, 2048);
        assertEquals(4000.0, Flops.decoderLayer(lm, 10), 1e-9);
        assertEquals(2.0 * 10 * 4 * 7, Flops.lmHead(lm, 10), 1e-9);
    }

    @Test
    void prunedRunsCountEachLayerAtItsLength() {
        ModelConfig c = ModelConfig.preset("internvl2-2b");
        long v = 3328, k = 1664, t = 64;
        Flops.Breakdown full = Flops.prefill(c, v, t), pruned = Flops.pruned(c, v, k, t, 0);
        Flops.Breakdown probed = Flops.pruned(c, v, k, t, 2);
        assertEquals(full.vision(), pruned.vision(), 0, "the ViT always sees every tile");
        assertEquals(24 * Flops.decoderLayer(c.language(), k + t), pruned.decoder(), 1);
        assertEquals(pruned.decoder() + 2 * Flops.decoderLayer(c.language(), v + t), probed.decoder(), 1,
                "a probe of 2 layers runs at full length on top");
        assertEquals(13, Flops.tilesFor(c, v));
        assertEquals(3328, Flops.defaultVisualTokens(c));
        assertEquals(576, Flops.defaultVisualTokens(ModelConfig.preset("llava-1.5-7b")));
        assertThrows(IllegalArgumentException.class, () -> Flops.pruned(c, v, v + 1, t, 0));
        assertThrows(IllegalArgumentException.class, () -> Flops.pruned(c, v, k, t, 25));
    }
}
