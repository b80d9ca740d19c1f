package dev.vtprune.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.RandomWeights;
import dev.vtprune.ops.Backend;
import dev.vtprune.internal.Tensors;
import dev.vtprune.prune.FastVPruner;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.RandomPruner;
import dev.vtprune.testing.Approx;
import java.awt.image.BufferedImage;
import java.util.List;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class LvlmPipelineTest {
    static Lvlm model;
    static LvlmPipeline pipeline;

    @BeforeAll
    static void setUp() {
        model = RandomWeights.create(ModelConfig.preset("tiny"), 7, ScalarType.Float);
        PromptTemplate template = PromptTemplate.INTERNVL;
        pipeline = new LvlmPipeline(model, new ByteTokenizer(model.config().language().vocab(), template.specials()), template);
    }

    @AfterAll
    static void tearDown() {
        model.close();
    }

    /** A synthetic image with some structure (tiles differ). */
    static BufferedImage image(int w, int h, long seed) {
        return dev.vtprune.testing.Images.ovals(w, h, seed);
    }

    static PyramidTokenPruner ptp(double ratio) {
        return new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER.withRatio(ratio));
    }

    @Test
    void unprunedRunShapesAndLengths() {
        // tiny: 56 px tiles of 4 x 4 patches merged 2 x 2 -> 4 tokens per tile; max 4 tiles.
        try (Result r = pipeline.run(List.of(image(112, 56, 1)), List.of("what is this?"), LvlmPipeline.Options.unpruned())) {
            assertEquals(2, r.tilings().get(0).localTiles(), "112 x 56 -> a 2 x 1 grid");
            assertArrayEquals(new long[] {12}, r.visualBefore(), "(2 + thumbnail) tiles x 4 tokens");
            assertArrayEquals(new long[] {1, model.config().language().vocab()}, r.logits().shape());
            assertArrayEquals(new long[] {r.sequences().get(0).length()}, r.kvLengths());
            assertTrue(r.logits().isfinite().all().item_bool());
            assertTrue(r.timings().ms("prefill") > 0 && r.timings().ms("vision") > 0);
        }
    }

    @Test
    void ptpShortensTheSequenceByTheDroppedTokens() {
        try (Result r = pipeline.run(List.of(image(224, 112, 2)), List.of("find the red ball"), LvlmPipeline.Options.of(ptp(0.5)))) {
            long before = r.visualBefore()[0], after = r.visualAfter()[0];
            assertEquals(before / 2, after, "r = 0.5 keeps half of the (4 + 1) x 4 tokens... budgets round per tile");
            assertEquals(r.sequences().get(0).length() - (before - after), r.sequenceLengths()[0]);
            assertArrayEquals(r.sequenceLengths(), r.kvLengths());
            assertEquals(after, r.selection().numKept());
            assertTrue(r.timings().ms("probe") > 0 && r.timings().ms("select") > 0);
        }
    }

    @Test
    void keepingEverythingReproducesTheUnprunedLogits() {
        // Ratio 0 keeps every token: the pruned prefill, and the reuse of the probe's layers, must
        // give exactly the unpruned result — this checks the gather and the sequence assembly.
        List<BufferedImage> im = List.of(image(168, 112, 3));
        List<String> q = List.of("count the circles");
        try (Result full = pipeline.run(im, q, LvlmPipeline.Options.unpruned());
             Result all = pipeline.run(im, q, LvlmPipeline.Options.of(ptp(0.0)));
             Result reuse = pipeline.run(im, q, LvlmPipeline.Options.of(ptp(0.0)).withReuseProbe(true));
             Result fastv = pipeline.run(im, q, LvlmPipeline.Options.of(new FastVPruner(0.0, 1, Backend.NATIVE)))) {
            double[] want = Tensors.toDoubles(full.logits());
            Approx.assertClose(want, Tensors.toDoubles(all.logits()), 1e-5, 1e-4, "ratio 0, prefill again");
            Approx.assertClose(want, Tensors.toDoubles(reuse.logits()), 1e-5, 1e-4, "ratio 0, probe reused");
            Approx.assertClose(want, Tensors.toDoubles(fastv.logits()), 1e-5, 1e-4, "FastV at ratio 0");
        }
    }

    /**
     * Pruning before the LM keeps the kept tokens' unpruned RoPE positions by default: the cache
     * continues after the unpruned length and the logits are those of the shorter sequence at
     * those positions, built here by hand from the selection (text, kept visual tokens, text);
     * renumbering from 0 gives other logits and continues after the pruned length.
     */
    @Test
    void prunedTokensKeepTheirUnprunedPositionsUnlessCompact() {
        List<BufferedImage> im = List.of(image(224, 112, 8));
        List<String> q = List.of("where is the red ball");
        LvlmPipeline.Options original = LvlmPipeline.Options.of(new RandomPruner(0.5, 3));
        assertTrue(original.originalPositions(), "the default");
        try (Result full = pipeline.run(im, q, LvlmPipeline.Options.unpruned());
             Result kept = pipeline.run(im, q, original);
             Result compact = pipeline.run(im, q, original.withOriginalPositions(false))) {
            PromptTemplate.Layout seq = full.sequences().get(0);
            long length = seq.length(), dropped = kept.visualBefore()[0] - kept.visualAfter()[0];
            assertArrayEquals(new long[] {length}, kept.cache().nextPositions());
            assertArrayEquals(new long[] {length - dropped}, compact.cache().nextPositions());
            assertArrayEquals(kept.selection().keptIndices(), compact.selection().keptIndices(), "same seed, same choice");

            // The reference: the unpruned sequence's embeddings, the dropped rows removed, at the kept rows' positions.
            long[] ids = seq.ids().clone();
            long vs = seq.visualStart(), vc = seq.visualCount();
            long[] keptIds = kept.selection().keptIndices();
            long[] positions = new long[(int) (length - dropped)];
            int w = 0;
            for (long p = 0; p < vs; p++) positions[w++] = p;
            for (long k : keptIds) positions[w++] = vs + k;
            for (long p = vs + vc; p < length; p++) positions[w++] = p;
            try (org.bytedeco.javacpp.PointerScope scope = new org.bytedeco.javacpp.PointerScope()) {
                org.bytedeco.pytorch.Tensor embeds = fullEmbeddings(ids, vs, im.get(0));
                org.bytedeco.pytorch.Tensor rows = org.bytedeco.pytorch.Tensor.create(positions);
                org.bytedeco.pytorch.Tensor shorter = embeds.index_select(1, rows);
                double[] want = Tensors.toDoubles(model.language().prefillFrom(0, shorter, new long[] {positions.length},
                        rows.unsqueeze(0), null).lastLogits());
                Approx.assertClose(want, Tensors.toDoubles(kept.logits()), 1e-5, 1e-4, "logits at the original positions");
                double diff = 0;
                double[] c = Tensors.toDoubles(compact.logits());
                for (int i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(c[i] - want[i]));
                assertTrue(diff > 1e-3, "renumbered positions give other logits (max diff " + diff + ")");
            }
        }
    }

    /** [1, L, hidden]: the unpruned sequence's input embeddings, the image's projected tokens in its visual slots. */
    private static org.bytedeco.pytorch.Tensor fullEmbeddings(long[] ids, long vs, BufferedImage image) {
        org.bytedeco.pytorch.Tensor pixels = dev.vtprune.pipeline.image.Preprocessor.forModel(model.config())
                .tensor(pipeline.tile(List.of(image)).get(0));
        org.bytedeco.pytorch.Tensor visual = model.projector().forward(model.vision().forward(pixels, -1).patches());
        visual = visual.reshape(visual.size(0) * visual.size(1), visual.size(2));
        org.bytedeco.pytorch.Tensor embeds = model.language().embed(org.bytedeco.pytorch.Tensor.create(ids, 1, ids.length));
        embeds.select(0, 0).narrow(0, vs, visual.size(0)).copy_(visual);
        return embeds;
    }

    @Test
    void batchOfTwoImagesEqualsSeparateRuns() {
        List<BufferedImage> im = List.of(image(224, 112, 4), image(56, 56, 5));
        List<String> q = List.of("left image?", "a much longer instruction for the second image");
        LvlmPipeline.Options o = LvlmPipeline.Options.of(ptp(0.5));
        try (Result both = pipeline.run(im, q, o);
             Result a = pipeline.run(List.of(im.get(0)), List.of(q.get(0)), o);
             Result b = pipeline.run(List.of(im.get(1)), List.of(q.get(1)), o)) {
            assertEquals(1, both.tilings().get(1).size(), "56 x 56 is one tile");
            assertTrue(!both.tilings().get(1).hasThumbnail(), "and no thumbnail");
            assertArrayEquals(new long[] {a.visualAfter()[0], b.visualAfter()[0]}, both.visualAfter());
            double[] logits = Tensors.toDoubles(both.logits());
            int vocab = model.config().language().vocab();
            Approx.assertClose(Tensors.toDoubles(a.logits()), java.util.Arrays.copyOfRange(logits, 0, vocab), 1e-5, 1e-4,
                    "image 0");
            Approx.assertClose(Tensors.toDoubles(b.logits()), java.util.Arrays.copyOfRange(logits, vocab, 2 * vocab), 1e-5,
                    1e-4, "image 1");
        }
    }

    @Test
    void baselinesRunThroughThePipeline() {
        try (Result r = pipeline.run(List.of(image(224, 224, 6)), List.of("x"), LvlmPipeline.Options.of(new RandomPruner(0.75, 1)))) {
            long before = r.visualBefore()[0];
            assertEquals(Math.floor(0.25 * before + 0.5), r.visualAfter()[0]);
        }
    }

    @Test
    void vitLayerScalesToTheModelsDepth() {
        assertEquals(1, pipeline.scaledVitLayer(11), "11 of 24 -> 1 of 2 (tiny has 2 ViT layers)");
        assertEquals(0, pipeline.scaledVitLayer(0));
    }

    @Test
    void badArguments() {
        assertThrows(IllegalArgumentException.class, () -> pipeline.run(List.of(), List.of(), LvlmPipeline.Options.unpruned()));
        assertThrows(IllegalArgumentException.class,
                () -> pipeline.run(List.of(image(56, 56, 1)), List.of("a", "b"), LvlmPipeline.Options.unpruned()));
    }

    /** An empty instruction and a sequence past the model's context are refused before the ViT runs. */
    @Test
    void emptyAndOverlongInstructionsAreRefused() {
        List<BufferedImage> im = List.of(image(112, 56, 2));
        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class,
                () -> pipeline.run(im, List.of(""), LvlmPipeline.Options.of(ptp(0.5))));
        assertEquals("argument 'instructions[0]' must hold at least one token, got an empty instruction", empty.getMessage());
        int context = model.config().language().maxPositions();
        IllegalArgumentException longer = assertThrows(IllegalArgumentException.class,
                () -> pipeline.run(im, List.of("x".repeat(context)), LvlmPipeline.Options.unpruned()));
        assertTrue(longer.getMessage().startsWith("argument 'instructions[0]' must fit the model's context of " + context
                + " positions"), longer.getMessage());
        // The bound is exact: one token past the context is refused, and says so.
        int oneToken;
        try (Result r = pipeline.run(im, List.of("x"), LvlmPipeline.Options.unpruned())) {
            oneToken = r.sequences().get(0).length();
        }
        IllegalArgumentException justOver = assertThrows(IllegalArgumentException.class,
                () -> pipeline.run(im, List.of("x".repeat(context - oneToken + 2)), LvlmPipeline.Options.unpruned()));
        assertTrue(justOver.getMessage().contains("a sequence of " + (context + 1) + " tokens"), justOver.getMessage());
    }
}
