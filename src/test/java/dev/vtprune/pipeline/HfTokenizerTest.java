package dev.vtprune.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * tokenizer.json BPE on small hand-written tokenizers shaped like the real ones: Qwen2's
 * (byte-level with a regex Split and added chat tokens) and Llama's (Prepend + Replace
 * normalizer, byte fallback), with ids worked out by hand.
 */
class HfTokenizerTest {
    @TempDir
    Path dir;

    HfTokenizer write(String name, String json) throws Exception {
        Path f = dir.resolve(name);
        Files.writeString(f, json);
        return HfTokenizer.load(f);
    }

    // Byte-level: ' ' is 'Ġ' (U+0120). Vocab: single characters and the merged pieces.
    static final String QWEN_LIKE = """
            {"added_tokens": [{"id": 100, "content": "<|im_start|>"}, {"id": 101, "content": "<|im_end|>"}],
             "normalizer": {"type": "NFC"},
             "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": " ?\\\\p{L}+|\\\\s+"}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]},
             "model": {"type": "BPE", "byte_fallback": false,
               "vocab": {"h": 0, "e": 1, "l": 2, "o": 3, "Ġ": 4, "w": 5, "r": 6, "d": 7, "he": 8, "ll": 9, "hell": 10,
                         "hello": 11, "Ġw": 12, "or": 13, "Ġwor": 14, "ld": 15, "Ġworld": 16, "!": 17},
               "merges": ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]}}
            """;

    @Test
    void byteLevelBpeWithAddedTokens() throws Exception {
        HfTokenizer t = write("qwen.json", QWEN_LIKE);
        assertArrayEquals(new long[] {11, 16}, t.encode("hello world"));
        assertArrayEquals(new long[] {100, 11, 16, 17, 101}, t.encode("<|im_start|>hello world!<|im_end|>"));
        // "hold" -> h o l d: merges "l d" (rank 7) applies, nothing else: h, o, ld
        assertArrayEquals(new long[] {0, 3, 15}, t.encode("hold"));
        assertTrue(t.describe().contains("18 tokens, 9 merges"), t.describe());
    }

    static final String LLAMA_LIKE = """
            {"added_tokens": [{"id": 1, "content": "<s>"}],
             "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
             "pre_tokenizer": null,
             "model": {"type": "BPE", "byte_fallback": true, "fuse_unk": true, "unk_token": "<unk>",
               "vocab": {"<unk>": 0, "<s>": 1, "<0xC3>": 2, "<0xA9>": 3, "▁": 4, "h": 5, "i": 6, "▁h": 7, "▁hi": 8},
               "merges": [["▁", "h"], ["▁h", "i"]]}}
            """;

    @Test
    void sentencepieceStyleBpeWithByteFallback() throws Exception {
        HfTokenizer t = write("llama.json", LLAMA_LIKE);
        assertArrayEquals(new long[] {8}, t.encode("hi"));
        // "hi é" -> "▁hi▁é": ▁hi, ▁, then é is not in the vocabulary: its UTF-8 bytes C3 A9
        assertArrayEquals(new long[] {8, 4, 2, 3}, t.encode("hi é"));
        assertArrayEquals(new long[] {1, 8}, t.encode("<s>hi"));
    }

    @Test
    void metaspacePreTokenizer() throws Exception {
        String json = LLAMA_LIKE.replace("\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [\n"
                + "                {\"type\": \"Prepend\", \"prepend\": \"▁\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"▁\"}]},",
                "\"normalizer\": null,").replace("\"pre_tokenizer\": null",
                "\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"▁\", \"prepend_scheme\": \"always\", \"split\": true}");
        HfTokenizer t = write("meta.json", json);
        assertArrayEquals(new long[] {8, 8}, t.encode("hi hi"));
    }

    @Test
    void unsupportedComponentsAndBadFilesAreClearErrors() throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> write("wp.json", QWEN_LIKE.replace("\"type\": \"BPE\"", "\"type\": \"WordPiece\"")));
        assertTrue(e.getMessage().contains("model type 'WordPiece' is not supported"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> write("bad.json", "{not json"));
        assertTrue(e.getMessage().contains("is not a valid tokenizer.json"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(dir.resolve("none")));
        assertTrue(e.getMessage().contains("no tokenizer.json at"), e.getMessage());
        HfTokenizer t = write("nofallback.json", QWEN_LIKE);
        e = assertThrows(IllegalArgumentException.class, () -> t.encode("z"));
        assertTrue(e.getMessage().contains("'z' is not in the vocabulary"), e.getMessage());
    }

    @Test
    void gpt2ByteMapIsThePublishedOne() {
        assertEquals("Ġ", HfTokenizer.toByteLevel(" "));
        assertEquals("Ċ", HfTokenizer.toByteLevel("\n"));
        assertEquals("a", HfTokenizer.toByteLevel("a"));
        assertEquals("Ã©", HfTokenizer.toByteLevel("é"));  // bytes C3 A9
    }
}
