package dev.vtprune.pipeline;

import static dev.vtprune.pipeline.LvlmPipelineTest.image;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.RandomWeights;
import dev.vtprune.internal.Tensors;
import dev.vtprune.prune.IvtpPruner;
import dev.vtprune.testing.Approx;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** IVTP's ViT stage through the pipeline (the stage itself is checked against an oracle in VitPruningTest). */
class IvtpPipelineTest {
    static Lvlm model;
    static LvlmPipeline pipeline;

    @BeforeAll
    static void setUp() {
        // 6 ViT layers (2 groups of 3), 112 px tiles of 8 x 8 patches -> 16 tokens per tile.
        ModelConfig c = new ModelConfig("ivtp-test", ModelConfig.Family.INTERNVL_INTERNLM2,
                new ModelConfig.Vision(112, 14, 6, 32, 2, 64, 2, true, false, false), new ModelConfig.Projector(128, 48, 48, true),
                new ModelConfig.Language(3, 48, 4, 2, 96, 300, false, 10000, 1e-5, false, 2048), new ModelConfig.Tiling(1, 4, true));
        model = RandomWeights.create(c, 5, ScalarType.Float);
        pipeline = new LvlmPipeline(model, new ByteTokenizer(300, PromptTemplate.INTERNVL.specials()), PromptTemplate.INTERNVL);
    }

    @AfterAll
    static void tearDown() {
        model.close();
    }

    static LvlmPipeline.Options ivtp(IvtpPruner.Config c) {
        return LvlmPipeline.Options.of(new IvtpPruner(c.withLmLayers(0)));
    }

    @Test
    void theViTStageShortensTheSequenceAndReportsEachPoint() {
        IvtpPruner.Config c = IvtpPruner.Config.PAPER.withFinalKeep(5);
        try (Result r = pipeline.run(List.of(image(224, 112, 2)), List.of("find the red ball"), ivtp(c))) {
            assertArrayEquals(new long[] {48}, r.visualBefore(), "(2 + thumbnail) tiles x 16");
            assertArrayEquals(new long[] {15}, r.visualAfter(), "3 tiles x 5");
            assertEquals(r.sequences().get(0).length() - 33, r.kvLengths()[0]);
            var steps = r.vitTrace().steps();
            assertEquals(2, steps.size());
            // Geometric 16 -> 5 over 2 points: round(16 sqrt(5/16)) = 9 merged tokens = 36 patches, then 5.
            assertEquals(36, steps.get(0).kept()[0].length);
            assertEquals(20, steps.get(1).kept()[0].length);
            long[] kept = r.selection().keptIndices();
            for (int t = 0; t < 3; t++) {
                long[] want = r.vitTrace().tokens()[t];
                for (int j = 0; j < 5; j++) assertEquals(16L * t + want[j], kept[t * 5 + j], "tile " + t + " kept token " + j);
            }
            assertTrue(r.logits().isfinite().all().item_bool());
        }
    }

