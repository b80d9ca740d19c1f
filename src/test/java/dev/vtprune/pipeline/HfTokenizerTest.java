package dev.vtprune.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * tokenizer.json through the Hugging Face tokenizers library: small hand-written tokenizers whose
 * ids were worked out by hand (Qwen2-like byte-level BPE with added chat tokens, Llama-like
 * sentencepiece-style BPE with byte fallback), and the real Llama vocabulary, whose ids are
 * checked against its vocab entries (read here with Gson) and against the sentencepiece library
 * on the same vocabulary as a tokenizer.model.
 */
class HfTokenizerTest {
    @TempDir
    static Path dir;
    static HfTokenizer llama;
    static SentencePieceTokenizer llamaSp;
    static JsonObject llamaVocab;

    /** Multi-token words, punctuation, digits, emoji, other scripts, leading/trailing/inner whitespace. */
    static final List<String> TEXTS = List.of("Hello world", " Héllo, wörld! 😀 12345 tokenization  ", "unbelievably",
            "  leading and trailing  ", "東京は日本の首都です。", "a\tb\n\nc", "Where's the red ball? (It's 3.14m away) — naïve café 🎉🎉",
            "x", "");

    @BeforeAll
    static void setUp() throws Exception {
        Path json = TokenizerFiles.unpack(TokenizerFiles.LLAMA_JSON, dir.resolve("llama"), "tokenizer.json");
        llama = HfTokenizer.load(json);
        llamaSp = SentencePieceTokenizer.load(TokenizerFiles.unpack(TokenizerFiles.LLAMA_MODEL, dir.resolve("llama-sp"), "tokenizer.model"));
        llamaVocab = TokenizerFiles.vocab(json);
    }

    @AfterAll
    static void tearDown() {
        llama.close();
        llamaSp.close();
    }

    HfTokenizer write(String name, String json) throws Exception {
        Path f = dir.resolve(name);
        Files.writeString(f, json);
        return HfTokenizer.load(f);
    }

    // Byte-level: ' ' is 'Ġ' (U+0120). Vocab: single characters and the merged pieces; the added
    // tokens follow the vocabulary (the library renumbers added tokens that leave a gap).
    static final String QWEN_LIKE = """
            {"version": "1.0", "truncation": null, "padding": null,
             "added_tokens": [{"id": 18, "content": "<|im_start|>", "single_word": false, "lstrip": false, "rstrip": false,
                               "normalized": false, "special": true},
                              {"id": 19, "content": "<|im_end|>", "single_word": false, "lstrip": false, "rstrip": false,
                               "normalized": false, "special": true}],
             "normalizer": {"type": "NFC"},
             "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": " ?\\\\p{L}+|\\\\s+"}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]},
             "post_processor": null, "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
             "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
               "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
               "vocab": {"h": 0, "e": 1, "l": 2, "o": 3, "Ġ": 4, "w": 5, "r": 6, "d": 7, "he": 8, "ll": 9, "hell": 10,
                         "hello": 11, "Ġw": 12, "or": 13, "Ġwor": 14, "ld": 15, "Ġworld": 16, "!": 17},
               "merges": ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]}}
            """;

