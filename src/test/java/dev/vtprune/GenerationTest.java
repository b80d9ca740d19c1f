package dev.vtprune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.pipeline.LvlmPipeline;
import dev.vtprune.pipeline.Result;
import dev.vtprune.prune.FastVPruner;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.ops.Backend;
import dev.vtprune.testing.Concurrency;
import dev.vtprune.testing.Images;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link LoadedModel#generate} on the tiny preset (random weights, byte tokenizer): greedy vs
 * temperature 0 vs a tiny top-p, seeded sampling, stop tokens and the length limit, the
 * listener against the returned tokens, the decode positions of each pruning form, the option
 * checks, and several threads against serial runs. (That the decoded logits equal a full
 * re-forward is LanguageModelDecodeTest's.)
 */
class GenerationTest {
    private static LoadedModel vlm;
    private static final BufferedImage IMAGE = Images.ovals(112, 56, 3);
    private static final String PROMPT = "where is the red ball";

    @BeforeAll
    static void load() {
        vlm = Vtprune.builder().preset("tiny").seed(4).method("ptp").ratio(0.5).load();
    }

    @AfterAll
    static void close() {
        vlm.close();
    }

    private static GenerationConfig.Builder cfg(int n) {
        return GenerationConfig.builder().maxNewTokens(n).stopAtEos(false);
    }

    @Test
    void temperatureZeroAndTinyTopPEqualGreedy() {
        long[] greedy = vlm.generate(IMAGE, PROMPT, cfg(6).build()).tokens();
        assertEquals(6, greedy.length);
        assertArrayEquals(greedy, vlm.generate(IMAGE, PROMPT, cfg(6).temperature(0).seed(99).build()).tokens(), "temperature 0");
        assertArrayEquals(greedy, vlm.generate(IMAGE, PROMPT, cfg(6).temperature(1).topP(1e-9).seed(5).build()).tokens(),
                "top-p 1e-9");
        // and greedy is the argmax of the prefill for the first token
        try (Result r = vlm.run(IMAGE, PROMPT)) {
            assertEquals(r.logits().select(0, 0).argmax().item_long(), greedy[0]);
        }
    }

    @Test
    void seededSamplingIsReproducible() {
        GenerationConfig a = cfg(8).temperature(1.5).topP(0.95).seed(11).build();
        long[] first = vlm.generate(IMAGE, PROMPT, a).tokens();
        assertArrayEquals(first, vlm.generate(IMAGE, PROMPT, a).tokens(), "same seed, same tokens");
        boolean differs = false;
        for (long seed = 12; seed < 16 && !differs; seed++) {
            differs = !Arrays.equals(first, vlm.generate(IMAGE, PROMPT, cfg(8).temperature(1.5).topP(0.95).seed(seed).build()).tokens());
        }
        assertTrue(differs, "other seeds should give other answers at temperature 1.5 on random weights");
    }

    @Test
    void stopTokensAndTheLengthLimitStop() {
        long[] free = vlm.generate(IMAGE, PROMPT, cfg(8).build()).tokens();
        int j = 1;  // the first token that did not come earlier: stopping at it keeps exactly the ones before it
        while (j < free.length && contains(Arrays.copyOf(free, j), free[j])) j++;
        assertTrue(j < free.length, "need a new token among " + Arrays.toString(free));
        Generation stopped = vlm.generate(IMAGE, PROMPT, cfg(8).stopTokens(free[j], 0).build());
        assertArrayEquals(Arrays.copyOf(free, j), stopped.tokens());
        assertEquals(Generation.Finish.STOP, stopped.finish());
        assertEquals(free[j], stopped.stopToken());
        assertEquals(j, stopped.decodeSteps(), "token j (the stop) came from decoder step j");

        Generation first = vlm.generate(IMAGE, PROMPT, cfg(8).stopTokens(free[0]).build());
        assertEquals(0, first.tokens().length, "a stop token first gives an empty answer");
        assertEquals("", first.text());
        assertEquals(0, first.decodeSteps());

        Generation three = vlm.generate(IMAGE, PROMPT, cfg(3).build());
        assertArrayEquals(Arrays.copyOf(free, 3), three.tokens());
        assertEquals(Generation.Finish.LENGTH, three.finish());
        assertEquals(-1, three.stopToken());
        assertEquals(2, three.decodeSteps());
        assertTrue(three.decodeTokensPerSecond() > 0 && three.ttftMs() > 0, three.toString());
        assertEquals(1, vlm.generate(IMAGE, PROMPT, cfg(1).build()).tokens().length);
    }

    /** The end-of-turn token of the template is a default stop: a config that bans it gets its own answer. */
    @Test
    void theTokenizersEndOfTurnStops() {
        long[] eos = vlm.stopTokens();
        assertEquals(1, eos.length);
        assertEquals(vlm.tokenizer().tokenId("<|im_end|>"), eos[0]);
        long[] free = vlm.generate(IMAGE, PROMPT, cfg(8).build()).tokens();
        // Make the first free token the "EOS" by passing it as a stop: the same rule the default uses.
        Generation withDefault = vlm.generate(IMAGE, PROMPT, GenerationConfig.builder().maxNewTokens(8).build());
        long[] expected = free;
        for (int i = 0; i < free.length; i++) {
            if (free[i] == eos[0]) {
                expected = Arrays.copyOf(free, i);
                break;
            }
        }
        assertArrayEquals(expected, withDefault.tokens());
    }

    @Test
    void theListenerSeesExactlyTheReturnedTokens() {
        for (GenerationConfig c : List.of(cfg(7).build(), cfg(7).temperature(1).seed(3).build())) {
            List<Long> ids = new ArrayList<>();
            List<Integer> indices = new ArrayList<>();
            StringBuilder text = new StringBuilder();
            Generation g = vlm.generate(IMAGE, PROMPT, c, (i, id, piece) -> {
                indices.add(i);
                ids.add(id);
                text.append(piece);
            });
            assertArrayEquals(g.tokens(), ids.stream().mapToLong(Long::longValue).toArray());
            for (int i = 0; i < indices.size(); i++) assertEquals(i, indices.get(i));
            assertEquals(Generator.spell(vlm.tokenizer(), g.tokens()), g.text());
            assertTrue(g.text().startsWith(text.toString()), "pieces " + text + " vs text " + g.text());
            assertTrue(g.text().substring(text.length()).chars().allMatch(ch -> ch == '\uFFFD'),
                    "only an incomplete last character may be held back: " + g.text());
        }
        RuntimeException boom = new RuntimeException("listener failed");
        assertEquals(boom, assertThrows(RuntimeException.class,
                () -> vlm.generate(IMAGE, PROMPT, cfg(4).build(), (i, id, p) -> { throw boom; })));
    }

    /**
     * Where decoding continues: unpruned at its cache length; PTP's paper form, PTP with the
     * reused probe and FastV (kept tokens at their original positions) at the unpruned length;
     * PTP's paper form with renumbered positions at its (shorter) cache length.
     */
    @Test
    void decodeContinuesAtTheRightPosition() {
        PyramidTokenPruner ptp = new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER.withRatio(0.5));
        try (Result full = vlm.run(List.of(IMAGE), List.of(PROMPT), LvlmPipeline.Options.unpruned());
             Result paper = vlm.run(List.of(IMAGE), List.of(PROMPT), LvlmPipeline.Options.of(ptp).withOriginalPositions(false));
             Result kept = vlm.run(List.of(IMAGE), List.of(PROMPT), LvlmPipeline.Options.of(ptp));
             Result reused = vlm.run(List.of(IMAGE), List.of(PROMPT), LvlmPipeline.Options.of(ptp).withReuseProbe(true));
             Result fastv = vlm.run(List.of(IMAGE), List.of(PROMPT), LvlmPipeline.Options.of(new FastVPruner(0.5, 1, Backend.NATIVE)))) {
            long unpruned = full.sequences().get(0).length();
            assertEquals(unpruned, vlm.generate(full, cfg(2).build(), TokenListener.NONE).firstPosition());
            assertTrue(paper.kvLengths()[0] < unpruned);
            assertEquals(paper.kvLengths()[0], vlm.generate(paper, cfg(2).build(), TokenListener.NONE).firstPosition());
            for (Result r : List.of(kept, reused, fastv)) {
                Generation g = vlm.generate(r, cfg(2).build(), TokenListener.NONE);
                assertEquals(unpruned, g.firstPosition());
                assertEquals(r.kvLengths()[0], g.kvLength());
                assertTrue(g.kvLength() < unpruned);
            }
            // the result stays usable after a generation from it
            assertEquals(2, vlm.generate(paper, cfg(2).build(), TokenListener.NONE).tokens().length);
        }
    }

    /**
     * IVTP with its LM stage: the pipeline's result keeps a cache whose early layers hold more
     * tokens than the late ones; generation decodes from it after the LM stage's input, and its
     * greedy tokens equal a second generation's (the cache was freed under the result once).
     */
    @Test
    void ivtpWithItsLmStageGenerates() {
        try (LoadedModel ivtp = Vtprune.builder().preset("tiny").seed(4).method("ivtp").keep(2).load();
             Result r = ivtp.run(IMAGE, PROMPT)) {
            assertTrue(r.lmStage() != null, "the LM stage ran");
            Generation a = ivtp.generate(r, cfg(4).build(), TokenListener.NONE);
            // Both stages keep the unpruned positions, so decoding continues after the unpruned sequence; layer 0
            // (before any LM pruning point's drop) caches the LM stage's whole input, the ViT stage's survivors.
            long lmInput = r.lmStage().positions()[0].length;
            assertEquals(r.sequences().get(0).length(), a.firstPosition(), "the unpruned length");
            assertTrue(lmInput < a.firstPosition(), "the ViT stage dropped tokens");
            assertTrue(a.kvLength() < lmInput, "the late layers cache fewer tokens");
            assertEquals(r.logits().select(0, 0).argmax().item_long(), a.tokens()[0]);
            assertArrayEquals(a.tokens(), ivtp.generate(IMAGE, PROMPT, cfg(4).build()).tokens());
        }
    }

    @Test
    void optionsAreCheckedWithTheirNames() {
        assertMessage(() -> GenerationConfig.builder().temperature(-0.5), "argument 'temperature' must be finite and >= 0", "got -0.5");
        assertMessage(() -> GenerationConfig.builder().temperature(Double.NaN), "argument 'temperature'");
        assertMessage(() -> GenerationConfig.builder().temperature(Double.POSITIVE_INFINITY), "argument 'temperature'");
        assertMessage(() -> GenerationConfig.builder().topP(0), "argument 'topP' must be in (0, 1], got 0.0");
        assertMessage(() -> GenerationConfig.builder().topP(1.5), "argument 'topP' must be in (0, 1], got 1.5");
        assertMessage(() -> GenerationConfig.builder().maxNewTokens(0), "argument 'maxNewTokens' must be >= 1, got 0");
        assertMessage(() -> GenerationConfig.builder().stopTokens(3, -1), "argument 'stopTokens' must hold token ids >= 0");
        assertMessage(() -> vlm.generate(IMAGE, PROMPT, cfg(2).stopTokens(300).build()),
                "argument 'stopTokens' must hold token ids below the vocabulary size 300");
        assertMessage(() -> vlm.generate(IMAGE, PROMPT, cfg(2048).build()), "argument 'maxNewTokens' must be <= ",
                "the model's context of 2048 positions", "got 2048");
        assertMessage(() -> vlm.generate(IMAGE, PROMPT, null), "argument 'config' must not be null");
        assertMessage(() -> vlm.generate(IMAGE, PROMPT, cfg(2).build(), null), "argument 'listener' must not be null");
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable call, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + e.getMessage() + "' lacks '" + f + "'");
    }

    private static boolean contains(long[] a, long v) {
        for (long x : a) if (x == v) return true;
        return false;
    }

    record Request(BufferedImage image, String prompt, boolean pruned, GenerationConfig config) {}

    /** 3 threads x mixed requests (pruned or not, greedy or sampled) give each its serial answer, twice over. */
    @Test
    void threadsGetTheSerialAnswers() throws Exception {
        List<Request> requests = new ArrayList<>();
        String[] prompts = {"what is this?", PROMPT, "count the circles"};
        for (int i = 0; i < 6; i++) {
            GenerationConfig c = i % 2 == 0 ? cfg(5).build() : cfg(5).temperature(1.2).topP(0.9).seed(i).build();
            requests.add(new Request(Images.ovals(56 * (1 + i % 2), 56, 40 + i), prompts[i % 3], i % 3 != 0, c));
        }
        Concurrency.assertSerialAnswers(requests, 3, 2, r -> {
            try (PointerScope scope = new PointerScope()) {
                Generation g = r.pruned ? vlm.generate(r.image, r.prompt, r.config)
                        : vlm.generateUnpruned(r.image, r.prompt, r.config, TokenListener.NONE);
                return new Concurrency.Answer(g.tokens(), new float[0]);
            }
        }, i -> "request " + i);
    }
}