    /** The ViT stage's survivors keep their unpruned positions unless asked to be renumbered. */
    @Test
    void theViTStageKeepsPositionsUnlessCompact() {
        var im = List.of(image(224, 112, 6));
        LvlmPipeline.Options o = ivtp(IvtpPruner.Config.PAPER.withFinalKeep(5));
        try (Result kept = pipeline.run(im, List.of("where"), o);
             Result compact = pipeline.run(im, List.of("where"), o.withOriginalPositions(false))) {
            long length = kept.sequences().get(0).length();
            assertArrayEquals(new long[] {length}, kept.cache().nextPositions());
            assertArrayEquals(new long[] {length - 33}, compact.cache().nextPositions());
            assertArrayEquals(kept.selection().keptIndices(), compact.selection().keptIndices());
            double[] a = Tensors.toDoubles(kept.logits()), b = Tensors.toDoubles(compact.logits());
            double diff = 0;
            for (int i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
            assertTrue(diff > 1e-4, "the positions reach the logits (max diff " + diff + ")");
        }
    }

    @Test
    void keepingEverythingIsTheUnprunedRun() {
        List<java.awt.image.BufferedImage> im = List.of(image(224, 112, 3));
        try (Result full = pipeline.run(im, List.of("x y"), LvlmPipeline.Options.unpruned());
             Result all = pipeline.run(im, List.of("x y"), ivtp(IvtpPruner.Config.PAPER.withFinalRatio(1.0)))) {
            assertArrayEquals(full.visualBefore(), all.visualAfter());
            Approx.assertClose(Tensors.toDoubles(full.logits()), Tensors.toDoubles(all.logits()), 1e-4, 1e-4, "logits");
        }
    }

    @Test
    void aBatchOfImagesWithDifferentPromptsIsSeparateRuns() {
        var a = image(224, 112, 4);
        var b = image(112, 112, 5);
        IvtpPruner.Config c = IvtpPruner.Config.PAPER.withFinalKeep(6);
        try (Result both = pipeline.run(List.of(a, b), List.of("where is it?", "count the dots please"), ivtp(c));
             Result ra = pipeline.run(List.of(a), List.of("where is it?"), ivtp(c));
             Result rb = pipeline.run(List.of(b), List.of("count the dots please"), ivtp(c))) {
            assertArrayEquals(new long[] {ra.visualAfter()[0], rb.visualAfter()[0]}, both.visualAfter());
            double[] logits = Tensors.toDoubles(both.logits());
            int v = 300;
            Approx.assertClose(Tensors.toDoubles(ra.logits()), Arrays.copyOfRange(logits, 0, v), 1e-4, 1e-4, "image 0");
            Approx.assertClose(Tensors.toDoubles(rb.logits()), Arrays.copyOfRange(logits, v, 2 * v), 1e-4, 1e-4, "image 1");
            long[] kept = both.selection().keptIndices(), ka = ra.selection().keptIndices(), kb = rb.selection().keptIndices();
            assertArrayEquals(ka, Arrays.copyOf(kept, ka.length));
            long offset = both.layout().tokenOffset(both.layout().firstTile(1));
            for (int j = 0; j < kb.length; j++) assertEquals(kb[j] + offset, kept[ka.length + j]);
        }
    }

    /**
     * Both stages: ViT (2 groups of 3) then W = 2 LM layers (one short group), 16 -> 3 per tile
     * geometrically over the 3 points. The LM stage itself is checked against a float64 oracle
     * in LmPruningTest; here the wiring: counts, cache lengths, relevance per instruction token.
     */
    @Test
    void bothStagesRunWithThePseudoCls() {
        IvtpPruner.Config c = IvtpPruner.Config.PAPER.withFinalKeep(3).withLmLayers(2);
        long[] schedule = new IvtpPruner(c).schedule(6, 16);
        assertEquals(3, schedule.length);
        String prompt = "find the red ball";
        try (IvtpText text = IvtpText.random(model.config(), 9, 0.2);
             Result r = new LvlmPipeline(model, new ByteTokenizer(300, PromptTemplate.INTERNVL.specials()),
                     PromptTemplate.INTERNVL, text).run(List.of(image(224, 112, 2)), List.of(prompt),
                     LvlmPipeline.Options.of(new IvtpPruner(c)))) {
            assertEquals(2, r.vitTrace().steps().size());
            Result.LmStage lm = r.lmStage();
            assertEquals(1, lm.steps().size());
            assertEquals(1, lm.steps().get(0).layer(), "the short group's top: layer W - 1");
            assertArrayEquals(new long[] {9}, r.visualAfter(), "3 tiles x 3, exact");
            assertEquals(9, lm.steps().get(0).kept()[0].length);
            assertEquals(3 * schedule[1], lm.steps().get(0).present()[0].length, "the ViT stage's survivors");
            assertEquals(9, r.selection().keptIndices().length);
            long full = r.sequences().get(0).length() - 48 + 3 * schedule[1];
            assertEquals(full, lm.positions()[0].length, "layer 0 caches every token it saw, no pseudo-CLS");
            assertEquals(full, lm.positions()[1].length);
            assertEquals(full - 3 * schedule[1] + 9, lm.positions()[2].length, "layer 2 caches the kept tokens");
            assertArrayEquals(new long[] {full - 3 * schedule[1] + 9}, r.kvLengths());
            assertArrayEquals(new long[] {r.sequences().get(0).length()}, r.cache().nextPositions(),
                    "both stages keep the unpruned positions: decoding continues after the unpruned sequence");
            assertEquals(prompt.length(), lm.relevance().length, "one byte token per character");
            for (int i = 0; i < prompt.length(); i++) {
                assertEquals(i, lm.tokenStart()[i]);
                double ci = lm.relevance()[i];
                assertTrue(ci >= -1 && ci <= 1, "C_" + i + " is a cosine (each byte covered by one CLIP byte token): " + ci);
            }
            assertTrue(r.logits().isfinite().all().item_bool());
        }
    }

    @Test
    void theLmStageNeedsItsTextTowerOneImageAndEnoughLayers() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pipeline.run(
                List.of(image(56, 56, 1)), List.of("x"), LvlmPipeline.Options.of(new IvtpPruner(IvtpPruner.Config.PAPER.withFinalKeep(4)))));
        assertTrue(e.getMessage().contains("needs CLIP's text tower"), e.getMessage());
        try (IvtpText text = IvtpText.random(model.config(), 9, 0.2)) {
            LvlmPipeline p = new LvlmPipeline(model, new ByteTokenizer(300, PromptTemplate.INTERNVL.specials()),
                    PromptTemplate.INTERNVL, text);
            e = assertThrows(IllegalArgumentException.class, () -> p.run(List.of(image(56, 56, 1)), List.of("x"),
                    LvlmPipeline.Options.of(new IvtpPruner(IvtpPruner.Config.PAPER.withFinalKeep(4)))));
            assertTrue(e.getMessage().contains("'lmLayers' must be <= the LM's 3 layers, got 12"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> p.run(List.of(image(56, 56, 1), image(56, 56, 2)),
                    List.of("x", "y"), LvlmPipeline.Options.of(new IvtpPruner(IvtpPruner.Config.PAPER.withFinalKeep(4).withLmLayers(2)))));
            assertTrue(e.getMessage().contains("one image per run"), e.getMessage());
        }
    }
}
