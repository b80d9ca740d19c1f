package dev.vtprune.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.internal.Tensors;
import dev.vtprune.prune.PseudoCls;
import dev.vtprune.testing.Approx;
import dev.vtprune.testing.Data;
import dev.vtprune.testing.PseudoClsOracle;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * IVTP eq. 7 through the real tokenizers: CLIP's BPE against the LM's (Llama BPE tokenizer.json,
 * and the sentencepiece model), on a prompt whose words split differently in the two
 * (multi-token words, punctuation runs, leading and double spaces, non-ASCII, byte-fallback
 * emoji), with random features; {@link PseudoCls} against the float64 oracle fed with
 * {@link Encoding#overlaps} (the covering CLIP tokens computed by other code).
 */
class PseudoClsAlignmentTest {
    static final String TEXT = "  Where's the unbelievably red ball?! It costs 12345€ — naïve café, 😀 ok ";
    static final int E = 8, D = 6;

    static Path dir;
    static HfTokenizer clip, llamaBpe;
    static SentencePieceTokenizer llamaSp;

    @BeforeAll
    static void setUp(@org.junit.jupiter.api.io.TempDir Path d) {
        dir = d;
        clip = HfTokenizer.load(TokenizerFiles.unpack(TokenizerFiles.CLIP, d, "clip.json"));
        llamaBpe = HfTokenizer.load(TokenizerFiles.unpack(TokenizerFiles.LLAMA_JSON, d, "llama.json"));
        Path sp = d.resolve("sp");
        TokenizerFiles.unpack(TokenizerFiles.LLAMA_MODEL, sp, "tokenizer.model");
        llamaSp = SentencePieceTokenizer.load(sp);
    }

    @AfterAll
    static void tearDown() {
        clip.close();
        llamaBpe.close();
        llamaSp.close();
    }

    private static Tokenizer lm(String which) {
        return which.equals("bpe") ? llamaBpe : llamaSp;
    }

    private static double[][] rows(Tensor t) {
        int n = (int) t.size(0), w = (int) t.size(1);
        double[] x = Tensors.toDoubles(t);
        return IntStream.range(0, n).mapToObj(i -> Arrays.copyOfRange(x, i * w, (i + 1) * w)).toArray(double[][]::new);
    }

    /** Runs both on `text` at tau; returns the LM encoding for further checks. */
    private static Encoding compare(Tokenizer lmTok, String text, long seed, double tau, Boolean expectFallback) {
        Encoding c = ClipText.encode(clip, text, ClipText.MAX_LENGTH), l = lmTok.encode(text, true);
        Tensor f = Data.randn(seed, "float32", c.size(), E), v = Data.randn(seed + 1, "float32", E);
        Tensor emb = Data.randn(seed + 2, "float32", l.size(), D), vl = Data.randn(seed + 3, "float32", D);
        PseudoClsOracle.Result want = PseudoClsOracle.compute(rows(f), Tensors.toDoubles(v), l.overlaps(c), rows(emb),
                Tensors.toDoubles(vl), tau);
        try (PseudoCls.Result got = PseudoCls.compute(f, v, c.start(), c.end(), l.start(), l.end(), emb, vl, tau)) {
            Approx.assertClose(want.clipRelevance(), got.clipRelevance(), 1e-6, 1e-6, "c_k");
            assertArrayEquals(want.relevance(), got.relevance(), 1e-6, "C_i");  // NaN-equal
            assertArrayEquals(want.selected(), got.selected(), "selected");
            Approx.assertClose(want.embedding(), Tensors.toDoubles(got.embedding()), 1e-6, 1e-6, "pseudo-CLS");
            if (expectFallback != null) assertEquals(expectFallback, got.fromVisualCls(), "fallback at tau " + tau);
            return l;
        }
    }

    /** Both branches of eq. 8: tau at the median relevance selects some; above the maximum, none. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"bpe", "sentencepiece"})
    void matchesTheOracleOnWordsThatSplitDifferently(String which) {
        Tokenizer t = lm(which);
        Encoding c = ClipText.encode(clip, TEXT, ClipText.MAX_LENGTH), l = t.encode(TEXT, true);
        Tensor f = Data.randn(40, "float32", c.size(), E), v = Data.randn(41, "float32", E);
        double[] rel;
        try (PseudoCls.Result r = PseudoCls.compute(f, v, c.start(), c.end(), l.start(), l.end(),
                Data.randn(42, "float32", l.size(), D), Data.randn(43, "float32", D), 0)) {
            rel = r.relevance();
        }
        double[] finite = Arrays.stream(rel).filter(x -> !Double.isNaN(x)).sorted().toArray();
        compare(t, TEXT, 40, finite[finite.length / 2], false);
        compare(t, TEXT, 40, finite[finite.length - 1] + 1e-3, true);
        compare(t, TEXT, 40, PseudoCls.PAPER_TAU, null);

        // What the spans mean: no relevance exactly where no CLIP token shares a char.
        int[][] cover = l.overlaps(c);
        for (int i = 0; i < l.size(); i++) {
            String piece = TEXT.substring(l.start()[i], l.end()[i]);
            assertEquals(piece.isBlank(), Double.isNaN(rel[i]), "LM token " + i + " '" + piece + "'");
            assertEquals(cover[i].length == 0, Double.isNaN(rel[i]), "LM token " + i);
        }
        if (which.equals("sentencepiece")) {  // its add_bos_token (this tokenizer.json adds none)
            assertTrue(Double.isNaN(rel[0]) && l.start()[0] == l.end()[0], "the BOS spans nothing: no relevance");
        }
        // A multi-token LM word: each piece lies inside one CLIP token or straddles several; at
        // least one LM piece of "unbelievably" takes a single CLIP token's value directly.
        int w0 = TEXT.indexOf("unbelievably");
        int[] pieces = l.tokensOverlapping(w0, w0 + "unbelievably".length());
        assertTrue(pieces.length >= 2, which + " splits the word");
        double[] ck;
        try (PseudoCls.Result r = PseudoCls.compute(f, v, c.start(), c.end(), l.start(), l.end(),
                Data.randn(42, "float32", l.size(), D), Data.randn(43, "float32", D), 0)) {
            ck = r.clipRelevance();
        }
        for (int i : pieces) {
            double mean = Arrays.stream(cover[i]).mapToDouble(k -> ck[k]).average().orElseThrow();
            assertEquals(mean, rel[i], 1e-9, "piece " + i);
            if (cover[i].length == 1) assertEquals(ck[cover[i][0]], rel[i], 0, "direct value");
        }
        // non-ASCII words and the emoji's byte-fallback pieces all have CLIP tokens
        for (String s : new String[] {"€", "naïve", "café", "😀"}) {
            int s0 = TEXT.indexOf(s);
            for (int i : l.tokensOverlapping(s0, s0 + s.length())) assertFalse(Double.isNaN(rel[i]), s + " piece " + i);
        }
    }

    /**
     * Past CLIP's 77 tokens: start token, the first 75, end token; LM tokens of the dropped text
     * have no relevance, the kept ones are unchanged.
     */
    @Test
    void textPastClipsContextHasNoRelevance() {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 40; i++) b.append("red ball, ");
        String text = b.toString();
        Encoding full = clip.encode(text, true), c = ClipText.encode(clip, text, ClipText.MAX_LENGTH);
        assertTrue(full.size() > 77, "long enough: " + full.size());
        assertEquals(77, c.size());
        assertArrayEquals(Arrays.copyOf(full.ids(), 76), Arrays.copyOf(c.ids(), 76));
        assertEquals(clip.tokenId("<|endoftext|>"), c.ids()[76]);
        assertEquals(c.start()[76], c.end()[76], "the end token spans nothing");
        Encoding l = compare(llamaBpe, text, 7, PseudoCls.PAPER_TAU, null);
        int lastChar = c.end()[75];
        try (PseudoCls.Result r = PseudoCls.compute(Data.randn(7, "float32", 77, E), Data.randn(8, "float32", E),
                c.start(), c.end(), l.start(), l.end(), Data.randn(9, "float32", l.size(), D), Data.randn(10, "float32", D),
                PseudoCls.PAPER_TAU)) {
            for (int i = 0; i < l.size(); i++) {
                if (l.start()[i] >= lastChar) assertTrue(Double.isNaN(r.relevance()[i]), "LM token " + i + " past CLIP's text");
            }
            assertTrue(Arrays.stream(r.relevance()).limit(20).anyMatch(x -> !Double.isNaN(x)));
        }
        assertEquals(clip.encode("red ball", true), ClipText.encode(clip, "red ball", ClipText.MAX_LENGTH), "short: as is");
    }
}
