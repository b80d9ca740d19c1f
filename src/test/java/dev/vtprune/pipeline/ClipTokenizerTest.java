package dev.vtprune.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CLIP's text tokenizer (LLaVA-1.5's CLIP ViT-L/14-336) through the same class, and how its
 * tokens line up with the LM's (Llama) by character spans — what IVTP's pseudo-CLS needs: for
 * each LM token, the CLIP tokens covering part of its text.
 */
class ClipTokenizerTest {
    @TempDir
    static Path dir;
    static HfTokenizer clip, lm;
    static JsonObject clipVocab;

    @BeforeAll
    static void setUp() throws Exception {
        Path f = TokenizerFiles.unpack(TokenizerFiles.CLIP, dir, "clip.json");
        clip = HfTokenizer.load(f);
        lm = HfTokenizer.load(TokenizerFiles.unpack(TokenizerFiles.LLAMA_JSON, dir, "llama.json"));
        clipVocab = TokenizerFiles.vocab(f);
    }

    @AfterAll
    static void tearDown() {
        clip.close();
        lm.close();
    }

    @Test
    void clipIdsAreItsVocabularys() {
        Encoding e = clip.encode("A photo of a CAT.", true);
        assertArrayEquals(new long[] {49406, v("a</w>"), v("photo</w>"), v("of</w>"), v("a</w>"), v("cat</w>"), v(".</w>"), 49407},
                e.ids());
        assertArrayEquals(new long[] {320, 1125, 539, 320, 2368}, Arrays.copyOfRange(e.ids(), 1, 6));  // published CLIP ids
        // lower-cased for the lookup, offsets still into the original text; start/end tokens span nothing
        assertEquals("CAT", "A photo of a CAT.".substring(e.start()[5], e.end()[5]));
        assertEquals(e.start()[0], e.end()[0]);
        assertEquals(49406, clip.tokenId("<|startoftext|>"));
        assertEquals(49407, clip.tokenId("<|endoftext|>"));
    }

    /** Words the two split differently: for each LM token, the CLIP tokens whose spans overlap it. */
    @Test
    void lmTokensMapToTheClipTokensOfTheirText() {
        String text = "  Where's the unbelievably red ball?! It costs 12345€ — naïve 😀 ";
        Encoding c = clip.encode(text, true), l = lm.encode(text, false);
        int[][] map = l.overlaps(c);
        for (int i = 0; i < l.size(); i++) {
            String lmText = text.substring(l.start()[i], l.end()[i]);
            for (int k : map[i]) {  // each mapped CLIP token shares at least one char with the LM token
                assertTrue(Math.max(c.start()[k], l.start()[i]) < Math.min(c.end()[k], l.end()[i]), i + " " + k);
            }
            // every CLIP token that shares a char is listed (overlap is symmetric)
            int listed = 0;
            for (int k = 0; k < c.size(); k++) {
                if (Math.max(c.start()[k], l.start()[i]) < Math.min(c.end()[k], l.end()[i])) listed++;
            }
            assertEquals(listed, map[i].length, "LM token " + i);
            // CLIP drops whitespace only: an LM token with other text has CLIP tokens
            if (!lmText.isBlank()) assertTrue(map[i].length > 0, "LM token " + i + " '" + lmText + "' has CLIP tokens");
        }
        // "unbelievably": several LM tokens, all mapped into the CLIP tokens of that word
        int w0 = text.indexOf("unbelievably"), w1 = w0 + "unbelievably".length();
        int[] lmWord = l.tokensOverlapping(w0, w1), clipWord = c.tokensOverlapping(w0, w1);
        assertTrue(lmWord.length >= 2, "Llama splits the word: " + Arrays.toString(lmWord));
        for (int i : lmWord) for (int k : map[i]) assertTrue(Arrays.stream(clipWord).anyMatch(x -> x == k));
        // "ball?!": the LM's "?!" and CLIP's punctuation token(s) overlap; nothing reaches "It"
        int q = text.indexOf("?!");
        int[] lmQ = l.tokensOverlapping(q, q + 2);
        for (int i : lmQ) for (int k : map[i]) assertTrue(c.end()[k] <= text.indexOf("It"), "CLIP " + k);
        // the emoji: 4 byte-fallback LM tokens, each mapped to the CLIP token(s) of the emoji
        int e0 = text.indexOf("😀");
        int[] lmE = l.tokensOverlapping(e0, e0 + 2);
        assertEquals(4, Arrays.stream(lmE).filter(i -> l.end()[i] - l.start()[i] == 2).count(), l.toString());
        for (int i : lmE) assertTrue(map[i].length > 0 && Arrays.stream(map[i]).allMatch(k -> c.start()[k] >= e0 - 1 && c.end()[k] <= e0 + 2));
    }

    @Test
    void tokensOverlappingOnAHandMadeEncoding() {
        Encoding e = new Encoding(new long[] {7, 8, 9, 10}, new int[] {0, 0, 3, 3}, new int[] {0, 3, 5, 5});
        assertArrayEquals(new int[] {1}, e.tokensOverlapping(0, 3));
        assertArrayEquals(new int[] {1, 2, 3}, e.tokensOverlapping(2, 4));
        assertArrayEquals(new int[] {}, e.tokensOverlapping(0, 0));  // empty ranges and empty spans never overlap
        assertArrayEquals(new int[] {}, e.tokensOverlapping(5, 9));
    }

    private static long v(String token) {
        assertTrue(clipVocab.has(token), token);
        return clipVocab.get(token).getAsLong();
    }
}
