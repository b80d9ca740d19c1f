package dev.vtprune.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * tokenizer.model through sentencepiece, laid out as InternVL2-2B ships it (tokenizer.model,
 * tokenizer_config.json with added_tokens_decoder, added_tokens.json), on the real Llama
 * vocabulary; the reference is the Hugging Face library on the same vocabulary's tokenizer.json
 * with the same added tokens.
 */
class SentencePieceTokenizerTest {
    @TempDir
    Path dir;

    /** A checkpoint directory with InternVL-like added tokens after Llama's 32,000 pieces. */
    Path checkpoint() throws Exception {
        Path d = dir.resolve("ckpt");
        TokenizerFiles.unpack(TokenizerFiles.LLAMA_MODEL, d, "tokenizer.model");
        Files.writeString(d.resolve("tokenizer_config.json"), """
                {"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>", "eos_token": "</s>",
                 "added_tokens_decoder": {
                   "32000": {"content": "<|im_start|>", "lstrip": false, "normalized": false, "rstrip": false, "special": true},
                   "32001": {"content": "<|im_end|>", "lstrip": false, "normalized": false, "rstrip": false, "special": true}}}
                """);
        Files.writeString(d.resolve("added_tokens.json"), "{\"<img>\": 32002, \"</img>\": 32003, \"<IMG_CONTEXT>\": 32004}");
        return d;
    }

    /** The same vocabulary and added tokens as a tokenizer.json, for the Hugging Face library. */
    Path referenceJson() {
        return TokenizerFiles.llamaJsonWithAddedTokens(dir.resolve("ref"), "<|im_start|>", "<|im_end|>", "<img>", "</img>",
                "<IMG_CONTEXT>");
    }

    @Test
    void matchesTheHuggingFaceLibraryWithAddedTokens() throws Exception {
        try (Tokenizer sp = Tokenizer.forCheckpoint(checkpoint()); HfTokenizer hf = HfTokenizer.load(referenceJson())) {
            assertInstanceOf(SentencePieceTokenizer.class, sp);
            String prompt = PromptTemplate.INTERNVL.text("Describe the image 😀 in detail,  please.") + "<IMG_CONTEXT><IMG_CONTEXT>";
            for (String text : HfTokenizerTest.TEXTS) assertArrayEquals(hf.encode(text), sp.encode(text), text);
            assertArrayEquals(hf.encode(prompt), sp.encode(prompt));
            assertEquals(32004, sp.tokenId("<IMG_CONTEXT>"));
            assertEquals(32001, sp.tokenId("<|im_end|>"));
            assertEquals(15043, sp.tokenId("▁Hello"));
            // 5 added tokens and the bos/eos/unk strings, which are split out too
            assertTrue(sp.describe().contains("sentencepiece") && sp.describe().contains("8 added tokens"), sp.describe());
            // add_bos_token: BOS (id 1, "<s>") first, spanning nothing
            Encoding e = sp.encode("hi", true);
            assertEquals(new Encoding(new long[] {1, 7251}, new int[] {0, 0}, new int[] {0, 2}), e);
            // each run between added tokens decodes as sentencepiece does: its dummy-prefix space dropped
            assertEquals("<s>hi<IMG_CONTEXT>😀", sp.decode(new long[] {1, 7251, 32004, 29871, 243, 162, 155, 131}));
        }
    }

    /** Spans cover the whole text, in order, and each token's text is its piece. */
    @Test
    void offsetsCoverTheText() throws Exception {
        try (Tokenizer sp = Tokenizer.forCheckpoint(checkpoint())) {
            for (String text : HfTokenizerTest.TEXTS) {
                String withAdded = "<|im_start|>" + text + "<IMG_CONTEXT>\n" + text;
                for (String t : new String[] {text, withAdded}) {
                    Encoding e = sp.encode(t, true);
                    boolean[] covered = new boolean[t.length()];
                    int lastEnd = 0;
                    for (int i = 0; i < e.size(); i++) {
                        assertTrue(e.start()[i] >= lastEnd - 2, "spans in order: " + e);  // byte pieces share one char
                        for (int c = e.start()[i]; c < e.end()[i]; c++) covered[c] = true;
                        lastEnd = Math.max(lastEnd, e.end()[i]);
                        if (e.end()[i] == e.start()[i]) continue;  // BOS, the dummy prefix
                        String piece = sp.decode(new long[] {e.ids()[i]});
                        String span = t.substring(e.start()[i], e.end()[i]);
                        if (!piece.contains("\uFFFD")) assertEquals(piece.strip(), span.strip(), "token " + i + " of " + e);
                    }
                    for (int c = 0; c < t.length(); c++) assertTrue(covered[c], "char " + c + " of '" + t + "' is covered: " + e);
                }
            }
        }
    }

    /** The alignment on what a normalizing model (nmt_nfkc) returns: NFKC forms, dropped whitespace. */
    @Test
    void alignmentFollowsNormalizedText() {
        // "ﬁne" NFKC-normalises to "fine"; the ligature's span is given to both pieces it feeds
        int[][] s = SentencePieceTokenizer.align("ﬁne", new String[] {"▁f", "ine"}, true);
        assertEquals("0..1 0..3", s[0][0] + ".." + s[0][1] + " " + s[1][0] + ".." + s[1][1]);
        // extra whitespace removed by the normalizer: "a   b " -> "▁a", "▁b"; the run of spaces goes
        // with the word after it, the trailing one with none
        s = SentencePieceTokenizer.align("a   b ", new String[] {"▁a", "▁b"}, true);
        assertEquals("0..1 1..5", s[0][0] + ".." + s[0][1] + " " + s[1][0] + ".." + s[1][1]);
        // full-width digits
        s = SentencePieceTokenizer.align("１２", new String[] {"▁1", "2"}, true);
        assertEquals("0..1 1..2", s[0][0] + ".." + s[0][1] + " " + s[1][0] + ".." + s[1][1]);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> SentencePieceTokenizer.align("abc", new String[] {"▁x"}, true));
        assertTrue(e.getMessage().contains("cannot align"), e.getMessage());
    }

    @Test
    void badInputIsAClearError() throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SentencePieceTokenizer.load(dir.resolve("none")));
        assertTrue(e.getMessage().contains("no tokenizer.model at"), e.getMessage());
        Path bad = dir.resolve("bad");
        Files.createDirectories(bad);
        Files.writeString(bad.resolve("tokenizer.model"), "not a model");
        e = assertThrows(IllegalArgumentException.class, () -> SentencePieceTokenizer.load(bad));
        assertTrue(e.getMessage().contains("is not a valid sentencepiece model"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.forCheckpoint(dir));
        assertTrue(e.getMessage().contains("has neither tokenizer.json nor tokenizer.model"), e.getMessage());
        try (Tokenizer sp = Tokenizer.forCheckpoint(checkpoint())) {
            e = assertThrows(IllegalArgumentException.class, () -> sp.tokenId("<no such token>"));
            assertTrue(e.getMessage().contains("is neither an added token nor a piece"), e.getMessage());
        }
    }
}