    @Test
    void byteLevelBpeWithAddedTokens() throws Exception {
        try (HfTokenizer t = write("qwen.json", QWEN_LIKE)) {
            assertEquals(new Encoding(new long[] {11, 16}, new int[] {0, 5}, new int[] {5, 11}), t.encode("hello world", true));
            assertEquals(new Encoding(new long[] {18, 11, 16, 17, 19}, new int[] {0, 12, 17, 23, 24}, new int[] {12, 17, 23, 24, 34}),
                    t.encode("<|im_start|>hello world!<|im_end|>", false));
            // "hold" -> h o l d: merges "l d" (rank 7) applies, nothing else: h, o, ld
            assertArrayEquals(new long[] {0, 3, 15}, t.encode("hold"));
            assertEquals(19, t.tokenId("<|im_end|>"));
            assertEquals("<|im_start|>hello world", t.decode(new long[] {18, 11, 16}));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.tokenId("hello world"));
            assertTrue(e.getMessage().contains("is not one token"), e.getMessage());
        }
    }

    static final String LLAMA_LIKE = """
            {"version": "1.0", "truncation": null, "padding": null,
             "added_tokens": [{"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false,
                               "normalized": false, "special": true}],
             "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
             "pre_tokenizer": null,
             "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}}],
                 "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
             "decoder": null,
             "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
               "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true,
               "vocab": {"<unk>": 0, "<s>": 1, "<0xC3>": 2, "<0xA9>": 3, "▁": 4, "h": 5, "i": 6, "▁h": 7, "▁hi": 8},
               "merges": [["▁", "h"], ["▁h", "i"]]}}
            """;

    @Test
    void sentencepieceStyleBpeWithByteFallback() throws Exception {
        try (HfTokenizer t = write("llama.json", LLAMA_LIKE)) {
            assertArrayEquals(new long[] {8}, t.encode("hi"));
            // "hi é" -> "▁hi▁é": ▁hi, ▁, then é is not in the vocabulary: its UTF-8 bytes C3 A9, both spanning é
            assertEquals(new Encoding(new long[] {1, 8, 4, 2, 3}, new int[] {0, 0, 2, 3, 3}, new int[] {0, 2, 3, 4, 4}),
                    t.encode("hi é", true));
            assertArrayEquals(new long[] {1, 8}, t.encode("<s>hi"));
        }
    }

    @Test
    void badFilesAreClearErrors() throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> write("wp.json", QWEN_LIKE.replace("\"type\": \"BPE\"", "\"type\": \"NoSuchModel\"")));
        assertTrue(e.getMessage().contains("is not a valid tokenizer.json"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> write("bad.json", "{not json"));
        assertTrue(e.getMessage().contains("is not a valid tokenizer.json"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(dir.resolve("none")));
        assertTrue(e.getMessage().contains("no tokenizer.json at"), e.getMessage());
    }

    /** Known ids, each tied to the vocabulary file's own entry. */
    @Test
    void realLlamaVocabularyIds() {
        assertArrayEquals(new long[] {vocab("▁Hello"), vocab("▁world")}, llama.encode("Hello world"));
        assertEquals(15043, vocab("▁Hello"));
        // a multi-token word and byte fallback: 😀 is F0 9F 98 80, the <0xXX> tokens
        assertArrayEquals(new long[] {vocab("▁token"), vocab("ization")}, llama.encode("tokenization"));
        assertArrayEquals(new long[] {vocab("▁"), vocab("<0xF0>"), vocab("<0x9F>"), vocab("<0x98>"), vocab("<0x80>")},
                llama.encode("😀"));
        assertArrayEquals(new long[] {vocab("▁"), vocab("1"), vocab("2"), vocab("3")}, llama.encode("123"));  // digits split
        assertArrayEquals(new long[] {vocab("▁▁"), vocab("▁a"), vocab("▁▁")}, llama.encode("  a  "));
        assertEquals(1, llama.tokenId("<s>"));
    }

    /** The Rust BPE on tokenizer.json and the C++ sentencepiece on tokenizer.model agree on every text. */
    @Test
    void llamaTokenizerJsonMatchesTheSentencepieceModel() {
        for (String text : TEXTS) {
            Encoding a = llama.encode(text, false), b = llamaSp.encode(text, false);
            assertArrayEquals(b.ids(), a.ids(), text);
            // Offsets: both point each token at its text (they differ only on the zero-width dummy prefix)
            for (int i = 0; i < a.size(); i++) {
                if (b.end()[i] > b.start()[i]) {
                    assertEquals(a.start()[i] + ".." + a.end()[i], b.start()[i] + ".." + b.end()[i], text + " token " + i);
                }
            }
            assertEquals(text, llama.decode(a.ids()), "decode");
        }
    }

    /** Offsets are Java chars: each non-byte token's text is the text's substring at its span. */
    @Test
    void offsetsAreJavaCharsIntoTheText() {
        String text = "😀 naïve 東京 ok";  // a surrogate pair first, so code point offsets would be off by one
        Encoding e = llama.encode(text, false);
        for (int i = 0; i < e.size(); i++) {
            String piece = llama.decode(new long[] {e.ids()[i]});
            if (e.end()[i] == e.start()[i]) continue;
            String span = text.substring(e.start()[i], e.end()[i]);
            if (piece.codePoints().allMatch(c -> c != 0xFFFD) && !piece.isBlank()) assertEquals(span.strip(), piece.strip(), "token " + i);
        }
        assertEquals(0, e.start()[1]);
        assertEquals(2, e.end()[1]);  // the first byte token of 😀 spans both of its chars
        assertEquals(text.length(), e.end()[e.size() - 1]);
    }

    private static long vocab(String token) {
        assertTrue(llamaVocab.has(token), token + " is in the vocabulary");
        return llamaVocab.get(token).getAsLong();
    }
}
